"""The Frappe runtime: fills the engine's ports with Frappe v15.

- store: the Frappe ORM (``frappe.get_doc(...).insert``, ``frappe.db``), rows as
  plain dicts with JSON fields decoded, exactly like the standalone store;
- cache: the site's Redis through raw ``frappe.cache`` calls, every key passed
  through ``frappe.cache.make_key`` because raw calls are not site-prefixed;
- queue: ``frappe.enqueue`` on the ``short`` queue, after the commit, through a
  trampoline so our kwargs never collide with ``enqueue``'s own parameters;
- settings: the Single DocType ``Assistant CRM Settings`` (Password fields
  decrypted with ``get_password``).

:func:`install` registers a runtime factory that builds one Runtime per site
(hooks call it ``before_request`` and ``before_job``). :func:`wrap_endpoint` is
what :func:`assistant_crm.api.endpoint.endpoint` applies under Frappe.

Writes mark ``frappe.local.flags.commit`` so GET endpoints keep what they
stored, as the standalone store (which autocommits) does.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import frappe

from assistant_crm.api.endpoint import (
    ROLE_AGENT,
    ROLE_MANAGER,
    EndpointSpec,
    RawResponse,
    RequestInfo,
    check_arguments,
    is_https,
    reset_current_request,
    set_current_request,
)
from assistant_crm.api.errors_shape import FRAPPE_EXC_NAMES, error_payload  # noqa: F401 (re-exported)
from assistant_crm.runtime import frappe_assignment
from assistant_crm.services.infra import errors
from assistant_crm.services.infra.ports import Row, Runtime, set_runtime_factory
from assistant_crm.services.infra.settings import SETTINGS_DOCTYPE, Settings, secret_fields, settings_fields
from assistant_crm.services.infra.versioned_cache import VersionedCache

log = logging.getLogger("assistant_crm.runtime.frappe")

STANDARD_COLUMNS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "is"}
# Request arguments Frappe itself adds; they are not the endpoint's parameters.
_FRAPPE_ARGS = {"cmd", "_"}


# -- helpers -------------------------------------------------------------------
def _mark_commit() -> None:
    """GET requests are rolled back by Frappe unless this flag is set."""
    local = getattr(frappe, "local", None)
    flags = getattr(local, "flags", None) if local is not None else None
    if flags is not None:
        flags.commit = True


def _message_count() -> int:
    return len(getattr(frappe.local, "message_log", None) or [])


def _drop_messages(keep: int) -> None:
    """Forget msgprints added since ``keep`` (they would ride on our response)."""
    log_list = getattr(frappe.local, "message_log", None)
    if log_list is not None and len(log_list) > keep:
        del log_list[keep:]


def _now() -> datetime:
    from frappe.utils import now_datetime

    return now_datetime()


_field_types_cache: dict[tuple[str, str], dict[str, str]] = {}


def _field_types(doctype: str) -> dict[str, str]:
    """fieldname -> fieldtype of ``doctype``, kept per site and process.

    ``frappe.get_meta`` is cached per request only: the first call of each
    request fetches and unpickles the whole Meta from Redis, about half a
    millisecond for Chat Session, for the field types alone. They can be kept
    for the life of the process: the engine writes only fields its own code
    knows, and new code (with the DocType JSON that goes with it) needs a
    restart of the workers anyway."""
    key = (getattr(frappe.local, "site", None) or "", doctype)
    types = _field_types_cache.get(key)
    if types is None:
        meta = frappe.get_meta(doctype)
        types = _field_types_cache[key] = {df.fieldname: df.fieldtype for df in meta.fields}
    return types


def _encode(doctype: str, values: Row) -> Row:
    types = _field_types(doctype)
    out: Row = {}
    for key, value in values.items():
        if key not in types and key not in STANDARD_COLUMNS:
            raise errors.ValidationError(f"{doctype} has no field {key!r}", field=key)
        if types.get(key) == "JSON" and value is not None and not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, default=str)
        out[key] = value
    return out


def _decode(doctype: str, row: Row | None) -> Row | None:
    if row is None:
        return None
    data = dict(row)
    for fieldname, fieldtype in _field_types(doctype).items():
        value = data.get(fieldname)
        if fieldtype == "JSON" and isinstance(value, str) and value:
            try:
                data[fieldname] = json.loads(value)
            except ValueError:
                pass
    return data


def _split_condition(cond: Any) -> tuple[str, Any]:
    """A store filter's ``value`` or ``(op, value)`` as (lower-case op, value)."""
    if isinstance(cond, tuple) and len(cond) == 2 and isinstance(cond[0], str) and cond[0].lower() in _OPS:
        return cond[0].lower(), cond[1]
    return "=", cond


