"""Staff accounts and login for the standalone runtime, the way Frappe does it.

Under Frappe, staff are Frappe users with the roles "Assistant CRM Agent" or
"Assistant CRM Manager" and Frappe handles login. Standalone, staff live in
the ``Assistant CRM Staff`` table (passwords hashed with Argon2id through
argon2-cffi), ``POST /api/method/login`` with ``usr``/``pwd`` opens a session
and sets the ``sid`` cookie, and every cookie-authenticated POST must carry the
session's CSRF token in ``X-Frappe-CSRF-Token`` (Frappe's header name).

Sessions are rows of ``Assistant CRM Staff Session`` named by a SHA-256 of the
sid, so a copy of the database does not hand out live cookies; they survive a
restart of the server, as Frappe's do.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER
from assistant_crm.services.infra import errors
from assistant_crm.services.infra.ports import Runtime, Store

log = logging.getLogger("assistant_crm.auth")

STAFF = "Assistant CRM Staff"
SESSION = "Assistant CRM Staff Session"
STAFF_ROLES = ("agent", "manager")
SESSION_HOURS = 12
MIN_PASSWORD = 8
# Failed logins per user before a pause, and the pause (Frappe locks after a few failures too).
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 300
LOGINS_PER_MINUTE_PER_IP = 20
CSRF_HEADER = "X-Frappe-CSRF-Token"
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()
# Verified when the user does not exist, so both cases take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class CSRFTokenError(errors.AppError):
    """Frappe answers a missing or wrong CSRF token with 400 ``CSRFTokenError``."""

    http_status_code = 400


@dataclass(frozen=True)
class StaffUser:
    email: str
    full_name: str
    role: str  # "agent" or "manager"

    @property
    def roles(self) -> tuple[str, ...]:
        return ("Guest", ROLE_AGENT, ROLE_MANAGER) if self.role == "manager" else ("Guest", ROLE_AGENT)


@dataclass(frozen=True)
class StaffSession:
    user: StaffUser
    csrf_token: str


def _user(row: dict[str, Any]) -> StaffUser:
    return StaffUser(email=row["name"], full_name=row.get("full_name") or "", role=row.get("role") or "agent")


def _sid_key(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


# -- accounts ------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_staff(store: Store, email: str, role: str, password: str, full_name: str = "") -> bool:
    """Create a staff account, or update its role, password and name; True when created."""
    email = normalise_email(email)
    if not _EMAIL_RE.match(email):
        raise errors.ValidationError(f"{email!r} is not an email address", field="email")
    if role not in STAFF_ROLES:
        raise errors.ValidationError("role must be agent or manager", field="role")
    if len(password or "") < MIN_PASSWORD:
        raise errors.ValidationError(
            f"the password needs at least {MIN_PASSWORD} characters", field="password"
        )
    values = {
        "role": role,
        "password_hash": hash_password(password),
        "enabled": 1,
        "full_name": full_name.strip() or email.split("@")[0].replace(".", " ").title(),
    }
    if store.get(STAFF, email):
        store.update(STAFF, email, values)
        return False
    store.insert(STAFF, {"name": email, "email": email, **values})
    return True


def list_staff(store: Store) -> list[dict[str, Any]]:
    rows = store.list(STAFF, order_by="email asc")
    return [
        {
            "email": r["name"],
            "full_name": r.get("full_name") or "",
            "role": r.get("role") or "agent",
            "enabled": bool(r.get("enabled")),
            "last_login": r.get("last_login"),
        }
        for r in rows
    ]


def remove_staff(store: Store, email: str) -> bool:
    email = normalise_email(email)
    if not store.get(STAFF, email):
        return False
    for s in store.list(SESSION, {"user": email}, fields=["name"]):
        store.delete(SESSION, s["name"])
    store.delete(STAFF, email)
    return True


def issue_api_key(store: Store, email: str) -> tuple[str, str]:
    """A new ``key:secret`` pair for scripts (``Authorization: token key:secret``)."""
    email = normalise_email(email)
    if not store.get(STAFF, email):
        raise errors.NotFound(f"no staff account {email!r}")
    key, secret = secrets.token_hex(8), secrets.token_hex(16)
    store.update(STAFF, email, {"api_key": key, "api_secret_hash": hash_password(secret)})
    return key, secret


def user_for_api_key(store: Store, key: str, secret: str) -> StaffUser | None:
    row = store.get_by(STAFF, {"api_key": key}) if key else None
    if not row or not row.get("enabled") or not row.get("api_secret_hash"):
        verify_password(_DUMMY_HASH, secret)
        return None
    return _user(row) if verify_password(row["api_secret_hash"], secret) else None


# -- login ------------------------------------------------------------------------------
def _failures_key(email: str) -> str:
    return "acrm:loginfail:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def check_password(rt: Runtime, email: str, password: str, ip: str) -> StaffUser:
    """The staff user for these credentials, or :class:`AuthenticationError` (401).

    Rate limited per IP and per account (429 after repeated failures)."""
    from assistant_crm.services.infra import rate_limit

    rate_limit.hit(f"login:ip:{ip}", LOGINS_PER_MINUTE_PER_IP)
    email = normalise_email(email)
    fails_key = _failures_key(email)
    if int(rt.cache.get(fails_key) or 0) >= MAX_FAILURES:
        log.warning("login refused: too many failures for one account from %s", ip)
        raise errors.RateLimited(
            "Too many failed logins for this account; try again in a few minutes.",
            retry_after=FAILURE_WINDOW_SECONDS,
        )
    row = rt.store.get(STAFF, email) if email else None
    ok = bool(row and row.get("enabled") and row.get("password_hash"))
    ok = verify_password(row["password_hash"] if ok else _DUMMY_HASH, password or "") and ok
    if not ok:
        rt.cache.incr(fails_key, 1, ttl=FAILURE_WINDOW_SECONDS)
        log.info("login failed from %s", ip)
        raise errors.AuthenticationError("Incorrect email or password")
    rt.cache.delete(fails_key)
    assert row is not None
    if _hasher.check_needs_rehash(row["password_hash"]):
        rt.store.update(STAFF, email, {"password_hash": hash_password(password)})
    return _user(row)


def open_session(rt: Runtime, user: StaffUser, ip: str) -> tuple[str, StaffSession]:
    """Store a new session; returns the sid for the cookie and the session."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = rt.clock.now()
    rt.store.insert(
        SESSION,
        {
            "name": _sid_key(sid),
            "user": user.email,
            "csrf_token": csrf,
            "expires": now + timedelta(hours=SESSION_HOURS),
            "ip_address": ip[:140],
        },
    )
    rt.store.update(STAFF, user.email, {"last_login": now})
    log.info("staff login: %s", user.email)
    return sid, StaffSession(user=user, csrf_token=csrf)


def session_for(rt: Runtime, sid: str | None) -> StaffSession | None:
    """The live session of a ``sid`` cookie (None when unknown, expired or the account is disabled)."""
    if not sid or len(sid) > 200:
        return None
    row = rt.store.get(SESSION, _sid_key(sid))
    if not row:
        return None
    expires = row.get("expires")
    if expires is not None and not isinstance(expires, str) and expires < rt.clock.now():
        rt.store.delete(SESSION, row["name"])
        return None
    staff = rt.store.get(STAFF, row["user"])
    if not staff or not staff.get("enabled"):
        return None
    return StaffSession(user=_user(staff), csrf_token=row.get("csrf_token") or "")


def close_session(rt: Runtime, sid: str | None) -> None:
    if sid:
        rt.store.delete(SESSION, _sid_key(sid))


def csrf_ok(session: StaffSession, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(session.csrf_token.encode(), header_value.encode())
