"""The staff side of the standalone web server: login, logout, the login page and
the console page, answering as Frappe v15 does.

- ``POST /api/method/login`` with ``usr`` and ``pwd`` (JSON or form): 200
  ``{"message": "Logged In"}`` and a ``sid`` cookie (HttpOnly, SameSite=Lax,
  Secure when the request came over HTTPS, directly or through a proxy that
  says so in ``X-Forwarded-Proto``); 401 on a wrong password; 429 when rate limited.
- ``/api/method/logout`` ends the session and clears the cookie.
- ``/login``: the login form. ``/wcfcb_dashboard``: the staff console for a
  logged-in agent or manager; a guest is sent to ``/login``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER
from assistant_crm.api.errors_shape import error_payload
from assistant_crm.services.infra import errors
from assistant_crm.services.infra.jsonbody import loads_body
from assistant_crm.services.infra.ports import Runtime
from assistant_crm.standalone import auth

log = logging.getLogger("assistant_crm.staff_web")

APP_DIR = Path(__file__).resolve().parent.parent
CONSOLE_PAGE = APP_DIR / "www" / "wcfcb_dashboard.html"
LOGIN_PAGE = Path(__file__).resolve().parent / "pages" / "login.html"
COOKIE = "sid"
CSRF_MARKER = "<!-- csrf_token -->"  # Frappe's TemplatePage replaces the same marker
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _json(payload: object, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, default=str),
        status=status,
        content_type="application/json; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def is_https(request: Request) -> bool:
    forwarded = (request.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    return request.scheme == "https" or forwarded == "https"


def client_ip(request: Request) -> str:
    return request.remote_addr or ""


def cookie_session(rt: Runtime, request: Request) -> auth.StaffSession | None:
    return auth.session_for(rt, request.cookies.get(COOKIE))


def cookie_user(rt: Runtime, request: Request, *, strict: bool) -> tuple[str, list[str]] | None:
    """(user, roles) of the ``sid`` cookie, or None.

    A cookie-authenticated POST must carry the session's CSRF token in
    ``X-Frappe-CSRF-Token``: without it a staff endpoint answers 400
    (``strict``), and a guest endpoint treats the caller as a guest.
    """
    session = cookie_session(rt, request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not auth.csrf_ok(
        session, request.headers.get(auth.CSRF_HEADER)
    ):
        if strict:
            log.warning("CSRF token missing or wrong on %s %s", request.method, request.path)
            raise auth.CSRFTokenError("Invalid Request: the CSRF token is missing or wrong; reload the page")
        return None
    return session.user.email, list(session.user.roles)


def login(rt: Runtime, request: Request) -> Response:
    if request.method != "POST":
        return _json(error_payload(errors.MethodNotAllowed("use POST to log in")), 405)
    try:
        args = dict(request.form.items())
        if request.mimetype == "application/json" and request.get_data():
            data = loads_body(request.get_data())
            if not isinstance(data, dict):
                raise errors.ValidationError("request body must be a JSON object")
            args.update(data)
        usr, pwd = args.get("usr"), args.get("pwd")
        if not isinstance(usr, str) or not usr.strip() or not isinstance(pwd, str) or not pwd:
            raise errors.ValidationError("usr and pwd are required")
        user = auth.check_password(rt, usr, pwd, client_ip(request))
        sid, _session = auth.open_session(rt, user, client_ip(request))
    except errors.AppError as e:
        resp = _json(error_payload(e), e.http_status_code)
        resp.headers.update(e.headers)
        return resp
    resp = _json({"message": "Logged In", "home_page": "/wcfcb_dashboard", "full_name": user.full_name})
    resp.set_cookie(
        COOKIE,
        sid,
        max_age=auth.SESSION_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
    )
    return resp


def logout(rt: Runtime, request: Request) -> Response:
    session = cookie_session(rt, request)
    if (
        session is not None
        and request.method not in SAFE_METHODS
        and not auth.csrf_ok(session, request.headers.get(auth.CSRF_HEADER))
    ):
        e = auth.CSRFTokenError("Invalid Request: the CSRF token is missing or wrong")
        return _json(error_payload(e), e.http_status_code)
    auth.close_session(rt, request.cookies.get(COOKIE))
    resp = _json({"message": "Logged Out"})
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax", secure=is_https(request))
    return resp


def _page(path: Path, replace: dict[str, str] | None = None, status: int = 200) -> Response:
    html = path.read_text(encoding="utf-8")
    for marker, value in (replace or {}).items():
        html = html.replace(marker, value)
    return Response(
        html,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN"},
    )


def login_page(rt: Runtime, request: Request) -> Response:
    return _page(LOGIN_PAGE)


def console_page(rt: Runtime, request: Request) -> Response:
    """The staff console; a guest is redirected to the login page, never shown data."""
    session = cookie_session(rt, request)
    if session is None:
        target = "/login?redirect-to=" + quote(request.path)
        return Response("", status=302, headers={"Location": target, "Cache-Control": "no-store"})
    if not {ROLE_AGENT, ROLE_MANAGER} & set(session.user.roles):
        return Response("Not permitted", status=403, content_type="text/plain; charset=utf-8")
    token = json.dumps(session.csrf_token)
    return _page(CONSOLE_PAGE, {CSRF_MARKER: f"<script>frappe.csrf_token = {token};</script>"})