def to_frappe_filters(filters: Row | None) -> dict[str, Any]:
    """The store port's filters (``value`` or ``(op, value)``) as Frappe filters."""
    out: dict[str, Any] = {}
    for key, cond in (filters or {}).items():
        op, value = _split_condition(cond)
        if op == "is":
            out[key] = ["is", "set" if value == "set" else "not set"]
        elif op == "=" and value is None:
            out[key] = ["is", "not set"]
        elif op in ("in", "not in"):
            out[key] = [op, list(value)]
        else:
            out[key] = [op, value] if op != "=" else value
    return out


def where_clause(doctype: str, filters: Row) -> tuple[str, dict[str, Any]]:
    """SQL WHERE for :meth:`FrappeStore.update_where` with named parameters.

    Column names are checked against the DocType so nothing from a caller
    reaches the SQL text except known identifiers."""
    types = _field_types(doctype)
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, (key, cond) in enumerate((filters or {}).items()):
        if key not in types and key not in STANDARD_COLUMNS:
            raise errors.ValidationError(f"{doctype} has no field {key!r}", field=key)
        op, value = _split_condition(cond)
        col = f"`{key}`"
        p = f"w{i}"
        if types.get(key) == "JSON" and isinstance(value, (dict, list)) and op not in ("in", "not in"):
            value = json.dumps(value)
        if op == "is" or (op == "=" and value is None):
            parts.append(f"{col} IS NOT NULL" if value == "set" else f"{col} IS NULL")
            continue
        if op == "!=" and value is None:
            parts.append(f"{col} IS NOT NULL")
            continue
        if op in ("in", "not in"):
            items = list(value)
            if not items:
                parts.append("1=0" if op == "in" else "1=1")
                continue
            params[p] = tuple(items)
            parts.append(f"{col} {op.upper()} %({p})s")
            continue
        params[p] = value
        if op == "!=":
            # Same as the standalone store: NULL counts as "different".
            parts.append(f"({col} != %({p})s OR {col} IS NULL)")
        else:
            parts.append(f"{col} {op.upper()} %({p})s")
    return (" AND ".join(parts) or "1=1"), params


