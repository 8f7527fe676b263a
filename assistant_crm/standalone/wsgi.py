"""The standalone WSGI app: Frappe's URL space and envelope, served by Werkzeug.

``/api/method/<dotted.path>`` calls any function registered with
:func:`assistant_crm.api.endpoint.endpoint` and answers ``{"message": ...}``;
errors come back with the right status and a body shaped like Frappe's
(``exc_type``, ``exception``, ``_server_messages``). ``/assets/assistant_crm/``
serves ``public/``, and pages come from ``www/``.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import os
import time
from pathlib import Path
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from assistant_crm.api.endpoint import (
    REGISTRY,
    ROLE_AGENT,
    ROLE_MANAGER,
    EndpointSpec,
    RawResponse,
    RequestInfo,
    check_arguments,
    is_https,
    load_all_endpoints,
    reset_current_request,
    set_current_request,
)
from assistant_crm.api.errors_shape import error_body, error_payload
from assistant_crm.services.delivery.attachments import files_root
from assistant_crm.services.infra import errors
from assistant_crm.services.infra.jsonbody import loads_body
from assistant_crm.services.infra.ports import Runtime, set_runtime
from assistant_crm.standalone import auth, staff_web

log = logging.getLogger("assistant_crm.http")
access_log = logging.getLogger("assistant_crm.access")

APP_DIR = Path(__file__).resolve().parent.parent
PUBLIC_DIR = APP_DIR / "public"
WWW_DIR = APP_DIR / "www"
HOME_PAGE = "wcfcb_demo"
WEBHOOK_PATH = "/api/method/assistant_crm.api.webhooks."
# Staff login and the staff console (standalone/staff_web.py).
STAFF_ROUTES = {
    "/api/method/login": staff_web.login,
    "/api/method/logout": staff_web.logout,
    "/login": staff_web.login_page,
    "/wcfcb_dashboard": staff_web.console_page,
}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, default=str),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


def app_error_response(e: errors.AppError) -> Response:
    return json_response(error_payload(e), status=e.http_status_code, headers=e.headers)


class StandaloneApp:
    """The WSGI application for one runtime."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        load_all_endpoints()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        # gunicorn workers and test servers may serve several runtimes' apps; make ours current.
        set_runtime(self.runtime)
        try:
            response = self.dispatch(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = json_response(error_body("Exception", "Internal server error"), status=500)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.status_code >= 400:
            log.info(
                "%s %s -> %s (%.1f ms)",
                request.method,
                request.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        return response(environ, start_response)

    # -- routing -----------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        path = request.path
        staff_route = STAFF_ROUTES.get(path.rstrip("/") or "/")
        if staff_route is not None:
            return staff_route(self.runtime, request)
        if path.startswith("/api/method/"):
            return self.api(request, path[len("/api/method/") :])
        if path.startswith("/api/"):
            return json_response(error_body("DoesNotExistError", f"Not found: {path}"), status=404)
        if path.startswith("/assets/assistant_crm/"):
            return self.static(PUBLIC_DIR, path[len("/assets/assistant_crm/") :], request)
        if path == "/sw.js":
            resp = self.static(PUBLIC_DIR / "pwa", "sw.js", request)
            resp.headers["Service-Worker-Allowed"] = "/"
            return resp
        if path.startswith("/files/"):
            return self.static(self.files_dir(), path[len("/files/") :], request)
        page = path.strip("/") or HOME_PAGE
        if "/" not in page and (WWW_DIR / f"{page}.html").is_file():
            return self.static(WWW_DIR, f"{page}.html", request)
        return Response("Not found", status=404, content_type="text/plain; charset=utf-8")

    def files_dir(self) -> Path:
        return files_root()

    def static(self, base: Path, rel: str, request: Request) -> Response:
        base = base.resolve()
        target = (base / rel).resolve()
        if base not in target.parents or not target.is_file():
            return Response("Not found", status=404, content_type="text/plain; charset=utf-8")
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".webmanifest":
            mime = "application/manifest+json"
        if mime.startswith("text/") or mime in ("application/javascript", "application/json"):
            mime += "; charset=utf-8"
        resp = Response(
            wrap_file(request.environ, target.open("rb")), content_type=mime, direct_passthrough=True
        )
        resp.content_length = target.stat().st_size
        resp.headers["Cache-Control"] = "no-cache"
        if base == self.files_dir():
            # Uploaded files are never rendered in our origin.
            resp.headers["Content-Disposition"] = (
                "inline"
                if mime.split(";")[0]
                in ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
                else "attachment"
            )
            resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return resp

    # -- API -----------------------------------------------------------------
    def api(self, request: Request, dotted: str) -> Response:
        if dotted == "ping":
            return json_response({"message": "pong"})
        spec = REGISTRY.get(dotted)
        if spec is None:
            log.info("unknown endpoint %s", dotted)
            return json_response(error_body("DoesNotExistError", f"Method {dotted} not found"), status=404)
        try:
            return self.call(request, spec)
        except errors.AppError as e:
            log.info("%s %s: %s %s", request.method, dotted, e.http_status_code, e.message)
            return app_error_response(e)

    def call(self, request: Request, spec: EndpointSpec) -> Response:
        if request.method not in spec.methods and not (request.method == "HEAD" and "GET" in spec.methods):
            raise errors.MethodNotAllowed(f"{request.method} is not allowed; use {' or '.join(spec.methods)}")
        if request.content_length is not None and request.content_length > spec.max_body_bytes:
            raise errors.PayloadTooLarge(f"request body is larger than {spec.max_body_bytes} bytes")
        request.max_content_length = spec.max_body_bytes
        request.max_form_memory_size = spec.max_body_bytes
        try:
            body = request.get_data(cache=True)
            form = request.form
            files = request.files
        except RequestEntityTooLarge:
            raise errors.PayloadTooLarge(f"request body is larger than {spec.max_body_bytes} bytes") from None
        if len(body) > spec.max_body_bytes:
            raise errors.PayloadTooLarge(f"request body is larger than {spec.max_body_bytes} bytes")
        user, roles = self.authenticate(request, strict=not spec.allow_guest)
        if not spec.allow_guest and user == "Guest":
            raise errors.AuthenticationError(
                "Not permitted: log in or send a staff API key (Authorization: token <key>)"
            )
        if spec.roles and not set(spec.roles) & set(roles):
            raise errors.PermissionDenied(f"Not permitted: needs role {' or '.join(spec.roles)}")
        info = RequestInfo(
            method=request.method,
            path=request.path,
            headers=request.headers,
            body=body,
            args=request.args,
            form=form,
            files=files,
            remote_addr=request.remote_addr or "",
            user=user,
            roles=tuple(roles),
            cookies=dict(request.cookies),
            secure=is_https(request.scheme, request.headers),
        )
        kwargs = {} if spec.raw_args else self.arguments(request, spec, body)
        token = set_current_request(info)
        try:
            result = spec.func(**kwargs)
        finally:
            reset_current_request(token)
        if isinstance(result, RawResponse):
            response = Response(
                result.body, status=result.status, headers=result.headers, content_type=result.content_type
            )
        elif isinstance(result, Response):
            response = result
        else:
            response = json_response({"message": result})
        for c in info.set_cookies:
            if c.value:
                response.set_cookie(
                    c.name,
                    c.value,
                    max_age=c.max_age,
                    path="/",
                    httponly=True,
                    samesite="Lax",
                    secure=info.secure,
                )
            else:
                response.delete_cookie(c.name, path="/", httponly=True, samesite="Lax", secure=info.secure)
        return response

    def arguments(self, request: Request, spec: EndpointSpec, body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = {k: v for k, v in request.args.items()}
        args.update({k: v for k, v in request.form.items()})
        ctype = (request.mimetype or "").lower()
        if body and ctype == "application/json":
            data = loads_body(body)
            if not isinstance(data, dict):
                raise errors.ValidationError("request body must be a JSON object")
            args.update(data)
        elif (
            body
            and not request.form
            and ctype not in ("multipart/form-data", "application/x-www-form-urlencoded")
        ):
            raise errors.ValidationError(
                f"unsupported request body ({ctype or 'no Content-Type'}); send application/json"
            )
        args.pop("cmd", None)
        check_arguments(spec.func, args)
        return args

    def authenticate(self, request: Request, strict: bool = True) -> tuple[str, list[str]]:
        """A staff login (the ``sid`` cookie, CSRF-checked on POST), a staff account's
        ``token key:secret``, or a configured API key (``staff_api_keys`` =
        ``key:agent,key2:manager``); everyone else is Guest."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token:
            return staff_web.cookie_user(self.runtime, request, strict=strict) or ("Guest", ["Guest"])
        key, sep, secret = token.strip().partition(":")
        if sep and scheme.lower() == "token":
            staff = auth.user_for_api_key(self.runtime.store, key, secret)
            if staff is not None:
                return staff.email, list(staff.roles)
        configured = self.runtime.settings.str("staff_api_keys")
        for entry in filter(None, (e.strip() for e in configured.split(","))):
            key, _, role = entry.partition(":")
            if key and hmac.compare_digest(key.encode(), token.strip().encode()):
                roles = ["Guest", ROLE_AGENT]
                if role.strip().lower() == "manager":
                    roles.append(ROLE_MANAGER)
                return f"staff-{role.strip().lower() or 'agent'}", roles
        if strict:
            raise errors.AuthenticationError("invalid API key")
        return "Guest", ["Guest"]


class AccessLogHandler(WSGIRequestHandler):
    """Werkzeug's request handler with an access log that never shows the query string:
    webhook URLs carry tokens there (``?token=``, ``hub.verify_token=``)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        status = getattr(code, "value", code)
        if path.startswith(WEBHOOK_PATH) and str(status).startswith("2"):
            return  # an accepted webhook's record is its Webhook Activity Log row
        access_log.info('%s "%s %s" %s %s', self.address_string(), self.command, path, status, size)


def create_app(runtime: Runtime) -> StandaloneApp:
    return StandaloneApp(runtime)


def create_app_from_env() -> StandaloneApp:
    """For gunicorn: ``gunicorn 'assistant_crm.standalone.wsgi:create_app_from_env()'``.

    Reads ``ASSISTANT_CRM_DATABASE_URL``, ``ASSISTANT_CRM_REDIS_URL`` and
    ``ASSISTANT_CRM_CONFIG`` (a JSON settings file)."""
    from assistant_crm.runtime.standalone import create_runtime

    rt = create_runtime(config_file=os.environ.get("ASSISTANT_CRM_CONFIG") or None, scheduler=True)
    return StandaloneApp(rt)
