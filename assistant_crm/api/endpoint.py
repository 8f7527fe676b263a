"""One decorator for every HTTP endpoint, in both runtimes.

Under Frappe, :func:`endpoint` applies ``frappe.whitelist`` (so the function is
reachable at ``/api/method/<dotted path>``) and maps the engine's errors to
HTTP statuses. In the standalone runtime it only registers the function; the
Werkzeug app in :mod:`assistant_crm.standalone.wsgi` routes the same paths.

Endpoints read the raw request (for signatures, headers, the caller's IP)
through :func:`current_request`, and may return a :class:`RawResponse` when
the answer is not Frappe's JSON envelope (a webhook challenge in plain text).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers, MultiDict

from assistant_crm.services.infra import errors

ROLE_AGENT = "Assistant CRM Agent"
ROLE_MANAGER = "Assistant CRM Manager"


@dataclass
class EndpointSpec:
    path: str  # dotted path, e.g. "assistant_crm.api.chat.send_message"
    func: Callable[..., Any]
    allow_guest: bool
    methods: tuple[str, ...]
    roles: tuple[str, ...]
    max_body_bytes: int
    raw_args: bool  # the function parses the body itself (webhooks)


@dataclass
class RequestInfo:
    """What an endpoint may know of the HTTP request, in either runtime."""

    method: str
    path: str
    headers: Headers
    body: bytes
    args: MultiDict
    form: MultiDict
    remote_addr: str
    files: MultiDict = field(default_factory=MultiDict)
    user: str = "Guest"
    roles: tuple[str, ...] = ()
    cookies: dict[str, str] = field(default_factory=dict)
    secure: bool = False  # came over HTTPS (directly or through a proxy that says so)
    # The server process answers nothing else while this request runs: a WSGI server
    # without threads (``wsgi.multithread`` false), such as gunicorn's default sync
    # workers, which bench's production config runs Frappe on. Nothing may wait there.
    serves_one_at_a_time: bool = False
    # Cookies the endpoint wants set ("" value: expire it); the runtime applies them.
    set_cookies: list[ResponseCookie] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def cookie(self, name: str) -> str:
        value = self.cookies.get(name) if self.cookies else None
        return value if isinstance(value, str) else ""


@dataclass
class ResponseCookie:
    """A cookie to set on the response: HttpOnly, SameSite=Lax, path /; Secure over HTTPS.
    An empty ``value`` expires it."""

    name: str
    value: str
    max_age: int | None = None


def set_response_cookie(name: str, value: str, max_age: int | None = None) -> None:
    """Ask the runtime to set (or with ``value=""`` expire) an HttpOnly cookie on this response."""
    current_request().set_cookies.append(ResponseCookie(name, value, max_age))


def is_https(scheme: str, headers: Headers) -> bool:
    forwarded = (headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    return scheme == "https" or forwarded == "https"


@dataclass
class RawResponse:
    """A response outside Frappe's ``{"message": ...}`` envelope."""

    body: bytes | str
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, EndpointSpec] = {}
_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "assistant_crm_request", default=None
)


def set_current_request(info: RequestInfo | None) -> contextvars.Token:
    return _current.set(info)


def reset_current_request(token: contextvars.Token) -> None:
    _current.reset(token)


def current_request() -> RequestInfo:
    info = _current.get()
    if info is not None:
        return info
    try:
        import frappe  # noqa: F401
    except ImportError:
        raise RuntimeError("current_request() called outside a request") from None
    from assistant_crm.runtime.frappe import request_info

    return request_info()


def _in_frappe() -> bool:
    try:
        import frappe
    except ImportError:
        return False
    return bool(getattr(frappe, "whitelist", None)) and getattr(frappe, "__name__", "") == "frappe"


def endpoint(
    *,
    allow_guest: bool = False,
    methods: tuple[str, ...] | list[str] = ("POST",),
    roles: tuple[str, ...] | list[str] = (),
    max_body_bytes: int = 1024 * 1024,
    raw_args: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Expose a function at ``/api/method/<module>.<function>``.

    ``allow_guest`` lets anonymous visitors call it; otherwise a staff API key
    (standalone) or a Frappe login is needed, with one of ``roles`` when given.
    ``raw_args``: the function takes no parameters from the request and reads
    :func:`current_request` itself (webhooks, whose body must stay raw for HMAC).
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        path = f"{func.__module__}.{func.__name__}"
        spec = EndpointSpec(
            path=path,
            func=func,
            allow_guest=allow_guest,
            methods=tuple(m.upper() for m in methods),
            roles=tuple(roles),
            max_body_bytes=max_body_bytes,
            raw_args=raw_args,
        )
        REGISTRY[path] = spec
        if not _in_frappe():
            return func
        from assistant_crm.runtime.frappe import wrap_endpoint

        return wrap_endpoint(func, spec)

    return decorate


def call_signature(func: Callable[..., Any]) -> tuple[set[str], set[str], bool]:
    """(all parameter names, required parameter names, accepts **kwargs)."""
    sig = inspect.signature(func)
    names: set[str] = set()
    required: set[str] = set()
    var_kw = False
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            var_kw = True
            continue
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(p.name)
            if p.default is inspect.Parameter.empty:
                required.add(p.name)
    return names, required, var_kw


def check_arguments(func: Callable[..., Any], args: dict[str, Any]) -> None:
    """400 naming the first missing or unknown parameter of ``func`` in ``args``
    (unknown ones are fine when ``func`` takes ``**kwargs``)."""
    names, required, var_kw = call_signature(func)
    missing = sorted(required - set(args))
    if missing:
        raise errors.ValidationError(f"missing parameter: {', '.join(missing)}", field=missing[0])
    unknown = sorted(set(args) - names)
    if unknown and not var_kw:
        raise errors.ValidationError(f"unknown parameter: {', '.join(unknown)}", field=unknown[0])


@functools.lru_cache(maxsize=1)
def load_all_endpoints() -> list[str]:
    """Import every API module so their decorators register."""
    import importlib
    import pkgutil

    import assistant_crm.api as api_pkg

    loaded = []
    for mod in pkgutil.iter_modules(api_pkg.__path__):
        if mod.name in ("endpoint",):
            continue
        importlib.import_module(f"assistant_crm.api.{mod.name}")
        loaded.append(mod.name)
    return loaded
