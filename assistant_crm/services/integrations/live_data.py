"""Live CoreBusiness answers for the verified person, and only for them.

:func:`answer` serves the four personal intents (claim_status,
payment_inquiry, employer_contributions, document_status) in plain words:
amounts with their currency ("ZMW 1,250.00"), dates written out ("3 March
2026"), the next step CoreBusiness gives. The ``read_*`` functions are the
only way the engine reads CoreBusiness records; each takes the verified
person's id and checks that a claim or employer number asked for is one
CoreBusiness listed for that person (:class:`NotYours` otherwise), because
CoreBusiness itself does not check who may see what.

Reads are cached for 2 minutes per person (the person id is in every key, so
nothing is ever shared between people).
"""

from __future__ import annotations

import logging
import re
from datetime import date
from decimal import Decimal
from typing import Any

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
from assistant_crm.services.models import InboundMessage, LiveAnswer, SessionState
from assistant_crm.services.pipeline.normalise import find_claim_numbers

log = logging.getLogger("assistant_crm.live_data")

CACHE_TTL = 120
LIVE_INTENTS = ("claim_status", "payment_inquiry", "employer_contributions", "document_status")
_EMPLOYER_RE = re.compile(r"(?<![A-Za-z0-9])EMP[\s\-_/]?(\d{3,8})(?!\d)", re.IGNORECASE)

CLAIM_TYPE_WORDS = {
    "occupational_injury": "work injury",
    "occupational_disease": "occupational disease",
    "fatal_accident": "fatal accident",
}
CLAIM_STATUS_WORDS = {
    "received": "received and registered",
    "under_review": "being reviewed by a claims officer",
    "awaiting_documents": "waiting for documents from you",
    "medical_assessment": "waiting for a medical assessment",
    "approved": "approved",
    "rejected": "not approved",
    "paid": "paid",
    "closed": "closed",
}
PAYMENT_KIND_WORDS = {
    "monthly_pension": "monthly pension",
    "lump_sum": "lump sum",
    "funeral_grant": "funeral grant",
    "medical_refund": "medical refund",
    "rehabilitation": "rehabilitation payment",
}
METHOD_WORDS = {"bank": "bank", "mobile_money": "mobile money", "cheque": "cheque"}
DOCUMENT_STATUS_WORDS = {"received": "received", "pending": "still needed", "rejected": "not accepted"}


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


def choice_intent(session: SessionState, text: str) -> str | None:
    """When the bot asked "which claim?", the intent a reply like "2" or a claim number resumes."""
    ctx = session.context.get("claim_choice") or {}
    if session.context.get("pending") != "claim_choice" or not ctx:
        return None
    return ctx.get("intent") if _pick(ctx.get("numbers") or [], text) else None


def _pick(numbers: list[str], text: str) -> str | None:
    found = [n for n in find_claim_numbers(text) if n in numbers]
    if found:
        return found[0]
    m = re.fullmatch(r"\s*(?:no\.?|number|#)?\s*(\d{1,2})\s*[.)]?\s*", text or "", re.IGNORECASE)
    if m and 1 <= int(m.group(1)) <= len(numbers):
        return numbers[int(m.group(1)) - 1]
    return None


# --------------------------------------------------------------------------- answers


