"""A verified web chat session belongs to the browser that verified (issue 12.12).

The visitor token the bubble keeps in its storage (``session_id``) finds the
conversation; on its own it is a bearer token. So when a web session becomes
verified, the answer also sets an HttpOnly, SameSite=Lax cookie (Secure over
HTTPS), :data:`COOKIE`, with a fresh random value; the session keeps only its
SHA-256 (``Verified.cookie_hash``). From then on personal data goes only to a
request carrying the token AND that cookie:

- the value rotates on verification and, on a turn, every
  :data:`ROTATE_SECONDS`; the next value is an HMAC of the current one under the
  server secret, so two tabs rotating at once agree on it, and a stolen value
  cannot be rolled forward without the secret;
- the value it replaced is still accepted for :data:`PREVIOUS_GRACE_SECONDS`
  (a second tab's request sent before the new cookie arrived), never after;
- a turn (or upload) carrying the token without the current cookie ends the
  verification (:func:`enforce`): that request gets no personal data, the
  person is asked to verify again, one log line and a
  ``verification.browser_refused`` audit entry are written;
- read-only paths (``get_messages``, the Live Data API) ask
  :func:`personal_allowed` and change nothing.

Messages made in-process (``InboundMessage.web_cookie is None``: tests, tools)
are not HTTP requests from a browser and are not checked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from assistant_crm.services.dialogue import signout
from assistant_crm.services.dialogue.state import Dialogue, Verified
from assistant_crm.services.infra import audit
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import SessionState

log = logging.getLogger("assistant_crm.verification")

COOKIE = "acrm_chat"
ROTATE_SECONDS = 5 * 60
PREVIOUS_GRACE_SECONDS = 60
BOUND = ("current", "previous")


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def cookie_max_age() -> int:
    """Seconds the browser keeps the cookie: the idle limit plus one rotation period,
    so it outlives the verification it stands for (the server decides, not the browser)."""
    return max(1, get_runtime().settings.int("session_idle_minutes")) * 60 + ROTATE_SECONDS


def _next_value(session: SessionState, current: str) -> str:
    # Imported here: the gate imports the pipeline, which imports this module.
    from assistant_crm.services.dialogue import gate

    return gate.keyed_hash("browser-cookie", session.name, current)


def check(session: SessionState, cookie: str, now: datetime) -> str:
    """How the request's cookie stands against the session's binding:
    ``current``, ``previous`` (within the grace), ``missing``, ``stale``,
    ``unbound`` (verified before binding existed) or ``unverified``."""
    verified = Dialogue(session).verified
    if verified is None or not session.verified_person_id:
        return "unverified"
    return _against(verified, cookie, now)


def _against(verified: Verified, cookie: str, now: datetime) -> str:
    if not verified.cookie_hash:
        return "unbound"
    if not cookie:
        return "missing"
    presented = _hash(cookie)
    if hmac.compare_digest(presented, verified.cookie_hash):
        return "current"
    rotated = _parse(verified.cookie_rotated_at)
    if (
        verified.cookie_prev_hash
        and hmac.compare_digest(presented, verified.cookie_prev_hash)
        and rotated is not None
        and (now - rotated).total_seconds() <= PREVIOUS_GRACE_SECONDS
    ):
        return "previous"
    return "stale"


def enforce(session: SessionState, cookie: str | None, now: datetime) -> bool:
    """Before a web turn or upload: False (and the verification ended) when the
    session is verified but the request is not from the browser that verified."""
    if cookie is None or session.channel != "web" or not session.verified_person_id:
        return True
    result = check(session, cookie, now)
    if result in BOUND:
        return True
    person = session.verified_person_id
    # One line, no secrets: which session, and why (never the token or the cookie).
    log.warning(
        "web session %s: verification refused (%s cookie): asking to verify again", session.name, result
    )
    session.verified_person_id = None
    session.verified_at = None
    session.locked_intent = None
    Dialogue(session).end_verification()
    try:
        audit.record(
            f"session:{session.name}",
            "verification.browser_refused",
            session.name,
            {"channel": "web", "cookie": result, "person_id": person},
        )
    except Exception:  # noqa: BLE001 - the turn must still be answered
        log.exception("audit write failed for verification.browser_refused")
    return False


def settle(session: SessionState, cookie: str | None, now: datetime) -> str | None:
    """At the end of a web turn: the cookie value to set (new on verification, the
    next one when due), "" to expire a cookie no longer needed, None to leave it."""
    if cookie is None or session.channel != "web":
        return None
    dialogue = Dialogue(session)
    verified = dialogue.verified
    if verified is None or not session.verified_person_id:
        return "" if cookie else None
    if not verified.cookie_hash:  # verified in this very turn
        value = secrets.token_urlsafe(32)
        dialogue.bind_browser(_hash(value), _iso(now))
        return value
    if cookie and hmac.compare_digest(_hash(cookie), verified.cookie_hash):
        rotated = _parse(verified.cookie_rotated_at)
        if rotated is None or now - rotated >= timedelta(seconds=ROTATE_SECONDS):
            value = _next_value(session, cookie)
            dialogue.bind_browser(_hash(value), _iso(now), previous=verified.cookie_hash)
            return value
    return None


def personal_allowed(session: SessionState, cookie: str | None, now: datetime | None = None) -> bool:
    """Read-only: whether this request may see the session's personal data
    (verified, not idle past the limit, not signed out elsewhere, and from the
    browser that verified). Changes nothing."""
    if not session.verified_person_id:
        return False
    now = now or get_runtime().clock.now()
    verified = Dialogue(session).verified
    if verified is None or verified.person_id != session.verified_person_id:
        return False
    last = _parse(verified.last_seen) or session.verified_at
    idle = max(1, get_runtime().settings.int("session_idle_minutes"))
    if last is None or now - last > timedelta(minutes=idle):
        return False
    if signout.ended(session.verified_person_id, session.verified_at or _parse(verified.verified_at)):
        return False
    if cookie is None or session.channel != "web":
        return True
    return _against(verified, cookie, now) in BOUND
