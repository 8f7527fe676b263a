"""Live Data API: a verified chat session's own CoreBusiness records.

Every call is keyed by ``session_id``, the web chat's session token (never a
person id): the session must have been verified in the chat, and only the
records CoreBusiness lists for that verified person are returned. A claim or
employer number that is not the session's is refused with 403 whatever the
parameters say. Calls are rate limited per session and per IP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from assistant_crm.api.endpoint import current_request, endpoint
from assistant_crm.services.infra.errors import (
    AuthenticationError,
    PermissionDenied,
    ServiceUnavailable,
    ValidationError,
)
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.integrations import live_data
from assistant_crm.services.integrations.corebusiness import CoreBusinessError, as_json
from assistant_crm.services.models import SessionState
from assistant_crm.services.pipeline.normalise import find_claim_numbers

log = logging.getLogger("assistant_crm.api.live_data")

_NOT_VERIFIED = "This chat session is not verified. Confirm your identity in the chat first, then try again."


def _limits(session_id: str) -> None:
    from assistant_crm.services.infra import rate_limit

    limit = get_runtime().settings.int("chat_rate_limit_per_minute")
    try:
        ip = current_request().remote_addr or ""
    except RuntimeError:
        ip = ""
    rate_limit.hit(f"live_ip:{ip}", limit * 2)
    rate_limit.hit(f"live_session:{session_id}", limit)


def _verified_session(session_id: Any) -> tuple[SessionState, dict[str, Any]]:
    """The verified session for a token, or 401 (no such session, or not verified)."""
    if not isinstance(session_id, str) or not session_id.strip():
        log.info("live data API: missing session_id")
        raise ValidationError("session_id is required (the chat session token)", field="session_id")
    session_id = session_id.strip()
    if len(session_id) > 128:
        log.info("live data API: session_id too long")
        raise ValidationError("session_id is too long", field="session_id")
    _limits(session_id)
    from assistant_crm.services.dialogue import gate, web_session
    from assistant_crm.services.pipeline import context

    session = context.get_session_by_token(session_id)
    if session is None:
        log.info("live data API: unknown session token")
        raise AuthenticationError(_NOT_VERIFIED)
    if context.is_expired(session):
        log.info("live data API: session %s idle past its limit", session.name)
        raise AuthenticationError("This chat session has expired. Please verify again in the chat.")
    auth = gate.verified_auth(session)
    if auth is None:
        log.info("live data API: session %s is not verified", session.name)
        raise AuthenticationError(_NOT_VERIFIED)
    if not web_session.personal_allowed(session, _binding_cookie()):
        # The token alone is a bearer token: only the browser that verified may read (issue 12.12).
        log.warning(
            "live data API: session %s asked from a browser the verification is not bound to", session.name
        )
        raise AuthenticationError(_NOT_VERIFIED)
    return session, auth


def _binding_cookie() -> str:
    from assistant_crm.services.dialogue import web_session

    try:
        return current_request().cookie(web_session.COOKIE)
    except RuntimeError:  # called in-process, outside a request
        return ""


def _claim_number(value: Any) -> str:
    found = find_claim_numbers(value if isinstance(value, str) else "")
    if len(found) != 1:
        log.info("live data API: malformed claim number")
        raise ValidationError("claim_number must look like CLM-2026-00412", field="claim_number")
    return found[0]


def _unavailable(exc: CoreBusinessError) -> ServiceUnavailable:
    log.warning("live data API: CoreBusiness failed kind=%s", exc.kind)
    err = ServiceUnavailable("Our records can't be reached right now; please try again in a few minutes.")
    if exc.retry_after:
        err.headers["Retry-After"] = str(int(max(1, exc.retry_after)))
    return err


def _audit(session: SessionState, resource: str) -> None:
    live_data.audit_read(session, {"via": "api", "resource": resource})


def _refuse(session: SessionState, what: str) -> PermissionDenied:
    log.warning("live data API: session %s asked for a %s that is not theirs", session.name, what)
    try:
        from assistant_crm.services.infra import audit

        audit.record(
            f"session:{session.name}", "live_data.refused", session.verified_person_id or "", {"kind": what}
        )
    except Exception:  # noqa: BLE001
        log.exception("audit write failed for live_data.refused")
    return PermissionDenied(f"That {what} is not linked to the person verified in this session.")


@contextmanager
def _reading(session: SessionState, not_yours: str | None = None) -> Iterator[None]:
    """CoreBusiness failures become 503; with ``not_yours`` (what was asked for),
    a number not linked to the verified person becomes 403."""
    try:
        yield
    except live_data.NotYours:
        if not_yours is None:
            raise
        raise _refuse(session, not_yours) from None
    except CoreBusinessError as exc:
        raise _unavailable(exc) from None


@endpoint(allow_guest=True, methods=("GET", "POST"))
def get_claims(session_id: Any = None) -> dict[str, Any]:
    """The verified person's claims: ``{"claims": [...]}``."""
    session, _ = _verified_session(session_id)
    with _reading(session):
        claims = live_data.read_claims(session.verified_person_id)
    _audit(session, "claims")
    return {"claims": as_json(claims)}