# -- ports ---------------------------------------------------------------------
class FrappeStore:
    """Implements :class:`assistant_crm.services.infra.ports.Store` over the Frappe ORM."""

    def insert(self, doctype: str, values: Row) -> str:
        data = _encode(doctype, values)
        name = data.pop("name", None)
        creation = data.pop("creation", None)
        data.pop("modified", None)
        doc = frappe.get_doc({"doctype": doctype, **data})
        # Controllers that refuse edits from the desk (the audit log) accept the engine's insert.
        doc.flags.from_engine = True
        # The engine links only rows it has just read or written (its session, the
        # current user), and the standalone store checks no links either; Frappe's
        # check costs a query per Link field on every message.
        doc.flags.ignore_links = True
        if creation is not None:
            # Frappe stamps creation with "now" on insert; the engine may pin it (the
            # message's arrival, the audit chain hashes it). pin_creation (before_insert,
            # after that stamp) puts it back, so no second UPDATE is needed.
            doc.flags.pinned_creation = creation
        messages = _message_count()
        try:
            doc.insert(ignore_permissions=True, set_name=name or None)
        except (frappe.DuplicateEntryError, frappe.UniqueValidationError) as e:
            # Frappe msgprints "must be unique" before raising; the engine handles the
            # clash (a repeated webhook is a 200), so that message must not reach the client.
            _drop_messages(messages)
            raise errors.DuplicateError(f"{doctype} {name or ''} clashes with an existing row: {e}") from None
        except frappe.ValidationError as e:  # mandatory, link, select and controller checks
            _drop_messages(messages)
            raise errors.ValidationError(f"{doctype}: {e}") from None
        if creation is not None and doc.get("creation") != creation:
            # A DocType without the pin_creation hook: write it back unchanged.
            frappe.db.set_value(doctype, doc.name, "creation", creation, update_modified=False)
        _mark_commit()
        return str(doc.name)

    def get(self, doctype: str, name: str) -> Row | None:
        return _decode(doctype, frappe.db.get_value(doctype, name, "*", as_dict=True))

    def get_by(self, doctype: str, filters: Row, order_by: str | None = None) -> Row | None:
        rows = self.list(doctype, filters, order_by=order_by, limit=1)
        return rows[0] if rows else None

    def list(
        self,
        doctype: str,
        filters: Row | None = None,
        *,
        fields: Iterable[str] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Row]:
        rows = frappe.get_all(
            doctype,
            filters=to_frappe_filters(filters),
            fields=list(fields) if fields else ["*"],
            order_by=order_by or "creation desc, name desc",
            limit_start=int(offset or 0),
            limit_page_length=int(limit) if limit else 0,
        )
        return [_decode(doctype, r) for r in rows]

    def last_row_for_update(self, doctype: str, order_field: str, fields: list[str]) -> Row | None:
        """The row with the highest ``order_field``, for an append-only chain
        (the audit log), serialising writers until their transaction commits.

        Frappe keeps one transaction per request (MariaDB, REPEATABLE READ): a
        cache lock released before the commit would let a second writer read a
        stale head. So the DocType's own ``tabDocType`` row is locked ``FOR
        UPDATE`` first (a record lock held to commit or rollback, a mutex per
        DocType), then the head is read with a locking read, which sees the
        latest committed row. Taking the mutex first also avoids the gap-lock
        deadlock two bare ``... LIMIT 1 FOR UPDATE`` + INSERT writers run into."""
        types = _field_types(doctype)
        for f in [order_field, *fields]:
            if f not in types and f not in STANDARD_COLUMNS:
                raise errors.ValidationError(f"{doctype} has no field {f!r}", field=f)
        frappe.db.sql("SELECT `name` FROM `tabDocType` WHERE `name` = %s FOR UPDATE", (doctype,))
        cols = ", ".join(f"`{f}`" for f in fields)
        rows = frappe.db.sql(
            f"SELECT {cols} FROM `tab{doctype}` ORDER BY `{order_field}` DESC LIMIT 1 FOR UPDATE",
            as_dict=True,
        )
        return dict(rows[0]) if rows else None

    def count(self, doctype: str, filters: Row | None = None) -> int:
        return int(frappe.db.count(doctype, to_frappe_filters(filters)))

    def update(self, doctype: str, name: str, values: Row) -> None:
        data = _encode(doctype, values)
        data.pop("name", None)
        if not data:
            return
        update_modified = "modified" not in data
        frappe.db.set_value(doctype, name, data, update_modified=update_modified)
        _mark_commit()

    def update_where(self, doctype: str, filters: Row, values: Row) -> int:
        """Compare-and-set in one statement; returns the number of rows changed."""
        data = _encode(doctype, values)
        data.pop("name", None)
        if not data:
            return 0
        data.setdefault("modified", _now())
        where, params = where_clause(doctype, filters)
        sets = []
        for i, (key, value) in enumerate(data.items()):
            params[f"s{i}"] = value
            sets.append(f"`{key}` = %(s{i})s")
        frappe.db.sql(f"UPDATE `tab{doctype}` SET {', '.join(sets)} WHERE {where}", params)
        _mark_commit()
        return int(frappe.db._cursor.rowcount or 0)

    def delete(self, doctype: str, name: str) -> None:
        # Raw delete like the standalone store: no controller runs (the engine
        # never deletes audit rows; the desk goes through on_trash).
        frappe.db.delete(doctype, {"name": name})
        _mark_commit()

    def get_single(self, doctype: str) -> Row:
        doc = frappe.get_single(doctype)
        out: Row = {}
        for df in doc.meta.fields:
            if df.fieldtype == "Password":
                value = doc.get_password(df.fieldname, raise_exception=False)
            else:
                value = doc.get(df.fieldname)
            if value is not None:
                out[df.fieldname] = value
        return out

    def set_single(self, doctype: str, values: Row) -> None:
        doc = frappe.get_single(doctype)
        doc.update(values)
        doc.flags.from_engine = True
        doc.save(ignore_permissions=True)
        _mark_commit()

    def commit(self) -> None:
        frappe.db.commit()

    def new_snapshot(self) -> None:
        """Let the next read see what other transactions committed since this one began.

        A Frappe request is one transaction at MariaDB's REPEATABLE READ: every
        plain SELECT sees the snapshot taken by the first, so a long-poll that
        re-reads in a loop would never see the agent's reply. Committing ends it
        (what this request wrote so far is committed, as it would be at its end)."""
        frappe.db.commit()

    def after_commit(self, fn: Callable[[], Any], key: Any = None) -> None:
        """Call ``fn`` once the request's (or job's) transaction commits, never if it
        rolls back, as the standalone store does; callbacks with the same ``key`` run
        once per transaction (a turn stores two messages: one console notification)."""
        callbacks = frappe.db.after_commit
        if key is not None:
            # Frappe's CallbackManager keeps its queue in _functions (a deque).
            if any(getattr(f, "_acrm_key", None) == key for f in getattr(callbacks, "_functions", ())):
                return
            fn = functools.partial(fn)
            fn._acrm_key = key  # type: ignore[attr-defined]
        callbacks.add(fn)


