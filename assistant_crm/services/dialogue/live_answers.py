"""Answers from the verified person's live CoreBusiness records: claims,
payments (the next one, the last one, why none is due), documents (what is
missing), why a claim was rejected, employer assessments.

Every sentence is a Response Template; this module chooses the templates and
fills them with values from :mod:`integrations.live_data` (the verified
person's records, never anyone else's).
"""

from __future__ import annotations

import logging
import re
from datetime import date
from decimal import Decimal
from typing import Any

from assistant_crm.services.dialogue.answers import first_name, intent_label, line, say
from assistant_crm.services.dialogue.asked import Asked, asked
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.integrations import live_data
from assistant_crm.services.integrations.corebusiness import (
    CLAIM_STATUSES,
    CLAIM_TYPES,
    DOCUMENT_STATUSES,
    PAYMENT_KINDS,
    PAYMENT_METHODS,
    ClaimDetail,
    ClaimSummary,
    Contributions,
    CoreBusinessError,
    Document,
    Payment,
)
from assistant_crm.services.integrations.live_data import long_date, money
from assistant_crm.services.models import InboundMessage, LiveAnswer, SessionState
from assistant_crm.services.pipeline.normalise import find_claim_numbers

log = logging.getLogger("assistant_crm.live_answers")

LIVE_INTENTS = ("claim_status", "payment_inquiry", "employer_contributions", "document_status")
_EMPLOYER_RE = re.compile(r"(?<![A-Za-z0-9])EMP[\s\-_/]?(\d{3,8})(?!\d)", re.IGNORECASE)
# The values of a record that an answer shows in words: every value the
# CoreBusiness contract allows (the client refuses others). Each is a Response
# Template ``word_<group>_<value>`` so that it reads in the conversation's
# language (tests/test_reachable_templates.py checks every one).
WORDS = {
    "claim_type": CLAIM_TYPES,
    "claim_status": CLAIM_STATUSES,
    "payment_kind": PAYMENT_KINDS,
    "method": PAYMENT_METHODS,
    "document_status": DOCUMENT_STATUSES,
}


def word_key(group: str, value: str) -> str:
    """The template naming ``value`` of ``group`` ("claim_status", "under_review")."""
    return f"word_{group}_{value}"


def word(session: SessionState, group: str, value: str | None) -> str:
    """A record value in the conversation's words ("being reviewed by a claims officer")."""
    if value in WORDS[group]:
        return line(word_key(group, value), session)
    return value or ""


def live(session: SessionState, intent: str, msg: InboundMessage, question: str = "") -> LiveAnswer:
    """The live-data answer to ``intent`` for the session's verified person: to
    ``question`` when given (the one asked before verification), else to ``msg``.

    ``ok=False`` with the ``records_unavailable`` text when CoreBusiness
    cannot be reached; never anything about another person.
    """
    person_id = session.verified_person_id
    if not person_id:
        text, replies = say("verify_ask", session)
        return LiveAnswer(text=text, quick_replies=replies, ok=False)
    text = msg.text or ""
    chosen: str | None = None
    dialogue = Dialogue(session)
    question = question or text
    choice = dialogue.claim_choice
    if choice is not None:
        chosen = pick_claim(choice.numbers, text)
        if chosen and choice.intent in LIVE_INTENTS:
            intent = choice.intent
            question = choice.question or question
        dialogue.clear_claim_choice()
    kind = asked(question)
    resources: list[str] = []
    try:
        if kind is Asked.WHY_REJECTED and intent in ("claim_status", "document_status", "payment_inquiry"):
            result = _why_rejected(session, person_id, question, chosen, resources)
        elif kind is Asked.MISSING_DOCUMENTS and intent in ("claim_status", "document_status"):
            result = _documents(session, person_id, question, chosen, resources, missing_only=True)
        elif intent == "claim_status":
            result = _claim_status(session, person_id, question, chosen, resources)
        elif intent == "payment_inquiry":
            result = _payments(session, person_id, question, resources, kind)
        elif intent == "employer_contributions":
            result = _contributions(session, person_id, question, resources)
        elif intent == "document_status":
            result = _documents(session, person_id, question, chosen, resources)
        else:
            raise ValueError(f"no live data for intent {intent!r}")
    except CoreBusinessError as exc:
        log.warning("live data unavailable intent=%s kind=%s session=%s", intent, exc.kind, session.name)
        body, replies = say("records_unavailable", session)
        return LiveAnswer(text=body, quick_replies=replies, ok=False, facts={"records_unavailable": True})
    live_data.audit_read(session, {"intent": intent, "resources": resources})
    return result