@endpoint(allow_guest=True, methods=("GET", "POST"))
def get_claim(session_id: Any = None, claim_number: Any = None) -> dict[str, Any]:
    """One of the verified person's claims with its history (403 for anyone else's)."""
    session, _ = _verified_session(session_id)
    number = _claim_number(claim_number)
    with _reading(session, not_yours="claim"):
        detail = live_data.read_claim(session.verified_person_id, number)
    _audit(session, f"claim:{number}")
    data = as_json(detail)
    data.pop("person_id", None)  # for a dependant this is the deceased worker's id
    return data


@endpoint(allow_guest=True, methods=("GET", "POST"))
def get_documents(session_id: Any = None, claim_number: Any = None) -> dict[str, Any]:
    """Documents of one of the verified person's claims (403 for anyone else's)."""
    session, _ = _verified_session(session_id)
    number = _claim_number(claim_number)
    with _reading(session, not_yours="claim"):
        docs = live_data.read_documents(session.verified_person_id, number)
    _audit(session, f"documents:{number}")
    return {"claim_number": number, "documents": as_json(docs)}


@endpoint(allow_guest=True, methods=("GET", "POST"))
def get_payments(session_id: Any = None, limit: Any = 12) -> dict[str, Any]:
    """The verified person's payments, newest first (``limit`` 1–100)."""
    session, _ = _verified_session(session_id)
    try:
        n = int(limit if limit not in (None, "") else 12)
    except (TypeError, ValueError):
        log.info("live data API: bad limit")
        raise ValidationError("limit must be a whole number from 1 to 100", field="limit") from None
    if not 1 <= n <= 100:
        log.info("live data API: limit out of range")
        raise ValidationError("limit must be a whole number from 1 to 100", field="limit")
    with _reading(session):
        payments = live_data.read_payments(session.verified_person_id, n)
    _audit(session, "payments")
    return {"payments": as_json(payments)}


@endpoint(allow_guest=True, methods=("GET", "POST"))
def get_contributions(session_id: Any = None, employer_number: Any = None) -> dict[str, Any]:
    """An employer's assessment position, for an employer linked to the verified person.

    Without ``employer_number``: every employer linked to the person.
    """
    session, auth = _verified_session(session_id)
    employers = list(auth.employer_numbers)
    if employer_number not in (None, ""):
        if not isinstance(employer_number, str) or len(employer_number) > 40:
            log.info("live data API: malformed employer number")
            raise ValidationError("employer_number must look like EMP-004417", field="employer_number")
        wanted = [employer_number.strip().upper()]
    else:
        wanted = employers
    results = []
    with _reading(session, not_yours="employer account"):
        for number in wanted:
            results.append(live_data.read_contributions(session.verified_person_id, employers, number))
    _audit(session, "contributions")
    return {"employers": as_json(results)}
