"""Issue 12.1: only the platform's own sender id proves possession of a phone."""

from __future__ import annotations

import pytest

from assistant_crm.services.delivery.channels import make_com_in
from assistant_crm.services.delivery.channels.inbound import to_inbound_message
from assistant_crm.services.pipeline import reply
from tests.fakes import webhook_payloads as wp
from tests.fakes.corebusiness_stub import PEOPLE
from tests.support import running_corebusiness_and_sms

A = PEOPLE["S-1001"]
ATTACKER = "260977999888"


@pytest.mark.parametrize(
    ("platform", "sender_id", "phone", "expected"),
    [
        ("whatsapp", ATTACKER, A["phone"], ""),  # relayed phone differs from the sender id
        ("whatsapp", ATTACKER, None, "+" + ATTACKER),
        ("whatsapp", A["phone"].lstrip("+"), A["phone"], A["phone"]),
        ("whatsapp", A["phone"].lstrip("+"), "0" + A["phone"][4:], A["phone"]),  # same number, local form
        ("sms", "+" + ATTACKER, A["phone"], ""),
        ("telegram", "553301928", A["phone"], ""),  # not a phone channel: never proof
        ("messenger", "6789012345678901", A["phone"], ""),
    ],
)
def test_make_com_sender_phone_counts_only_when_it_is_the_sender_id(platform, sender_id, phone, expected):
    body = wp.make_message("hi", platform=platform, sender_id=sender_id, phone=phone)
    assert make_com_in.parse(body).sender_phone == expected


def _turn(platform: str, sender_id: str, phone: str | None, text: str):
    event = make_com_in.parse(wp.make_message(text, platform=platform, sender_id=sender_id, phone=phone))
    return reply.handle_message(to_inbound_message(event))


def _actions(rt) -> list[dict]:
    return rt.store.list("Assistant Audit Log", order_by="sequence asc")


def test_a_relayed_phone_of_someone_else_does_not_verify(rt):
    with running_corebusiness_and_sms(rt) as (_cb, sms):
        _turn("whatsapp", ATTACKER, A["phone"], "what is my claim status")
        answer = _turn("whatsapp", ATTACKER, A["phone"], f"{A['full_name']} {A['nrc']}")
        rt.queue.join(timeout=10)
        assert not any(r["action"] == "verification.succeeded" for r in _actions(rt))
        assert "CLM-" not in answer.text
        # The code goes to the phone on record, not to the relay's sender.
        assert [s.to for s in sms.sent] == [A["phone"]]
        sessions = rt.store.list("Chat Session", filters={"platform_sender_id": ATTACKER})
        assert sessions and not sessions[0]["verified_person_id"]


def test_the_senders_own_number_still_verifies(rt):
    with running_corebusiness_and_sms(rt) as (_cb, sms):
        own = A["phone"].lstrip("+")
        _turn("whatsapp", own, A["phone"], "what is my claim status")
        _turn("whatsapp", own, A["phone"], f"{A['full_name']} {A['nrc']}")
        rt.queue.join(timeout=10)
        succeeded = [r for r in _actions(rt) if r["action"] == "verification.succeeded"]
        assert len(succeeded) == 1 and "sender_phone" in succeeded[0]["details"]
        assert sms.sent == []