def pin_creation(doc: Any, method: str | None = None) -> None:
    """``before_insert`` (hooks ``doc_events``): the creation time the engine pinned
    (:meth:`FrappeStore.insert`), restored after Frappe stamped its own."""
    pinned = doc.flags.get("pinned_creation")
    if pinned is not None:
        doc.creation = pinned


class FrappeCache:
    """Implements :class:`assistant_crm.services.infra.ports.Cache` over the site Redis.

    Values are JSON (like the standalone caches); every key goes through
    ``make_key`` so two sites on one Redis never share a key."""

    def _key(self, key: str) -> bytes:
        return frappe.cache.make_key(f"assistant_crm:{key}")

    def get(self, key: str) -> Any | None:
        raw = frappe.cache.get(self._key(key))
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        frappe.cache.set(self._key(key), json.dumps(value, default=str), ex=int(ttl) if ttl else None)

    def delete(self, key: str) -> None:
        frappe.cache.delete(self._key(key))

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        k = self._key(key)
        if ttl:
            # Create with the TTL first (no-op when the counter exists), then add.
            frappe.cache.set(k, 0, ex=int(ttl), nx=True)
        return int(frappe.cache.incrby(k, int(amount)))

    def add(self, key: str, value: Any, ttl: int | None = None) -> bool:
        return bool(
            frappe.cache.set(
                self._key(key), json.dumps(value, default=str), ex=int(ttl) if ttl else None, nx=True
            )
        )


class FrappeQueue:
    """Implements :class:`assistant_crm.services.infra.ports.Queue` with ``frappe.enqueue``."""

    queue = "short"

    def enqueue(self, method: str, **kwargs: Any) -> None:
        frappe.enqueue(
            "assistant_crm.runtime.frappe.run_job",
            queue=self.queue,
            # The job reads rows this transaction writes: start it after the commit.
            enqueue_after_commit=True,
            job_method=method,
            job_kwargs=kwargs,
        )


def run_job(job_method: str, job_kwargs: dict[str, Any] | None = None) -> Any:
    """The worker side of :class:`FrappeQueue` (a trampoline: our kwargs may be
    called ``event`` or ``timeout``, which ``frappe.enqueue`` would take)."""
    install()
    return frappe.get_attr(job_method)(**(job_kwargs or {}))


class FrappeClock:
    """The site's wall clock, naive, as Frappe stores ``creation``/``modified``:
    the engine compares its own timestamps with those columns."""

    def now(self) -> datetime:
        return _now()

    @property
    def timezone(self) -> str:
        """The site's time zone (System Settings), the zone of every naive time Frappe stores."""
        from frappe.utils import get_system_timezone

        return get_system_timezone()


class FrappeSettingsSource:
    """Reads the Single DocType; Password fields come back decrypted.

    The values are read once per site and process (one ``get_single``, the
    passwords decrypted once) and kept until the settings are saved: a turn
    reads 20-30 settings, and each used to be a query
    (``get_single_value`` caches per request only) or, for a Password, a
    query and a decrypt. Saving the settings stamps a new version in the
    site cache after the commit (:meth:`invalidate`); every process checks
    the stamp at most every 2 seconds and reads the settings again.
    """

    VERSION_KEY = "settings:version"

    def __init__(self) -> None:
        self._values: VersionedCache[dict[str, Any]] = VersionedCache(
            lambda _store: self._read(), version_key=self.VERSION_KEY, version_check=2.0, per_store=False
        )

    @staticmethod
    def _read() -> dict[str, Any]:
        doc = frappe.get_single(SETTINGS_DOCTYPE)
        secrets = secret_fields()
        values: dict[str, Any] = {}
        for fieldname in settings_fields():
            if fieldname in secrets:
                value = doc.get_password(fieldname, raise_exception=False)
            else:
                value = doc.get(fieldname)
            if value not in (None, ""):
                values[fieldname] = value
        return values

    def get(self, fieldname: str) -> Any | None:
        return self._values.get().get(fieldname)

    def invalidate(self) -> None:
        """Read the settings again, everywhere, once this transaction commits
        (before it, another process would cache the old values under the new stamp)."""
        callbacks = getattr(getattr(frappe, "db", None), "after_commit", None)
        if callbacks is not None:
            callbacks.add(self._values.invalidate)
        else:
            self._values.invalidate()


