"""Live-data answers for a verified person, against the independent CoreBusiness stub."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from assistant_crm.services.dialogue import gate, live_answers
from assistant_crm.services.integrations import live_data
from assistant_crm.services.integrations.corebusiness import reset_breakers
from assistant_crm.services.models import InboundMessage, LiveAnswer, SessionState
from assistant_crm.services.pipeline import intents
from tests.fakes.corebusiness_stub import PEOPLE, CoreBusinessStub
from tests.support import others_data, running_corebusiness, stub_identifiers

SECRETS = stub_identifiers()


@pytest.fixture
def cb(rt) -> Iterator[CoreBusinessStub]:
    with running_corebusiness(rt) as stub:
        yield stub


@pytest.fixture(autouse=True)
def _no_identifiers_in_logs(caplog):
    yield
    for secret in SECRETS:
        assert secret not in caplog.text


def verified(person_id: str) -> SessionState:
    """A WhatsApp session verified the real way (sender phone = phone on record)."""
    p = PEOPLE[person_id]
    s = SessionState(
        name=uuid.uuid4().hex[:10], channel="whatsapp", phone=p["phone"], platform_sender_id=p["phone"][1:]
    )
    for text in ("what is my claim status", f"{p['full_name']} {p['nrc']}"):
        r = gate.check(
            s,
            InboundMessage(
                channel="whatsapp", text=text, sender_id=s.platform_sender_id, sender_phone=p["phone"]
            ),
            intents.classify(text, pending=s.context.get("pending")),
        )
    assert r.action == "pass" and s.verified_person_id == person_id
    return s


def ask(s: SessionState, intent: str, text: str = "") -> LiveAnswer:
    return live_answers.live(s, intent, InboundMessage(channel=s.channel, text=text or intent))


def test_formatting_helpers():
    assert live_data.money(Decimal("1250"), "ZMW") == "ZMW 1,250.00"
    assert live_data.money(Decimal("1234567.5"), "ZMW") == "ZMW 1,234,567.50"
    assert live_data.long_date(date(2026, 3, 3)) == "3 March 2026"
    assert live_data.long_date(None) == ""


def test_several_claims_are_listed_and_a_choice_answers(cb):
    s = verified("S-1001")
    a = ask(s, "claim_status")
    assert a.ok and "CLM-2026-10001" in a.text and "CLM-2025-10002" in a.text
    assert s.context["pending"] == "claim_choice" and "Which one" in a.text
    assert "3 March 2026" in a.text
    # "2" picks the second listed claim (the gate resumes claim_status for it).
    passed = gate.check(
        s, InboundMessage(channel="whatsapp", text="2"), intents.classify("2", pending="claim_choice")
    )
    assert passed.action == "pass" and passed.intent == "claim_status"
    detail = live_answers.live(s, passed.intent, InboundMessage(channel="whatsapp", text="2"))
    assert (
        "CLM-2025-10002" in detail.text and "approved" in detail.text and "CLM-2026-10001" not in detail.text
    )
    assert s.context.get("pending") is None
    for leak in others_data("S-1001"):
        assert leak not in a.text + detail.text


def test_claim_number_in_message_gives_its_detail_and_next_step(cb):
    s = verified("S-1001")
    a = ask(s, "claim_status", "status of clm 2026 10001 please")
    assert "Claim CLM-2026-10001" in a.text and "Next step: Submit the medical report (WCF 3)." in a.text
    assert "15 January 2026" in a.text and a.facts["claim"]["claim_number"] == "CLM-2026-10001"


def test_someone_elses_claim_number_is_not_shown(cb):
    s = verified("S-1001")
    cb.calls.clear()
    a = ask(s, "claim_status", "status of CLM-2026-20001")
    assert "couldn't find claim CLM-2026-20001 among your claims" in a.text
    assert "Mazabuka" not in a.text and "under review" not in a.text
    assert not any("CLM-2026-20001" in path for _, path in cb.calls)
    with pytest.raises(live_data.NotYours):
        live_data.read_claim("S-1001", "CLM-2026-20001")
    with pytest.raises(live_data.NotYours):
        live_data.read_documents("S-1001", "CLM-2026-20001")


def test_no_claims_offers_to_start_one(cb):
    s = verified("S-1004")
    a = ask(s, "claim_status")
    assert a.ok and "couldn't find any claims" in a.text
    assert a.facts.get("offer") == "claim_submission"
    assert "Report an accident" in a.quick_replies


def test_payments_in_plain_words(cb):
    s = verified("S-1001")
    a = ask(s, "payment_inquiry", "show my payments")
    assert (
        "Next payment: ZMW 12,500.00 lump sum, scheduled for 1 December 2026 by bank to ****1111." in a.text
    )
    assert "Paid: ZMW 1,250.00 medical refund on 3 March 2026 by mobile money to ****2222." in a.text
    s3 = verified("S-1003")
    b = ask(s3, "payment_inquiry")
    assert "Not paid (failed): ZMW 999.99 monthly pension" in b.text and "Wallet closed" in b.text
    for leak in others_data("S-1003"):
        assert leak not in b.text


def test_on_hold_payment_gives_the_reason(cb):
    s = verified("S-1002")
    a = ask(s, "payment_inquiry")
    assert (
        "On hold: ZMW 7,777.00 funeral grant due 1 July 2026. Reason: Death certificate rejected." in a.text
    )


def test_employer_contributions_for_the_linked_employer_only(cb):
    s = verified("S-1002")
    a = ask(s, "employer_contributions", "how much do we owe")
    assert "Mazabuka Sugar Estates" in a.text and "balance ZMW 80,000.00" in a.text
    assert "overdue" in a.text and "1 April 2026" in a.text
    b = ask(s, "employer_contributions", "and EMP-900002?")
    assert "Secret Holdings" not in b.text
    with pytest.raises(live_data.NotYours):
        live_data.read_contributions("S-1002", ["EMP-900001"], "EMP-900002")
    c = ask(verified("S-1001"), "employer_contributions")
    assert "couldn't find an employer account" in c.text


def test_documents_of_the_claim_waiting_for_them(cb):
    s = verified("S-1001")
    a = ask(s, "document_status")
    assert "CLM-2026-10001" in a.text and "Medical report (WCF 3): still needed" in a.text
    assert "received on 20 January 2026" in a.text
    s2 = verified("S-1002")
    b = ask(s2, "document_status")
    assert "Death certificate: not accepted (Not certified)" in b.text


def test_reads_are_cached_per_person_for_two_minutes(cb, rt):
    s = verified("S-1001")
    ask(s, "payment_inquiry")
    calls = len(cb.calls)
    ask(s, "payment_inquiry")
    assert len(cb.calls) == calls  # served from the cache
    keys = [k for k in ("acrm:live:S-1001:payments:12",) if rt.cache.get(k) is not None]
    assert keys, "the cache key carries the person id"
    s3 = verified("S-1003")
    b = ask(s3, "payment_inquiry")
    assert len(cb.calls) > calls  # another person never gets the first person's cached data
    assert "12,500.00" not in b.text


def test_corebusiness_down_gives_the_plain_reply(cb):
    s = verified("S-1001")
    for mode in ("500", "malformed", "missing_field", "hang"):
        cb.mode = mode
        cb.hang_seconds = 2
        reset_breakers()
        a = ask(s, "document_status")
        assert not a.ok and "can't reach our records right now" in a.text, mode
        assert "CLM" not in a.text


def test_answers_are_audited_without_identifiers(cb, rt):
    s = verified("S-1001")
    ask(s, "claim_status", "CLM-2026-10001")
    rt.queue.join(timeout=10)
    rows = [r for r in rt.store.list("Assistant Audit Log") if r["action"] == "live_data.read"]
    assert rows and rows[-1]["subject"] == "S-1001"
    assert "claim:CLM-2026-10001" in rows[-1]["details"]
    assert PEOPLE["S-1001"]["nrc"] not in str(rows)


def test_facts_for_gemini_carry_no_identifiers(cb):
    s = verified("S-1001")
    for intent in ("claim_status", "payment_inquiry", "document_status"):
        a = ask(s, intent, "CLM-2026-10001" if intent != "payment_inquiry" else "")
        text = str(a.facts)
        assert PEOPLE["S-1001"]["nrc"] not in text and PEOPLE["S-1001"]["phone"] not in text
        assert "Mumba" not in text  # first name only
