"""The durable inbox: stored before the answer, processed once, in order, recovered after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant_crm.services.delivery import inbox
from assistant_crm.services.delivery.channels import whatsapp_in
from assistant_crm.services.delivery.channels.inbound import InboundEvent
from tests.fakes import webhook_payloads as wp
from tests.support import concurrently, fake_whatsapp_graph

MSG = "Omnichannel Message"


@pytest.fixture
def graph(rt):
    """A fake Graph API the WhatsApp replies go to."""
    with fake_whatsapp_graph(rt) as fake:
        yield fake


def _wa_event(
    text: str, wa_id: str = "260971234567", ts: int | None = None, mid: str | None = None
) -> InboundEvent:
    return whatsapp_in.parse(wp.wa_webhook(wp.wa_value([wp.wa_text(text, wa_id=wa_id, ts=ts, mid=mid)])))[0]


def _store_inbound(rt, event: InboundEvent, status: str, **fields) -> str:
    """An inbound row written straight to the store, as a crashed worker leaves it."""
    return rt.store.insert(
        MSG,
        {
            "platform": "whatsapp",
            "direction": "inbound",
            "event_type": "message",
            "recipient_id": event.sender_id,
            "platform_message_id": event.platform_message_id,
            "idempotency_key": event.idempotency_key,
            "status": status,
            "payload": event.to_payload(),
            **fields,
        },
    )


def _inbound_rows(rt, **filters):
    return rt.store.list(MSG, {"direction": "inbound", **filters}, order_by="creation asc")


def test_accept_stores_before_returning_and_dedupes(rt, graph):
    event = _wa_event("Hello")
    event_id, duplicate = inbox.accept_event(event)
    assert not duplicate
    row = rt.store.get(MSG, event_id)  # there the moment accept returns
    assert row["idempotency_key"] == f"whatsapp:{event.platform_message_id}"
    assert row["direction"] == "inbound" and row["event_type"] == "message"
    assert row["recipient_id"] == "260971234567" and row["payload"]["text"] == "Hello"
    again_id, again_dup = inbox.accept_event(event)
    assert (again_id, again_dup) == (event_id, True)
    assert rt.queue.join(timeout=20)
    assert rt.store.count(MSG, {"direction": "inbound"}) == 1
    assert rt.store.get(MSG, event_id)["status"] == "processed"


def test_concurrent_accepts_of_one_message_store_one_row_and_one_turn(rt, graph):
    event = _wa_event("Muli shani")
    results: list[tuple[str, bool]] = concurrently(8, lambda: inbox.accept_event(event))
    assert len({r[0] for r in results}) == 1
    assert sorted(r[1] for r in results) == [False] + [True] * 7
    assert rt.queue.join(timeout=30)
    assert rt.store.count(MSG, {"direction": "inbound"}) == 1
    row = _inbound_rows(rt)[0]
    assert row["status"] == "processed" and row["session"]
    user_turns = rt.store.count("Chat History", {"session": row["session"], "direction": "in"})
    assert user_turns == 1
    assert graph.count("accepted") >= 1
    assert {m["recipient"] for m in graph.accepted} == {"260971234567"}
    # one reply (possibly split in parts): every part answers the one turn
    assert rt.store.count(MSG, {"direction": "outbound"}) == graph.count("accepted")


def test_channel_identity_reaches_the_session(rt, graph):
    event = _wa_event("Good morning")
    event_id, _ = inbox.accept_event(event)
    assert rt.queue.join(timeout=20)
    row = rt.store.get(MSG, event_id)
    session = rt.store.get("Chat Session", row["session"])
    assert session["channel"] == "whatsapp"
    assert session["platform_sender_id"] == "260971234567"
    assert session["phone"] == "+260971234567"
    assert session["display_name"] == "Mwila Banda"


def test_one_senders_events_are_processed_in_platform_time_order(rt, graph):
    # Three messages stored while no worker ran (a crash right after the
    # inserts), arriving out of platform order; recover() must answer them in order.
    old = rt.clock.now() - timedelta(minutes=2)
    for text, ts in (("third", 1_700_000_030), ("first", 1_700_000_010), ("second", 1_700_000_020)):
        event = _wa_event(text, ts=ts)
        _store_inbound(rt, event, "received", sequence=ts, creation=old, modified=old)
    assert inbox.recover() == 3
    assert rt.queue.join(timeout=30)
    rows = _inbound_rows(rt)
    assert {r["status"] for r in rows} == {"processed"}
    session = rows[0]["session"]
    texts = [
        h["text"]
        for h in rt.store.list(
            "Chat History", {"session": session, "direction": "in"}, order_by="creation asc"
        )
    ]
    assert texts == ["first", "second", "third"]


def test_an_event_that_finds_its_sender_busy_is_left_to_the_holder_and_answered(rt, graph):
    event = _wa_event("Hello")
    key = inbox._lock_key("whatsapp", event.sender_id)
    assert inbox._take_lock(rt, key, "holder")  # another worker is answering this sender
    event_id, _ = inbox.accept_event(event)
    assert rt.queue.join(timeout=20)
    assert rt.store.get(MSG, event_id)["status"] == "received"  # left to the holder
    # The holder lets go after its last read: the flag sends it round once more.
    assert inbox._let_go(rt, key, "holder")
    inbox._drain("whatsapp", event.sender_id)
    assert rt.queue.join(timeout=20)
    assert rt.store.get(MSG, event_id)["status"] == "processed"
    assert {m["recipient"] for m in graph.accepted} == {event.sender_id}
    assert not inbox._let_go(rt, key, "nobody")  # the flag is down again, the lock free
    assert inbox._take_lock(rt, key, "next")


def test_a_worker_dying_mid_turn_is_recovered(rt, graph):
    event = _wa_event("Is my claim paid?")
    # What a killed worker leaves behind: the row claimed ("processing") and never finished.
    stale = rt.clock.now() - timedelta(minutes=6)
    name = _store_inbound(rt, event, "processing", modified=stale)
    fresh = _wa_event("still being answered", wa_id="260961111111")
    fresh_id = _store_inbound(rt, fresh, "processing")
    assert inbox.recover() == 1  # the recent one may still be running: left alone
    assert rt.queue.join(timeout=20)
    row = rt.store.get(MSG, name)
    assert row["status"] == "processed" and row["attempts"] == 1 and row["session"]
    assert rt.store.get(MSG, fresh_id)["status"] == "processing"
    assert graph.texts("260971234567")


def test_a_failing_event_is_retried_then_dead_with_the_error_kept(rt):
    # A stored payload the pipeline cannot read: every attempt fails.
    name = rt.store.insert(
        MSG,
        {
            "platform": "whatsapp",
            "direction": "inbound",
            "event_type": "message",
            "idempotency_key": "whatsapp:wamid.BROKEN",
            "status": "received",
            "payload": {"nonsense": True},
        },
    )
    for attempt in range(1, inbox.MAX_ATTEMPTS + 1):
        inbox.process(name)
        row = rt.store.get(MSG, name)
        assert row["attempts"] == attempt
        assert row["status"] == ("dead" if attempt == inbox.MAX_ATTEMPTS else "received")
        assert "TypeError" in row["last_error"]
    inbox.process(name)  # dead stays dead
    assert rt.store.get(MSG, name)["attempts"] == inbox.MAX_ATTEMPTS


def test_unicode_emoji_and_rtl_reach_the_pipeline_intact(rt, graph):
    text = "مرحبا 👷🏾‍♀️ claim status? שלום — Muli shani"
    event_id, _ = inbox.accept_event(_wa_event(text))
    assert rt.queue.join(timeout=20)
    row = rt.store.get(MSG, event_id)
    assert row["payload"]["text"] == text
    history = rt.store.list("Chat History", {"session": row["session"], "direction": "in"})
    assert history[0]["text"] == text


def test_status_receipts_update_the_outbound_record(rt, graph):
    event_id, _ = inbox.accept_event(_wa_event("hello"))
    assert rt.queue.join(timeout=20)
    out = rt.store.list(MSG, {"direction": "outbound"}, order_by="creation asc")
    assert out and out[0]["status"] == "sent" and out[0]["platform_message_id"]
    status = whatsapp_in.parse(
        wp.wa_webhook(wp.wa_value(statuses=[wp.wa_status(out[0]["platform_message_id"], "delivered")]))
    )[0]
    inbox.accept_event(status)
    assert rt.queue.join(timeout=20)
    assert rt.store.get(MSG, out[0]["name"])["status"] == "delivered"
    receipts = _inbound_rows(rt, event_type="status")
    assert len(receipts) == 1 and receipts[0]["status"] == "processed"


def _receipt(wamid: str, state: str) -> InboundEvent:
    return whatsapp_in.parse(wp.wa_webhook(wp.wa_value(statuses=[wp.wa_status(wamid, state)])))[0]


def test_receipts_that_overtake_the_send_wait_for_its_id_and_then_apply(rt, graph):
    inbox.accept_event(_wa_event("hello"))
    assert rt.queue.join(timeout=20)
    out = rt.store.list(MSG, {"direction": "outbound"}, order_by="creation asc")[0]
    # The platform posted "read" and "delivered" (out of order) before it
    # answered the send: the record does not have this id yet.
    later_id = "wamid.answered-later"
    for state in ("read", "delivered"):
        inbox.accept_event(_receipt(later_id, state))
    assert rt.queue.join(timeout=20)
    assert {r["status"] for r in _inbound_rows(rt, event_type="status")} == {"waiting"}
    assert rt.store.get(MSG, out["name"])["status"] == "sent"
    # The send's answer is recorded: the waiting receipts apply, never backwards.
    rt.store.update_where(MSG, {"name": out["name"]}, {"platform_message_id": later_id})
    rt.store.commit()
    assert inbox.apply_waiting_receipts("whatsapp", later_id) == 2
    assert rt.store.get(MSG, out["name"])["status"] == "read"
    assert {r["status"] for r in _inbound_rows(rt, event_type="status")} == {"processed"}


def test_a_receipt_for_a_message_never_ours_is_closed_by_recover(rt):
    event_id, _ = inbox.accept_event(_receipt("wamid.sent-from-the-business-app", "delivered"))
    assert rt.queue.join(timeout=20)
    assert rt.store.get(MSG, event_id)["status"] == "waiting"
    assert inbox.recover() == 0  # still waiting: not yet stale
    assert rt.store.get(MSG, event_id)["status"] == "waiting"
    stale = rt.clock.now() - inbox.STALE_WAITING - timedelta(seconds=1)
    rt.store.update_where(MSG, {"name": event_id}, {"modified": stale})
    rt.store.commit()
    inbox.recover()
    row = rt.store.get(MSG, event_id)
    assert row["status"] == "processed" and "no outbound message" in row["last_error"]