# -- runtime per site -----------------------------------------------------------
_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def publish_realtime(event: str, payload: Any, task_id: str | None = None) -> None:
    """Socket.IO to one web visitor (``task_id`` = the visitor's unguessable token) or to desk users.

    Never ``user="Guest"``: every guest socket joins the same rooms."""
    frappe.publish_realtime(event, payload, task_id=task_id, after_commit=True)


def encrypt_value(text: str) -> str:
    """Frappe's own encryption (Fernet under the site's ``encryption_key``), for the crypto port."""
    from frappe.utils.password import encrypt

    return encrypt(text)


def decrypt_value(token: str) -> str:
    """The inverse of :func:`encrypt_value`; Frappe throws when the site key changed."""
    from frappe.utils.password import decrypt

    return decrypt(token)


def build_runtime() -> Runtime:
    source = FrappeSettingsSource()
    rt = Runtime(
        store=FrappeStore(),
        cache=FrappeCache(),
        queue=FrappeQueue(),
        settings=Settings(source),
        clock=FrappeClock(),
        name="frappe",
    )
    rt.extras["publish_realtime"] = publish_realtime
    # Personal data at rest under the site's encryption key (services/infra/crypto.py).
    rt.extras["encrypt"] = encrypt_value
    rt.extras["decrypt"] = decrypt_value
    # The settings controller's on_update calls these (after an audit entry).
    rt.extras.setdefault("on_settings_change", []).append(source.invalidate)
    # Hand-off assignment through Assignment Rules and ToDos (services/dialogue/assignment.py).
    rt.extras["assign_conversation"] = frappe_assignment.assign_conversation
    rt.extras["assignment_finished"] = frappe_assignment.assignment_finished
    # Uploads go where Frappe serves /files/ from: the current site's public/files.
    rt.extras["files_dir"] = lambda: frappe.get_site_path("public", "files")
    return rt


def current_runtime() -> Runtime:
    """The Runtime of the current site (built on first use)."""
    site = getattr(frappe.local, "site", None) or ""
    rt = _runtimes.get(site)
    if rt is None:
        with _runtimes_lock:
            rt = _runtimes.get(site)
            if rt is None:
                rt = _runtimes[site] = build_runtime()
    return rt


def install(*args: Any, **kwargs: Any) -> None:
    """Make ``get_runtime()`` answer the current site's runtime. Idempotent and
    cheap: hooks call it before every request and job (``before_job`` passes
    ``method``/``kwargs``, which are ignored)."""
    set_runtime_factory(current_runtime)


def call_engine(dotted: str, *args: Any, **kwargs: Any) -> Any:
    """Call an engine function from a DocType controller (cache invalidation,
    audit). Controllers also run outside requests (``bench migrate``, fixture
    sync), so the runtime is installed first. A failure is logged, never raised:
    a stale cache expires by itself and must not block saving the document."""
    install()
    try:
        return frappe.get_attr(dotted)(*args, **kwargs)
    except Exception:
        log.warning("engine call %s failed", dotted, exc_info=True)
        return None


# -- HTTP ------------------------------------------------------------------------
def request_info() -> RequestInfo:
    """The current Frappe request as the engine's :class:`RequestInfo`."""
    req = frappe.request
    user = getattr(getattr(frappe, "session", None), "user", None) or "Guest"
    return RequestInfo(
        method=req.method,
        path=req.path,
        headers=req.headers,
        body=req.get_data(cache=True),
        args=req.args,
        form=req.form,
        files=req.files,
        remote_addr=getattr(frappe.local, "request_ip", None) or req.remote_addr or "",
        user=user,
        roles=tuple(frappe.get_roles()),
        cookies=dict(getattr(req, "cookies", None) or {}),
        secure=is_https(getattr(req, "scheme", "http"), req.headers),
        serves_one_at_a_time=not (getattr(req, "environ", None) or {}).get("wsgi.multithread", False),
    )