def pick_claim(numbers: list[str], text: str) -> str | None:
    """The claim a reply to "which claim?" names: a claim number, or its place ("2")."""
    found = [n for n in find_claim_numbers(text) if n in numbers]
    if found:
        return found[0]
    m = re.fullmatch(r"\s*(?:no\.?|number|#)?\s*(\d{1,2})\s*[.)]?\s*", text or "", re.IGNORECASE)
    if m and 1 <= int(m.group(1)) <= len(numbers):
        return numbers[int(m.group(1)) - 1]
    return None


def _wanted_claim(person_id: str, text: str, chosen: str | None) -> tuple[str | None, str | None]:
    """(claim number asked for, a number asked for that is not the person's)."""
    if chosen:
        return chosen, None
    numbers = find_claim_numbers(text)
    if not numbers:
        return None, None
    owned = {c.claim_number for c in live_data.read_claims(person_id)}
    for n in numbers:
        if n not in owned:
            return None, n
    return numbers[0], None


def _ask_which(
    session: SessionState, intent: str, claims: list[ClaimSummary], header: str, question: str = ""
) -> LiveAnswer:
    numbers = [c.claim_number for c in claims]
    lines = [header]
    for i, c in enumerate(claims, start=1):
        data = {
            "index": i,
            "claim_number": c.claim_number,
            "claim_type": word(session, "claim_type", c.claim_type),
            "status": word(session, "claim_status", c.status),
            "status_date": long_date(c.status_date),
        }
        lines.append(
            line("claim_choice_item" if c.status_date else "claim_choice_item_undated", session, **data)
        )
    lines.append(line("claim_choice_ask", session))
    Dialogue(session).offer_claims(intent, numbers, question)
    facts = {"claims": [_claim_fact(session, c) for c in claims], "question": "which claim"}
    return LiveAnswer(text="\n".join(lines), quick_replies=numbers[:3], facts=_facts(session, intent, facts))


def _claim_fact(session: SessionState, c: ClaimSummary) -> dict[str, Any]:
    return {
        "claim_number": c.claim_number,
        "claim_type": word(session, "claim_type", c.claim_type),
        "status": word(session, "claim_status", c.status),
        "status_date": long_date(c.status_date),
        "incident_date": long_date(c.incident_date),
        "employer_name": c.employer_name,
        "next_step": c.next_step,
    }


def _facts(session: SessionState, intent: str, data: dict[str, Any]) -> dict[str, Any]:
    # Grounding for Gemini: first name only, no NRC or phone (accounts come masked from CoreBusiness).
    return {"intent": intent, "first_name": first_name(session), **data}


def _not_found(session: SessionState, number: str) -> LiveAnswer:
    text, replies = say("claim_not_found", session, {"claim_number": number})
    return LiveAnswer(text=text, quick_replies=replies, facts={"intent": "claim_not_found"})


