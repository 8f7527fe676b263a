"""CoreBusiness records of the verified person, and only theirs: fetched, cached, shaped.

The ``read_*`` functions are the only way the engine reads CoreBusiness
records; each takes the verified person's id and checks that a claim or
employer number asked for is one CoreBusiness listed for that person
(:class:`NotYours` otherwise), because CoreBusiness itself does not check who
may see what. :func:`money` and :func:`long_date` shape amounts and dates for
people ("ZMW 1,250.00", "3 March 2026"). The answers built from these records
are in ``dialogue/live_answers.py``.

Reads are cached for 2 minutes per person (the person id is in every key, so
nothing is ever shared between people).
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from assistant_crm.services.infra import audit
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.integrations.corebusiness import (
    ClaimDetail,
    ClaimSummary,
    Contributions,
    CoreBusinessError,
    Document,
    Payment,
    as_json,
    get_client,
    parse_claim_detail,
    parse_claim_summary,
    parse_contributions,
    parse_document,
    parse_payment,
)
from assistant_crm.services.models import SessionState

log = logging.getLogger("assistant_crm.live_data")

CACHE_TTL = 120


class NotYours(Exception):
    """A claim or employer number that CoreBusiness did not list for the verified person."""


# --------------------------------------------------------------------------- formatting


def money(amount: Decimal | None, currency: str = "ZMW") -> str:
    """``Decimal("1250")`` -> ``"ZMW 1,250.00"``."""
    if amount is None:
        return ""
    return f"{currency or 'ZMW'} {amount:,.2f}"


def long_date(d: date | None) -> str:
    """``date(2026, 3, 3)`` -> ``"3 March 2026"``."""
    if d is None:
        return ""
    return f"{d.day} {d.strftime('%B')} {d.year}"


# --------------------------------------------------------------------------- cached reads


def _cached(key: str, fetch, parse) -> tuple[Any, bool]:
    """(value, from_cache): the parsed value, from the cache when fresh."""
    cache = get_runtime().cache
    hit = cache.get(key)
    if hit is not None:
        try:
            return parse(hit), True
        except (ValueError, TypeError, KeyError):
            cache.delete(key)  # an old shape: read again
    value = fetch()
    cache.set(key, as_json(value), ttl=CACHE_TTL)
    return value, False


def _key(person_id: str, *parts: str) -> str:
    return "acrm:live:" + ":".join([person_id, *parts])


def read_claims(person_id: str) -> list[ClaimSummary]:
    """The person's claims (as claimant or dependant), newest status first."""
    value, _ = _cached(
        _key(person_id, "claims"),
        lambda: get_client().claims(person_id),
        lambda v: [parse_claim_summary(c) for c in v],
    )
    return sorted(value, key=lambda c: c.status_date or date.min, reverse=True)


def _check_claim(person_id: str, number: str) -> None:
    if number not in {c.claim_number for c in read_claims(person_id)}:
        raise NotYours(number)


def read_claim(person_id: str, number: str) -> ClaimDetail:
    """One of the person's claims with its history; :class:`NotYours` for anyone else's."""
    _check_claim(person_id, number)
    value, _ = _cached(
        _key(person_id, "claim", number), lambda: get_client().claim(number), parse_claim_detail
    )
    return value


def read_documents(person_id: str, number: str) -> list[Document]:
    """Documents of one of the person's claims; :class:`NotYours` for anyone else's."""
    _check_claim(person_id, number)
    value, _ = _cached(
        _key(person_id, "documents", number),
        lambda: get_client().documents(number),
        lambda v: [parse_document(d) for d in v],
    )
    return value


def read_payments(person_id: str, limit: int = 12) -> list[Payment]:
    """The person's payments, newest first."""
    limit = max(1, min(100, int(limit)))
    value, _ = _cached(
        _key(person_id, "payments", str(limit)),
        lambda: get_client().payments(person_id, limit=limit),
        lambda v: [parse_payment(p) for p in v],
    )
    return value


def read_contributions(person_id: str, employer_numbers: list[str], number: str) -> Contributions:
    """An employer's position, only for an employer CoreBusiness linked to the person."""
    if number.upper() not in {e.upper() for e in employer_numbers}:
        raise NotYours(number)
    value, _ = _cached(
        _key(person_id, "contributions", number),
        lambda: get_client().contributions(number),
        parse_contributions,
    )
    return value


def owned_claim_numbers(session: SessionState) -> set[str] | None:
    """The verified person's claim numbers; None when CoreBusiness cannot say."""
    if not session.verified_person_id:
        return set()
    try:
        return {c.claim_number for c in read_claims(session.verified_person_id)}
    except CoreBusinessError:
        return None


# --------------------------------------------------------------------------- audit


def audit_read(session: SessionState, details: dict[str, Any]) -> None:
    """Audit one data read. Written by the background queue: the entry is kept
    off the reply's critical path (the hash-chained insert costs more than the
    cached read itself); it is written synchronously when queueing fails."""
    kwargs = {
        "actor": f"session:{session.name}",
        "action": "live_data.read",
        "subject": session.verified_person_id or "",
        "details": {"channel": session.channel, **details},
    }
    try:
        get_runtime().queue.enqueue("assistant_crm.services.infra.audit.record", **kwargs)
        return
    except Exception:  # noqa: BLE001 - fall back to writing it now
        log.warning("could not queue the live_data.read audit entry; writing it now")
    try:
        audit.record(**kwargs)
    except Exception:  # noqa: BLE001 - the answer must still go out
        log.exception("audit write failed for live_data.read")