def apply_cookies(info: RequestInfo) -> None:
    """Set what the endpoint asked for through Frappe's cookie manager, which
    ``frappe.app`` flushes onto whatever response goes out (ours included)."""
    manager = getattr(frappe.local, "cookie_manager", None)
    if manager is None or not info.set_cookies:
        return
    for c in info.set_cookies:
        if c.value:
            manager.set_cookie(
                c.name, c.value, max_age=c.max_age, secure=info.secure, httponly=True, samesite="Lax"
            )
        else:
            manager.delete_cookie(c.name)


def roles_allow(required: Iterable[str], user: str, roles: Iterable[str]) -> bool:
    """Managers may do what agents do; Administrator and System Manager may do both."""
    required = set(required)
    if not required or user == "Administrator":
        return True
    effective = set(roles)
    if ROLE_MANAGER in effective or "System Manager" in effective:
        effective |= {ROLE_AGENT, ROLE_MANAGER}
    return bool(required & effective)


def error_response(exc: errors.AppError) -> Any:
    """A Werkzeug response for an engine error: its status, its headers
    (``Retry-After``), Frappe's error body.

    Returned rather than raised on purpose: Frappe rolls a request back when an
    exception escapes, and what the engine recorded before refusing (webhook
    log, audit entry, attempt counters) must stay, as it does standalone."""
    from werkzeug.wrappers import Response

    frappe.local.response.http_status_code = exc.http_status_code
    return Response(
        json.dumps(error_payload(exc), ensure_ascii=False),
        status=exc.http_status_code,
        headers=dict(exc.headers),
        content_type="application/json; charset=utf-8",
    )


def raw_response(result: RawResponse) -> Any:
    from werkzeug.wrappers import Response

    return Response(
        result.body, status=result.status, headers=dict(result.headers), content_type=result.content_type
    )


def bind_arguments(spec: EndpointSpec, form: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's keyword arguments from Frappe's ``form_dict``; a missing or
    unknown parameter is a 400 naming it (Frappe alone would drop unknown ones
    silently and turn a missing one into a 500)."""
    if spec.raw_args:
        return {}
    args = {k: v for k, v in form.items() if k not in _FRAPPE_ARGS}
    check_arguments(spec.func, args)
    return args


def _dispatch(spec: EndpointSpec, form: dict[str, Any]) -> Any:
    try:
        info = request_info()
        if spec.roles and not roles_allow(spec.roles, info.user, info.roles):
            raise errors.PermissionDenied(f"Not permitted: needs role {' or '.join(spec.roles)}")
        if len(info.body) > spec.max_body_bytes:
            raise errors.PayloadTooLarge(f"request body is larger than {spec.max_body_bytes} bytes")
        kwargs = bind_arguments(spec, form)
        token = set_current_request(info)
        try:
            result = spec.func(**kwargs)
        finally:
            reset_current_request(token)
    except errors.AppError as e:
        log.info("%s: %s %s", spec.path, e.http_status_code, e.message)
        return error_response(e)
    apply_cookies(info)
    if isinstance(result, RawResponse):
        return raw_response(result)
    return result


def wrap_endpoint(func: Callable[..., Any], spec: EndpointSpec) -> Callable[..., Any]:
    """Whitelist ``func`` for ``/api/method/<spec.path>``.

    ``xss_safe``: we store and echo text ourselves and never render it as HTML,
    so Frappe must not HTML-escape guest arguments (a message with ``<`` would
    be altered before it reaches the engine)."""

    def handler(**form: Any) -> Any:
        return _dispatch(spec, form)

    # Frappe's get_newargs passes everything when the handler takes **kwargs, so
    # the handler must NOT carry __wrapped__ (inspect.signature would follow it).
    handler.__name__ = func.__name__
    handler.__qualname__ = func.__qualname__
    handler.__module__ = func.__module__
    handler.__doc__ = func.__doc__
    # No annotations: Frappe's argument type validation has nothing to check on **form.
    handler.__annotations__ = {}
    handler.assistant_crm_spec = spec  # type: ignore[attr-defined]
    return frappe.whitelist(allow_guest=spec.allow_guest, methods=list(spec.methods), xss_safe=True)(handler)