def _render(key: str, session: SessionState, data: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    from assistant_crm.services.pipeline import templates

    rendered = templates.render(
        key, language=session.language or "en", channel=session.channel or "all", data=data or {}
    )
    return rendered.text, list(rendered.quick_replies)


def _first_name(session: SessionState) -> str:
    auth = session.context.get("auth") or {}
    full = str(auth.get("full_name") or "").strip()
    return full.split()[0].title() if full else ""


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
        from assistant_crm.services.infra import audit

        audit.record(**kwargs)
    except Exception:  # noqa: BLE001 - the answer must still go out
        log.exception("audit write failed for live_data.read")


def _audit(session: SessionState, intent: str, resources: list[str]) -> None:
    audit_read(session, {"intent": intent, "resources": resources})


def answer(session: SessionState, intent: str, msg: InboundMessage) -> LiveAnswer:
    """The live-data answer to ``intent`` for the session's verified person.

    ``ok=False`` with the ``records_unavailable`` text when CoreBusiness
    cannot be reached; never anything about another person.
    """
    person_id = session.verified_person_id
    if not person_id:
        text, replies = _render("verify_ask", session)
        return LiveAnswer(text=text, quick_replies=replies, ok=False)
    text = msg.text or ""
    chosen: str | None = None
    ctx = session.context.get("claim_choice") or {}
    if session.context.get("pending") == "claim_choice" and ctx:
        chosen = _pick(ctx.get("numbers") or [], text)
        if chosen and ctx.get("intent") in LIVE_INTENTS:
            intent = ctx["intent"]
        session.context.pop("pending", None)
        session.context.pop("claim_choice", None)
    resources: list[str] = []
    try:
        if intent == "claim_status":
            result = _claim_status(session, person_id, text, chosen, resources)
        elif intent == "payment_inquiry":
            result = _payments(session, person_id, text, resources)
        elif intent == "employer_contributions":
            result = _contributions(session, person_id, text, resources)
        elif intent == "document_status":
            result = _documents(session, person_id, text, chosen, resources)
        else:
            raise ValueError(f"no live data for intent {intent!r}")
    except CoreBusinessError as exc:
        log.warning("live data unavailable intent=%s kind=%s session=%s", intent, exc.kind, session.name)
        body, replies = _render("records_unavailable", session)
        return LiveAnswer(text=body, quick_replies=replies, ok=False, facts={"records_unavailable": True})
    _audit(session, intent, resources)
    return result


def _wanted_claim(person_id: str, text: str, chosen: str | None) -> tuple[str | None, str | None]:
    """(claim number asked for, a number asked for that is not the person's)."""
    if chosen:
        return chosen, None
    numbers = find_claim_numbers(text)
    if not numbers:
        return None, None
    owned = {c.claim_number for c in read_claims(person_id)}
    for n in numbers:
        if n not in owned:
            return None, n
    return numbers[0], None


def _ask_which(session: SessionState, intent: str, claims: list[ClaimSummary], header: str) -> LiveAnswer:
    numbers = [c.claim_number for c in claims]
    lines = [header]
    for i, c in enumerate(claims, start=1):
        since = f" since {long_date(c.status_date)}" if c.status_date else ""
        lines.append(
            f"{i}. {c.claim_number}: {CLAIM_TYPE_WORDS.get(c.claim_type, c.claim_type)}, "
            f"{CLAIM_STATUS_WORDS.get(c.status, c.status)}{since}"
        )
    lines.append(
        "Which one would you like to know more about? Reply with its number (1, 2, ...) or the claim number."
    )
    session.context["pending"] = "claim_choice"
    session.context["claim_choice"] = {"intent": intent, "numbers": numbers}
    facts = {"claims": [_claim_fact(c) for c in claims], "question": "which claim"}
    return LiveAnswer(text="\n".join(lines), quick_replies=numbers[:3], facts=_facts(session, intent, facts))


def _claim_fact(c: ClaimSummary) -> dict[str, Any]:
    return {
        "claim_number": c.claim_number,
        "claim_type": CLAIM_TYPE_WORDS.get(c.claim_type, c.claim_type),
        "status": CLAIM_STATUS_WORDS.get(c.status, c.status),
        "status_date": long_date(c.status_date),
        "incident_date": long_date(c.incident_date),
        "employer_name": c.employer_name,
        "next_step": c.next_step,
    }


def _facts(session: SessionState, intent: str, data: dict[str, Any]) -> dict[str, Any]:
    # Grounding for Gemini: first name only, no NRC or phone (accounts come masked from CoreBusiness).
    return {"intent": intent, "first_name": _first_name(session), **data}


def _not_found(session: SessionState, number: str) -> LiveAnswer:
    text, replies = _render("claim_not_found", session, {"claim_number": number})
    return LiveAnswer(text=text, quick_replies=replies, facts={"intent": "claim_not_found"})


def _no_claims(session: SessionState, intent: str) -> LiveAnswer:
    text, replies = _render("claim_status_none", session, {"first_name": _first_name(session)})
    replies = replies or ["Report an accident"]
    return LiveAnswer(
        text=text,
        quick_replies=replies,
        facts=_facts(session, intent, {"claims": [], "offer": "claim_submission"}),
    )


def _claims_asked(
    session: SessionState, intent: str, person_id: str, text: str, chosen: str | None, resources: list[str]
) -> tuple[str | None, list[ClaimSummary], LiveAnswer | None]:
    """(the claim number asked about, the person's claims, None), or an answer that
    ends the turn early: a claim that is not theirs, or no claims at all."""
    number, foreign = _wanted_claim(person_id, text, chosen)
    resources.append("claims")
    if foreign:
        return None, [], _not_found(session, foreign)
    claims = read_claims(person_id)
    if not claims:
        return None, [], _no_claims(session, intent)
    return number, claims, None


def _claim_status(
    session: SessionState, person_id: str, text: str, chosen: str | None, resources: list[str]
) -> LiveAnswer:
    number, claims, early = _claims_asked(session, "claim_status", person_id, text, chosen, resources)
    if early is not None:
        return early
    if number is None and len(claims) > 1:
        header, _ = _render("claim_status", session, {"first_name": _first_name(session), "plural": "s"})
        return _ask_which(session, "claim_status", claims, header)
    number = number or claims[0].claim_number
    detail = read_claim(person_id, number)
    resources.append(f"claim:{number}")
    header, replies = _render("claim_status", session, {"first_name": _first_name(session), "plural": ""})
    lines = [header]
    what = CLAIM_TYPE_WORDS.get(detail.claim_type, detail.claim_type)
    when = f" of {long_date(detail.incident_date)}" if detail.incident_date else ""
    employer = f" at {detail.employer_name}" if detail.employer_name else ""
    since = f" since {long_date(detail.status_date)}" if detail.status_date else ""
    lines.append(
        f"Claim {detail.claim_number} ({what}{when}{employer}) is {CLAIM_STATUS_WORDS.get(detail.status, detail.status)}{since}."
    )
    if detail.history:
        last = max(detail.history, key=lambda h: h.date or date.min)
        if last.note:
            lines.append(f"Latest update{(' on ' + long_date(last.date)) if last.date else ''}: {last.note}.")
    if detail.next_step:
        lines.append(f"Next step: {detail.next_step.rstrip('.')}.")
    facts = _claim_fact(detail)
    facts["history"] = [
        {"date": long_date(h.date), "status": h.status, "note": h.note} for h in detail.history
    ]
    return LiveAnswer(
        text="\n".join(lines), quick_replies=replies, facts=_facts(session, "claim_status", {"claim": facts})
    )


def _payment_line(p: Payment) -> str:
    kind = PAYMENT_KIND_WORDS.get(p.kind, p.kind)
    how = METHOD_WORDS.get(p.method, p.method)
    to = f" by {how}" + (f" to {p.account_masked}" if p.account_masked else "") if how else ""
    amount = money(p.amount, p.currency)
    if p.status == "scheduled":
        return f"Next payment: {amount} {kind}, scheduled for {long_date(p.scheduled_date)}{to}."
    if p.status == "paid":
        return f"Paid: {amount} {kind} on {long_date(p.paid_date or p.scheduled_date)}{to}."
    reason = f" Reason: {p.hold_reason.rstrip('.')}." if p.hold_reason else ""
    if p.status == "on_hold":
        return f"On hold: {amount} {kind} due {long_date(p.scheduled_date)}.{reason}"
    return f"Not paid (failed): {amount} {kind} due {long_date(p.scheduled_date)}.{reason}"


def _payments(session: SessionState, person_id: str, text: str, resources: list[str]) -> LiveAnswer:
    payments = read_payments(person_id)
    resources.append("payments")
    numbers = find_claim_numbers(text)
    if numbers:
        payments = [p for p in payments if p.claim_number in numbers]
    if not payments:
        body, replies = _render("payment_none", session, {"first_name": _first_name(session)})
        return LiveAnswer(
            text=body, quick_replies=replies, facts=_facts(session, "payment_inquiry", {"payments": []})
        )
    header, replies = _render("payment_inquiry", session, {"first_name": _first_name(session)})
    problems = [p for p in payments if p.status in ("on_hold", "failed")]
    upcoming = sorted(
        (p for p in payments if p.status == "scheduled"), key=lambda p: p.scheduled_date or date.max
    )
    paid = [p for p in payments if p.status == "paid"][:2]
    chosen = (problems + upcoming[:2] + paid)[:5]
    lines = [header, *(_payment_line(p) for p in chosen)]
    if problems:
        lines.append(
            "To sort out a payment on hold or not paid, visit the nearest WCFCB branch or ask for one of our staff."
        )
    facts = {
        "payments": [
            {
                "kind": PAYMENT_KIND_WORDS.get(p.kind, p.kind),
                "amount": money(p.amount, p.currency),
                "status": p.status,
                "scheduled_date": long_date(p.scheduled_date),
                "paid_date": long_date(p.paid_date),
                "method": METHOD_WORDS.get(p.method, p.method),
                "account": p.account_masked,
                "hold_reason": p.hold_reason,
                "claim_number": p.claim_number,
            }
            for p in chosen
        ]
    }
    return LiveAnswer(
        text="\n".join(lines), quick_replies=replies, facts=_facts(session, "payment_inquiry", facts)
    )


def _contribution_lines(c: Contributions) -> list[str]:
    lines = []
    if c.assessed_amount is not None:
        year = f"Assessment year {c.assessment_year}: " if c.assessment_year else ""
        lines.append(
            f"{year}assessed {money(c.assessed_amount, c.currency)}, paid {money(c.paid_amount or Decimal(0), c.currency)}, "
            f"balance {money(c.balance or Decimal(0), c.currency)}."
        )
    due = long_date(c.due_date)
    if c.status == "overdue":
        lines.append(
            f"The assessment is overdue (it was due on {due}). Please pay the balance as soon as you can to avoid penalties."
            if due
            else "The assessment is overdue. Please pay the balance as soon as you can to avoid penalties."
        )
    elif c.status == "outstanding":
        lines.append(f"The balance is due by {due}." if due else "A balance is outstanding.")
    elif c.status == "paid_up":
        lines.append("You are fully paid up. Thank you!")
    else:
        lines.append("This year's assessment has not been made yet: please submit your earnings statement.")
    if c.last_payment_date:
        lines.append(f"Last payment received: {long_date(c.last_payment_date)}.")
    return lines


def _contributions(session: SessionState, person_id: str, text: str, resources: list[str]) -> LiveAnswer:
    auth = session.context.get("auth") or {}
    employers = [str(e) for e in auth.get("employer_numbers") or []]
    asked = [f"EMP-{m.group(1)}" for m in _EMPLOYER_RE.finditer(text)]
    for number in asked:
        if number.upper() not in {e.upper() for e in employers}:
            body, replies = _render("employer_not_found", session)
            return LiveAnswer(text=body, quick_replies=replies, facts={"intent": "employer_not_found"})
    wanted = asked or employers
    if not wanted:
        body, replies = _render("employer_not_found", session)
        return LiveAnswer(
            text=body,
            quick_replies=replies,
            facts=_facts(session, "employer_contributions", {"employers": []}),
        )
    lines: list[str] = []
    replies: list[str] = []
    facts = []
    for number in wanted[:3]:
        c = read_contributions(person_id, employers, number)
        resources.append(f"contributions:{number}")
        header, replies = _render(
            "employer_contributions", session, {"employer_name": c.employer_name or number}
        )
        lines.append(f"{header} ({number})" if c.employer_name else header)
        lines.extend(_contribution_lines(c))
        facts.append(
            {
                "employer_number": number,
                "employer_name": c.employer_name,
                "status": c.status,
                "assessed": money(c.assessed_amount, c.currency),
                "paid": money(c.paid_amount, c.currency),
                "balance": money(c.balance, c.currency),
                "due_date": long_date(c.due_date),
                "last_payment_date": long_date(c.last_payment_date),
            }
        )
    return LiveAnswer(
        text="\n".join(lines),
        quick_replies=replies,
        facts=_facts(session, "employer_contributions", {"employers": facts}),
    )


def _documents(
    session: SessionState, person_id: str, text: str, chosen: str | None, resources: list[str]
) -> LiveAnswer:
    number, claims, early = _claims_asked(session, "document_status", person_id, text, chosen, resources)
    if early is not None:
        return early
    if number is None and len(claims) > 1:
        # Prefer the one claim waiting for documents, if there is exactly one.
        waiting = [c for c in claims if c.status == "awaiting_documents"]
        if len(waiting) == 1:
            number = waiting[0].claim_number
        else:
            return _ask_which(
                session, "document_status", claims, "Which claim's documents would you like to check?"
            )
    number = number or claims[0].claim_number
    docs = read_documents(person_id, number)
    resources.append(f"documents:{number}")
    if not docs:
        body, replies = _render("document_none", session, {"claim_number": number})
        return LiveAnswer(
            text=body,
            quick_replies=replies,
            facts=_facts(session, "document_status", {"claim_number": number, "documents": []}),
        )
    header, replies = _render("document_status", session, {"claim_number": number})
    lines = [header]
    for d in docs:
        status = DOCUMENT_STATUS_WORDS.get(d.status, d.status)
        if d.status == "received" and d.received_date:
            status = f"received on {long_date(d.received_date)}"
        note = f" ({d.note.rstrip('.')})" if d.note else ""
        lines.append(f"- {d.document_type}: {status}{note}")
    if any(d.status in ("pending", "rejected") for d in docs):
        lines.append(
            "Please bring or send the missing documents to your nearest WCFCB branch, quoting the claim number."
        )
    facts = {
        "claim_number": number,
        "documents": [
            {
                "document_type": d.document_type,
                "status": d.status,
                "received_date": long_date(d.received_date),
                "note": d.note,
            }
            for d in docs
        ],
    }
    return LiveAnswer(
        text="\n".join(lines), quick_replies=replies, facts=_facts(session, "document_status", facts)
    )