def _no_claims(session: SessionState, intent: str) -> LiveAnswer:
    text, replies = say("claim_status_none", session, {"first_name": first_name(session)})
    return LiveAnswer(
        text=text,
        quick_replies=replies or [intent_label(session, "claim_submission")],
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
    claims = live_data.read_claims(person_id)
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
        header, _ = say("claim_status_several", session, {"first_name": first_name(session)})
        return _ask_which(session, "claim_status", claims, header)
    number = number or claims[0].claim_number
    detail = live_data.read_claim(person_id, number)
    resources.append(f"claim:{number}")
    header, replies = say("claim_status", session, {"first_name": first_name(session)})
    lines = [header, _claim_line(session, detail)]
    if detail.history:
        last = max(detail.history, key=lambda h: h.date or date.min)
        if last.note:
            note = last.note.rstrip(".")
            lines.append(
                line("claim_latest_update", session, date=long_date(last.date), note=note)
                if last.date
                else line("claim_latest_update_undated", session, note=note)
            )
    if detail.next_step:
        lines.append(line("claim_next_step", session, next_step=detail.next_step.rstrip(".")))
    facts = _claim_fact(session, detail)
    facts["history"] = [
        {"date": long_date(h.date), "status": h.status, "note": h.note} for h in detail.history
    ]
    return LiveAnswer(
        text="\n".join(lines), quick_replies=replies, facts=_facts(session, "claim_status", {"claim": facts})
    )


def _claim_line(session: SessionState, c: ClaimSummary) -> str:
    """ "Claim CLM-1 (work injury of 3 March 2026 at Mazabuka Sugar) is approved since 4 May 2026." """
    description = word(session, "claim_type", c.claim_type)
    if c.incident_date:
        description = line(
            "claim_incident", session, claim_type=description, incident_date=long_date(c.incident_date)
        )
    if c.employer_name:
        description = line(
            "claim_at_employer", session, description=description, employer_name=c.employer_name
        )
    data = {
        "claim_number": c.claim_number,
        "description": description,
        "status": word(session, "claim_status", c.status),
        "status_date": long_date(c.status_date),
    }
    return line("claim_detail" if c.status_date else "claim_detail_undated", session, **data)


def _payment_line(session: SessionState, p: Payment) -> str:
    data = {**_payment_data(session, p), "reason": ""}
    if p.hold_reason:
        data["reason"] = line("payment_hold_reason", session, hold_reason=p.hold_reason.rstrip("."))
    if p.status == "scheduled":
        return line("payment_line_scheduled", session, date=long_date(p.scheduled_date), **data)
    if p.status == "paid":
        return line("payment_line_paid", session, date=long_date(p.paid_date or p.scheduled_date), **data)
    key = "payment_line_on_hold" if p.status == "on_hold" else "payment_line_failed"
    return line(key, session, date=long_date(p.scheduled_date), **data)


def _payments(
    session: SessionState, person_id: str, text: str, resources: list[str], kind: Asked = Asked.OVERVIEW
) -> LiveAnswer:
    payments = live_data.read_payments(person_id)
    resources.append("payments")
    numbers = find_claim_numbers(text)
    if numbers:
        payments = [p for p in payments if p.claim_number in numbers]
    if kind is Asked.NEXT_PAYMENT:
        return _next_payment(session, person_id, payments, resources)
    if kind is Asked.LAST_PAYMENT:
        return _last_payment(session, payments)
    if not payments:
        body, replies = say("payment_none", session, {"first_name": first_name(session)})
        return LiveAnswer(
            text=body, quick_replies=replies, facts=_facts(session, "payment_inquiry", {"payments": []})
        )
    header, replies = say("payment_inquiry", session, {"first_name": first_name(session)})
    problems = [p for p in payments if p.status in ("on_hold", "failed")]
    upcoming = sorted(
        (p for p in payments if p.status == "scheduled"), key=lambda p: p.scheduled_date or date.max
    )
    paid = [p for p in payments if p.status == "paid"][:2]
    chosen = (problems + upcoming[:2] + paid)[:5]
    lines = [header, *(_payment_line(session, p) for p in chosen)]
    if problems:
        lines.append(line("payment_problem_help", session))
    facts = {"payments": [_payment_fact(session, p) for p in chosen]}
    return LiveAnswer(
        text="\n".join(lines), quick_replies=replies, facts=_facts(session, "payment_inquiry", facts)
    )


def _payment_fact(session: SessionState, p: Payment) -> dict[str, Any]:
    return {
        "kind": word(session, "payment_kind", p.kind),
        "amount": money(p.amount, p.currency),
        "status": p.status,
        "scheduled_date": long_date(p.scheduled_date),
        "paid_date": long_date(p.paid_date),
        "method": word(session, "method", p.method),
        "account": p.account_masked,
        "hold_reason": p.hold_reason,
        "claim_number": p.claim_number,
    }


def _contribution_lines(session: SessionState, c: Contributions) -> list[str]:
    lines = []
    if c.assessed_amount is not None:
        amounts = {
            "year": c.assessment_year or "",
            "assessed": money(c.assessed_amount, c.currency),
            "paid": money(c.paid_amount or Decimal(0), c.currency),
            "balance": money(c.balance or Decimal(0), c.currency),
        }
        key = "contribution_assessed" if c.assessment_year else "contribution_assessed_no_year"
        lines.append(line(key, session, **amounts))
    due = long_date(c.due_date)
    if c.status == "overdue":
        lines.append(
            line("contribution_overdue" if due else "contribution_overdue_undated", session, due_date=due)
        )
    elif c.status == "outstanding":
        lines.append(
            line(
                "contribution_outstanding" if due else "contribution_outstanding_undated",
                session,
                due_date=due,
            )
        )
    elif c.status == "paid_up":
        lines.append(line("contribution_paid_up", session))
    else:
        lines.append(line("contribution_not_assessed", session))
    if c.last_payment_date:
        lines.append(line("contribution_last_payment", session, date=long_date(c.last_payment_date)))
    return lines


def _contributions(session: SessionState, person_id: str, text: str, resources: list[str]) -> LiveAnswer:
    employers = Dialogue(session).employer_numbers
    asked = [f"EMP-{m.group(1)}" for m in _EMPLOYER_RE.finditer(text)]
    for number in asked:
        if number.upper() not in {e.upper() for e in employers}:
            body, replies = say("employer_not_found", session)
            return LiveAnswer(text=body, quick_replies=replies, facts={"intent": "employer_not_found"})
    wanted = asked or employers
    if not wanted:
        body, replies = say("employer_not_found", session)
        return LiveAnswer(
            text=body,
            quick_replies=replies,
            facts=_facts(session, "employer_contributions", {"employers": []}),
        )
    lines: list[str] = []
    replies: list[str] = []
    facts = []
    for number in wanted[:3]:
        c = live_data.read_contributions(person_id, employers, number)
        resources.append(f"contributions:{number}")
        header, replies = say("employer_contributions", session, {"employer_name": c.employer_name or number})
        lines.append(f"{header} ({number})" if c.employer_name else header)
        lines.extend(_contribution_lines(session, c))
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
    session: SessionState,
    person_id: str,
    text: str,
    chosen: str | None,
    resources: list[str],
    missing_only: bool = False,
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
            header = line("document_claim_choice", session)
            return _ask_which(session, "document_status", claims, header, text)
    number = number or claims[0].claim_number
    docs = live_data.read_documents(person_id, number)
    resources.append(f"documents:{number}")
    if not docs:
        body, replies = say("document_none", session, {"claim_number": number})
        return LiveAnswer(
            text=body,
            quick_replies=replies,
            facts=_facts(session, "document_status", {"claim_number": number, "documents": []}),
        )
    if missing_only:
        return _missing_documents(session, number, docs)
    header, replies = say("document_status", session, {"claim_number": number})
    lines = [header]
    for d in docs:
        status = word(session, "document_status", d.status)
        if d.status == "received" and d.received_date:
            status = line("document_received_on", session, date=long_date(d.received_date))
        note = line("document_note", session, note=d.note.rstrip(".")) if d.note else ""
        lines.append(line("document_line", session, document_type=d.document_type, status=status, note=note))
    if any(d.status in ("pending", "rejected") for d in docs):
        lines.append(line("document_missing_help", session))
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


# ------------------------------------------------------ the question asked


def _next_payment(
    session: SessionState, person_id: str, payments: list[Payment], resources: list[str]
) -> LiveAnswer:
    """The next payment's date and amount, or why none is due."""
    name = first_name(session)
    upcoming = sorted(
        (p for p in payments if p.status == "scheduled"), key=lambda p: p.scheduled_date or date.max
    )
    held = [p for p in payments if p.status in ("on_hold", "failed")]
    lines: list[str] = []
    if upcoming:
        p = upcoming[0]
        key = "payment_next"
        lines.append(line(key, session, **_payment_data(session, p), date=long_date(p.scheduled_date)))
        if held:
            lines.extend(_payment_line(session, h) for h in held)
    elif held:
        key = "payment_next_held"
        lines.append(line(key, session, first_name=name))
        lines.extend(_payment_line(session, h) for h in held)
        lines.append(line("payment_problem_help", session))
    else:
        key, data = _why_no_payment(session, person_id, resources)
        lines.append(line(key, session, first_name=name, **data))
    _, replies = say(key, session)
    facts = {
        "question": "next payment",
        "answer": key,
        "payments": [_payment_fact(session, p) for p in upcoming[:1] + held],
    }
    return LiveAnswer(
        text="\n".join(lines), quick_replies=replies, facts=_facts(session, "payment_inquiry", facts)
    )


def _why_no_payment(
    session: SessionState, person_id: str, resources: list[str]
) -> tuple[str, dict[str, Any]]:
    """(template key, data) saying why no payment is scheduled, from the person's claims."""
    claims = live_data.read_claims(person_id)
    resources.append("claims")
    by_status = {c.status: c for c in claims}
    if "awaiting_documents" in by_status:
        claim = by_status["awaiting_documents"]
        docs = live_data.read_documents(person_id, claim.claim_number)
        resources.append(f"documents:{claim.claim_number}")
        missing = [d.document_type for d in docs if d.status in ("pending", "rejected")]
        return "payment_none_documents", {"claim_number": claim.claim_number, "documents": ", ".join(missing)}
    for status in ("received", "under_review", "medical_assessment"):
        if status in by_status:
            claim = by_status[status]
            return "payment_none_not_approved", {
                "claim_number": claim.claim_number,
                "status": word(session, "claim_status", claim.status),
            }
    if "rejected" in by_status and not any(c.status in ("approved", "paid") for c in claims):
        return "payment_none_rejected", {"claim_number": by_status["rejected"].claim_number}
    if not claims:
        return "payment_none_no_claim", {}
    return "payment_none_scheduled", {}


def _last_payment(session: SessionState, payments: list[Payment]) -> LiveAnswer:
    paid = sorted(
        (p for p in payments if p.status == "paid"),
        key=lambda p: p.paid_date or p.scheduled_date or date.min,
        reverse=True,
    )
    if not paid:
        text, replies = say("payment_last_none", session, {"first_name": first_name(session)})
        return LiveAnswer(
            text, replies, _facts(session, "payment_inquiry", {"question": "last payment", "payments": []})
        )
    p = paid[0]
    data = {**_payment_data(session, p), "date": long_date(p.paid_date or p.scheduled_date)}
    text, replies = say("payment_last", session, data)
    facts = {"question": "last payment", "payments": [_payment_fact(session, p)]}
    return LiveAnswer(text, replies, _facts(session, "payment_inquiry", facts))


def _payment_data(session: SessionState, p: Payment) -> dict[str, Any]:
    how = word(session, "method", p.method)
    by = ""
    if how:
        by = (
            line("payment_by_to", session, method=how, account=p.account_masked)
            if p.account_masked
            else line("payment_by", session, method=how)
        )
    return {
        "amount": money(p.amount, p.currency),
        "kind": word(session, "payment_kind", p.kind),
        "by": by,
        "first_name": first_name(session),
    }


def _why_rejected(
    session: SessionState, person_id: str, text: str, chosen: str | None, resources: list[str]
) -> LiveAnswer:
    """Why a claim was not approved, and what the person can do next."""
    number, claims, early = _claims_asked(session, "claim_status", person_id, text, chosen, resources)
    if early is not None:
        return early
    rejected = [c for c in claims if c.status == "rejected"]
    if number is not None and all(c.claim_number != number for c in rejected):
        rejected = []
    elif number is not None:
        rejected = [c for c in rejected if c.claim_number == number]
    if not rejected:
        text_, replies = say("claim_not_rejected", session, {"first_name": first_name(session)})
        facts = {"question": "why rejected", "claims": [_claim_fact(session, c) for c in claims]}
        return LiveAnswer(text_, replies, _facts(session, "claim_status", facts))
    claim = rejected[0]  # newest first
    detail = live_data.read_claim(person_id, claim.claim_number)
    resources.append(f"claim:{claim.claim_number}")
    reason = _rejection_reason(detail)
    data = {
        "claim_number": detail.claim_number,
        "date": long_date(detail.status_date),
        "reason": reason,
        "next_step": detail.next_step.rstrip("."),
    }
    lines = [line("claim_rejected_reason" if reason else "claim_rejected_no_reason", session, **data)]
    lines.append(
        line("claim_rejected_next" if detail.next_step else "claim_rejected_next_default", session, **data)
    )
    _, replies = say("claim_rejected_reason", session)
    facts = {"question": "why rejected", "claim": {**_claim_fact(session, detail), "reason": reason}}
    return LiveAnswer("\n".join(lines), replies, _facts(session, "claim_status", facts))


def _rejection_reason(detail: ClaimDetail) -> str:
    """The note CoreBusiness gave with the rejection ("" when none)."""
    for event in sorted(detail.history, key=lambda h: h.date or date.min, reverse=True):
        if event.status == "rejected" and event.note:
            return event.note.rstrip(".")
    return ""


def _missing_documents(session: SessionState, number: str, docs: list[Document]) -> LiveAnswer:
    missing = [d for d in docs if d.status in ("pending", "rejected")]
    facts = {
        "question": "missing documents",
        "claim_number": number,
        "missing": [{"document_type": d.document_type, "status": d.status, "note": d.note} for d in missing],
    }
    if not missing:
        text, replies = say("documents_none_missing", session, {"claim_number": number})
        return LiveAnswer(text, replies, _facts(session, "document_status", facts))
    header, replies = say("documents_missing", session, {"claim_number": number})
    lines = [header]
    for d in missing:
        status = word(session, "document_status", d.status)
        note = line("document_note", session, note=d.note.rstrip(".")) if d.note else ""
        lines.append(line("document_line", session, document_type=d.document_type, status=status, note=note))
    lines.append(line("document_missing_help", session))
    return LiveAnswer("\n".join(lines), replies, _facts(session, "document_status", facts))
