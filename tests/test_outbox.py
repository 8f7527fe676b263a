"""The outbox end to end: records, splitting, dispatch, retries, order,
dead-letters, the WhatsApp window, receipts — against fake platforms over
real HTTP, on the standalone runtime."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from assistant_crm.services.delivery import outbox
from assistant_crm.services.infra.errors import ValidationError
from assistant_crm.services.models import OutboundMessage
from tests.fakes.platform_servers import FakeAfricasTalking, FakeGraphAPI, FakeMakeCom, FakeTelegram
from tests.support import set_settings

DT = "Omnichannel Message"
TOKEN = "777:AAbb"


@pytest.fixture
def telegram(rt):
    with FakeTelegram(token=TOKEN) as fake:
        set_settings(
            rt,
            telegram_api_base_url=fake.url,
            telegram_bot_token=TOKEN,
            outbound_backoff_base_seconds=0.01,
            outbound_backoff_max_seconds=0.05,
        )
        yield fake


@pytest.fixture
def graph(rt):
    with FakeGraphAPI(whatsapp_token="wa-secret", page_token="page-secret", phone_number_id="10655") as fake:
        set_settings(
            rt,
            graph_api_base_url=fake.url,
            whatsapp_access_token="wa-secret",
            whatsapp_phone_number_id="10655",
            messenger_page_access_token="page-secret",
            messenger_page_id="4242",
        )
        yield fake


@pytest.fixture
def at(rt):
    with FakeAfricasTalking(username="wcfcb", api_key="at-secret") as fake:
        set_settings(
            rt,
            africastalking_base_url=fake.url,
            africastalking_username="wcfcb",
            africastalking_api_key="at-secret",
            sms_provider="africastalking",
        )
        yield fake


def records(rt, **filters):
    return rt.store.list(DT, {"direction": "outbound", **filters}, order_by="sequence asc")


def make_due(rt):
    """Pull every retry's time forward (instead of sleeping through backoff)."""
    past = rt.clock.now() - timedelta(seconds=1)
    rt.store.update_where(DT, {"direction": "outbound", "status": "queued"}, {"next_attempt_at": past})


def drain(rt, rounds: int = 200) -> None:
    """Run the cron's work until nothing is queued (bounded)."""
    rt.queue.join(timeout=10)
    for _ in range(rounds):
        if not rt.store.count(DT, {"direction": "outbound", "status": ("in", ["queued", "sending"])}):
            return
        make_due(rt)
        outbox.dispatch_due()


def add_inbound(rt, session: str, sender: str, ago: timedelta = timedelta(minutes=1)) -> None:
    name = rt.store.insert(
        DT,
        {
            "platform": "whatsapp",
            "direction": "inbound",
            "session": session,
            "recipient_id": sender,
            "idempotency_key": f"whatsapp:wamid.{session}{ago}",
            "status": "processed",
            "payload": {"text": "hi"},
        },
    )
    rt.store.update(DT, name, {"creation": rt.clock.now() - ago})


def tg(text: str, chat: str = "553301928", **kw) -> OutboundMessage:
    return OutboundMessage(
        channel="telegram", recipient_id=chat, text=text, session_id=kw.pop("session_id", "S1"), **kw
    )


# --------------------------------------------------------------------------- enqueue and split


def test_enqueue_creates_records_and_sends(rt, telegram):
    name = outbox.enqueue_outbound(tg("Hello 👋 مرحبا", quick_replies=["Yes", "No"], reply_to="12"))
    row = rt.store.get(DT, name)
    assert row["direction"] == "outbound" and row["platform"] == "telegram" and row["sequence"] == 1
    assert row["idempotency_key"].startswith("out:")
    assert row["payload"]["text"] == "Hello 👋 مرحبا" and row["payload"]["quick_replies"] == ["Yes", "No"]
    assert row["payload"]["session"] == "S1" and row["payload"]["reply_to"] == "12"
    rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "sent" and row["attempts"] == 1
    assert row["platform_message_id"] == "1"
    assert telegram.texts("553301928") == ["Hello 👋 مرحبا"]


def test_whatsapp_5000_characters_go_as_two_parts_in_order(rt, graph):
    add_inbound(rt, "W1", "260971234567")
    text = " ".join(f"w{i:04d}" for i in range(850))  # 5,099 characters
    first = outbox.enqueue_outbound(
        OutboundMessage(channel="whatsapp", recipient_id="260971234567", text=text, session_id="W1")
    )
    rt.queue.join(timeout=10)
    rows = records(rt, platform="whatsapp")
    assert [r["sequence"] for r in rows] == [1, 2] and rows[0]["name"] == first
    assert all(r["status"] == "sent" and r["platform_message_id"].startswith("wamid.") for r in rows)
    sent = graph.texts("260971234567")
    assert len(sent) == 2 and all(len(s) <= 4096 for s in sent)
    assert " ".join(sent) == text


def test_messenger_parts_of_2000_with_quick_replies_on_the_last(rt, graph):
    text = ("Ishuko lya ba WCFCB. " * 220).strip()  # ~4,600 characters
    outbox.enqueue_outbound(
        OutboundMessage(channel="messenger", recipient_id="2468", text=text, quick_replies=["Menu"])
    )
    rt.queue.join(timeout=10)
    bodies = [r.json for r in graph.received]
    assert len(bodies) == 3
    assert all(len(b["message"]["text"]) <= 2000 for b in bodies)
    assert (
        "quick_replies" not in bodies[0]["message"]
        and bodies[-1]["message"]["quick_replies"][0]["title"] == "Menu"
    )
    assert " ".join(b["message"]["text"] for b in bodies) == text


def test_sms_gsm7_and_ucs2_and_segment_cap(rt, at):
    set_settings(rt, sms_max_segments=2)
    plain = "Your payment of ZMW 1,250.00 was made on 24 Nov."
    emoji = "Muli shani 🙂 — your claim is approved ✅"
    long_text = ("Contributions for October are due by the 10th of the month. " * 12).strip()
    for t in (plain, emoji, long_text):
        outbox.enqueue_outbound(OutboundMessage(channel="sms", recipient_id="+260971234567", text=t))
    rt.queue.join(timeout=10)
    drain(rt)
    sent = at.texts("+260971234567")
    assert sent[:2] == [plain, emoji]  # unicode intact on the wire
    from assistant_crm.services.delivery.segments import sms_info

    assert (
        sms_info(sent[2]).segments == 2
        and sent[2].endswith("...")
        and long_text.startswith(sent[2][:-3].rstrip())
    )
    last = records(rt, platform="sms")[-1]
    assert "truncated" in last["payload"]["note"] and last["status"] == "sent"


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        (OutboundMessage(channel="web", recipient_id="x", text="hi"), "channel"),
        (OutboundMessage(channel="fax", recipient_id="x", text="hi"), "channel"),
        (OutboundMessage(channel="telegram", recipient_id="", text="hi"), "recipient_id"),
        (OutboundMessage(channel="telegram", recipient_id="1", text="   "), "text"),
    ],
)
def test_bad_outbound_messages_are_refused_with_the_field(rt, msg, field, caplog):
    with pytest.raises(ValidationError) as err:
        outbox.enqueue_outbound(msg)
    assert err.value.field == field and field in str(err.value)
    assert rt.store.count(DT) == 0
    assert any(r.name == "assistant_crm.outbox" for r in caplog.records)


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_is_honoured(rt, graph):
    add_inbound(rt, "W2", "260977000001")
    graph.fail(429, retry_after=30, times=1)
    name = outbox.enqueue_outbound(
        OutboundMessage(channel="whatsapp", recipient_id="260977000001", text="hi", session_id="W2")
    )
    rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "queued" and row["attempts"] == 1 and "429" in row["last_error"]
    assert row["next_attempt_at"] >= rt.clock.now() + timedelta(seconds=25)
    assert (
        outbox.dispatch_due()["requeued"] == 0 and rt.store.get(DT, name)["status"] == "queued"
    )  # not due yet
    make_due(rt)
    outbox.dispatch_due()
    row = rt.store.get(DT, name)
    assert row["status"] == "sent" and row["attempts"] == 2 and row["last_error"] == ""
    assert graph.count() == 2 and len(graph.accepted) == 1


def test_telegram_retry_after_in_body_is_honoured(rt, telegram):
    telegram.rate_limit(retry_after=40)
    name = outbox.enqueue_outbound(tg("hi"))
    rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "queued" and row["next_attempt_at"] >= rt.clock.now() + timedelta(seconds=35)


def test_platform_500_for_a_while_then_everything_in_order_once(rt, telegram):
    # 30 failures shared by three conversation heads: about ten attempts each.
    set_settings(rt, outbound_max_attempts=20)
    telegram.fail(500, times=30)
    expected = {chat: [f"{chat} reply {i} ✅" for i in range(6)] for chat in ("1001", "1002", "1003")}
    for i in range(6):
        for chat in expected:
            outbox.enqueue_outbound(tg(expected[chat][i], chat=chat, session_id=f"S{chat}"))
    drain(rt)
    for chat, texts in expected.items():
        assert telegram.texts(chat) == texts  # in order, none lost, none doubled
    assert telegram.count("failed:500") == 30
    assert all(r["status"] == "sent" for r in records(rt))


def test_a_failed_part_holds_back_the_later_parts(rt, telegram):
    telegram.fail(500, times=1)
    a = outbox.enqueue_outbound(tg("first"))
    b = outbox.enqueue_outbound(tg("second"))
    rt.queue.join(timeout=10)
    assert rt.store.get(DT, a)["status"] == "queued"
    assert rt.store.get(DT, b)["status"] == "queued"  # waits behind the first
    assert outbox.dispatch(b) == "queued" and telegram.count("accepted") == 0
    drain(rt)
    assert telegram.texts("553301928") == ["first", "second"]


def test_dead_letter_after_max_attempts_with_error_visible(rt, telegram, caplog):
    set_settings(rt, outbound_max_attempts=3)
    telegram.fail(502, seconds=600)
    name = outbox.enqueue_outbound(tg("never"))
    drain(rt)
    row = rt.store.get(DT, name)
    assert row["status"] == "dead" and row["attempts"] == 3
    assert "502" in row["last_error"] and "gave up after 3 attempts" in row["last_error"]
    assert telegram.count() == 3
    assert any("dead" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_permanent_error_is_dead_at_once_and_does_not_block_the_next(rt, telegram):
    telegram.fail(
        403, body={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    )
    a = outbox.enqueue_outbound(tg("one"))
    b = outbox.enqueue_outbound(tg("two"))
    drain(rt)
    assert rt.store.get(DT, a)["status"] == "dead" and "blocked" in rt.store.get(DT, a)["last_error"]
    assert rt.store.get(DT, b)["status"] == "sent" and telegram.texts() == ["two"]


def test_hanging_platform_does_not_stick_the_worker(rt, telegram):
    set_settings(rt, outbound_read_timeout_seconds=0.5)
    telegram.hang(times=1, match=lambda req: (req.json or {}).get("chat_id") == 2001)
    slow = outbox.enqueue_outbound(tg("to the slow chat", chat="2001"))
    fast = [outbox.enqueue_outbound(tg(f"fast {i}", chat="2002")) for i in range(3)]
    rt.queue.join(timeout=10)
    assert [rt.store.get(DT, n)["status"] for n in fast] == ["sent"] * 3
    row = rt.store.get(DT, slow)
    assert row["status"] == "queued" and "timeout" in row["last_error"]
    telegram.release()
    drain(rt)
    assert rt.store.get(DT, slow)["status"] == "sent"
    assert telegram.texts("2001") == ["to the slow chat"]


def test_a_hanging_conversation_and_others_in_one_dispatch_round(rt, telegram):
    """dispatch_due sends conversation heads in parallel: one hung platform
    call does not hold up the others in the same round."""
    set_settings(rt, outbound_read_timeout_seconds=0.5)
    rt.queue.join(timeout=10)
    names = {}
    for chat in ("3001", "3002", "3003"):
        rt.store.insert(
            DT,
            {
                "platform": "telegram",
                "direction": "outbound",
                "recipient_id": chat,
                "status": "queued",
                "idempotency_key": f"out:t{chat}",
                "sequence": 1,
                "attempts": 0,
                "next_attempt_at": rt.clock.now() - timedelta(seconds=1),
                "payload": {"channel": "telegram", "recipient_id": chat, "text": f"hello {chat}"},
            },
        )
        names[chat] = rt.store.get_by(DT, {"idempotency_key": f"out:t{chat}"})["name"]
    telegram.hang(times=1, match=lambda req: (req.json or {}).get("chat_id") == 3001)
    counts = outbox.dispatch_due()
    assert counts.get("sent") == 2 and counts.get("queued") == 1
    assert rt.store.get(DT, names["3001"])["status"] == "queued"
    telegram.release()


def test_parts_waiting_behind_a_backing_off_head_do_not_starve_others(rt, telegram):
    rt.queue.join(timeout=10)
    now = rt.clock.now()

    def row(chat: str, seq: int, due, key: str, attempts: int = 0) -> str:
        return rt.store.insert(
            DT,
            {
                "platform": "telegram",
                "direction": "outbound",
                "recipient_id": chat,
                "status": "queued",
                "attempts": attempts,
                "sequence": seq,
                "idempotency_key": f"out:{key}",
                "next_attempt_at": due,
                "payload": {"channel": "telegram", "recipient_id": chat, "text": key},
            },
        )

    later = now + timedelta(minutes=10)
    row("7001", 1, later, "a1", attempts=3)  # backing off
    followers = [row("7001", i, now - timedelta(minutes=5), f"a{i}") for i in range(2, 12)]
    other = row("7002", 1, now - timedelta(seconds=1), "b1")
    for _ in range(4):
        outbox.dispatch_due(limit=5)
    assert rt.store.get(DT, other)["status"] == "sent"
    assert all(rt.store.get(DT, n)["next_attempt_at"] >= later for n in followers)
    assert telegram.texts("7001") == []


def test_a_retry_holds_the_later_parts_back_as_long(rt, telegram):
    telegram.fail(500, times=1)
    set_settings(rt, outbound_backoff_base_seconds=60, outbound_backoff_max_seconds=60)
    a = outbox.enqueue_outbound(tg("first"))
    b = outbox.enqueue_outbound(tg("second"))
    rt.queue.join(timeout=10)
    ra, rb = rt.store.get(DT, a), rt.store.get(DT, b)
    assert ra["status"] == rb["status"] == "queued"
    assert rb["next_attempt_at"] >= ra["next_attempt_at"] > rt.clock.now() + timedelta(seconds=20)


def test_record_stuck_in_sending_is_retried(rt, telegram, caplog):
    rt.queue.join(timeout=10)
    name = rt.store.insert(
        DT,
        {
            "platform": "telegram",
            "direction": "outbound",
            "recipient_id": "4001",
            "status": "sending",
            "attempts": 1,
            "idempotency_key": "out:stuck",
            "sequence": 1,
            "next_attempt_at": rt.clock.now() - timedelta(seconds=5),
            "payload": {"channel": "telegram", "recipient_id": "4001", "text": "after a crash"},
        },
    )
    counts = outbox.dispatch_due()
    assert counts["requeued"] == 1 and counts.get("sent") == 1
    row = rt.store.get(DT, name)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert telegram.texts("4001") == ["after a crash"]
    assert any("stuck" in r.getMessage() for r in caplog.records)


def _concurrent_dispatchers(rt, telegram) -> None:
    # Let the records pile up first (a burst while the queue is busy).
    rt.queue.join(timeout=10)
    for chat in range(5001, 5011):
        for i in range(3):
            rt.store.insert(
                DT,
                {
                    "platform": "telegram",
                    "direction": "outbound",
                    "recipient_id": str(chat),
                    "status": "queued",
                    "attempts": 0,
                    "sequence": i + 1,
                    "idempotency_key": f"out:c{chat}-{i}",
                    "next_attempt_at": rt.clock.now() - timedelta(seconds=1),
                    "payload": {"channel": "telegram", "recipient_id": str(chat), "text": f"m{i} ✅"},
                },
            )
    threads = [threading.Thread(target=outbox.dispatch_due) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    drain(rt)
    for chat in range(5001, 5011):
        assert telegram.texts(str(chat)) == ["m0 ✅", "m1 ✅", "m2 ✅"]
    assert len(telegram.accepted) == 30


def test_concurrent_dispatchers_send_each_message_once(rt, telegram):
    _concurrent_dispatchers(rt, telegram)


@pytest.mark.mariadb
@pytest.mark.redis
def test_concurrent_dispatchers_on_mariadb(mariadb_rt):
    with FakeTelegram(token=TOKEN) as fake:
        set_settings(mariadb_rt, telegram_api_base_url=fake.url, telegram_bot_token=TOKEN)
        _concurrent_dispatchers(mariadb_rt, fake)
        # And through the public entry point, with a failing spell, on MariaDB.
        set_settings(mariadb_rt, outbound_backoff_base_seconds=0.01, outbound_backoff_max_seconds=0.05)
        fake.fail(500, times=3)
        texts = [f"reply {i} — ok 👍" for i in range(4)]
        for t in texts:
            outbox.enqueue_outbound(tg(t, chat="6001"))
        drain(mariadb_rt)
        assert fake.texts("6001") == texts


def test_dispatch_twice_sends_once(rt, telegram):
    name = outbox.enqueue_outbound(tg("once"))
    rt.queue.join(timeout=10)
    assert outbox.dispatch(name) == "sent"
    assert outbox.dispatch("no-such-record") == "missing"
    assert telegram.count() == 1


# --------------------------------------------------------------------------- WhatsApp 24-hour window


def test_whatsapp_outside_window_without_template_is_a_recorded_failure(rt, graph):
    add_inbound(rt, "W3", "260970000003", ago=timedelta(hours=25))
    name = outbox.enqueue_outbound(
        OutboundMessage(channel="whatsapp", recipient_id="260970000003", text="late", session_id="W3")
    )
    rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "dead" and "outside WhatsApp 24-hour window" in row["last_error"]
    assert graph.count() == 0


def test_whatsapp_outside_window_sends_the_template(rt, graph):
    set_settings(rt, whatsapp_template_name="wcfcb_follow_up", whatsapp_template_language="en_GB")
    name = outbox.enqueue_outbound(
        OutboundMessage(
            channel="whatsapp", recipient_id="260970000004", text="Your claim is approved.", session_id="W4"
        )
    )
    rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "sent" and "template" in row["payload"]["note"]
    body = graph.received[-1].json
    assert body["type"] == "template" and body["template"]["name"] == "wcfcb_follow_up"
    assert body["template"]["language"] == {"code": "en_GB"}
    assert body["template"]["components"][0]["parameters"][0]["text"] == "Your claim is approved."


def test_whatsapp_inside_window_sends_text(rt, graph):
    set_settings(rt, whatsapp_template_name="wcfcb_follow_up")
    add_inbound(rt, "W5", "260970000005", ago=timedelta(hours=23))
    outbox.enqueue_outbound(
        OutboundMessage(channel="whatsapp", recipient_id="260970000005", text="in time", session_id="W5")
    )
    rt.queue.join(timeout=10)
    assert graph.received[-1].json["type"] == "text"


def test_whatsapp_131047_from_the_platform_is_dead(rt, graph):
    add_inbound(rt, "W6", "260970000006")
    graph.fail(400, body={"error": {"message": "Re-engagement message", "code": 131047}})
    name = outbox.enqueue_outbound(
        OutboundMessage(channel="whatsapp", recipient_id="260970000006", text="x", session_id="W6")
    )
    rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "dead" and "131047" in row["last_error"] and row["attempts"] == 1


# --------------------------------------------------------------------------- Make.com route and receipts


def test_via_make_com_and_receipt_by_correlation_id(rt):
    with FakeMakeCom(api_key="mk") as make:
        set_settings(
            rt, telegram_via_make_com=1, make_com_outbound_url=make.url + "/hook", make_com_api_key="mk"
        )
        name = outbox.enqueue_outbound(tg("relayed 🚀", session_id="S9", reply_to="55"))
        rt.queue.join(timeout=10)
        body = make.received[-1].json
        assert body["correlation_id"] == name and body["conversation_id"] == "S9" and body["reply_to"] == "55"
        assert body["message"] == {"type": "text", "content": "relayed 🚀"}
        assert rt.store.get(DT, name)["status"] == "sent"
        assert outbox.apply_status("make_com", name, "delivered") == name
        assert rt.store.get(DT, name)["status"] == "delivered"


def test_receipts_only_move_forward(rt, telegram):
    name = outbox.enqueue_outbound(tg("tracked"))
    rt.queue.join(timeout=10)
    pmid = rt.store.get(DT, name)["platform_message_id"]
    assert outbox.apply_status("telegram", pmid, "delivered") == name
    assert rt.store.get(DT, name)["status"] == "delivered"
    outbox.apply_status("telegram", pmid, "read")
    assert rt.store.get(DT, name)["status"] == "read"
    outbox.apply_status("telegram", pmid, "delivered")  # late, out of order
    outbox.apply_status("telegram", pmid, "failed", "too late")
    row = rt.store.get(DT, name)
    assert row["status"] == "read" and row["last_error"] == ""


def test_failed_receipt_records_the_error(rt, telegram):
    name = outbox.enqueue_outbound(tg("will fail"))
    rt.queue.join(timeout=10)
    pmid = rt.store.get(DT, name)["platform_message_id"]
    outbox.apply_status("telegram", pmid, "undelivered", "131026 Message undeliverable")
    row = rt.store.get(DT, name)
    assert row["status"] == "failed" and "131026" in row["last_error"]


def test_phone_numbers_in_platform_errors_are_masked(rt, caplog):
    from tests.fakes.platform_servers import FakeTwilio

    with FakeTwilio() as tw:
        set_settings(
            rt,
            sms_provider="twilio",
            twilio_base_url=tw.url,
            twilio_account_sid=tw.account_sid,
            twilio_auth_token=tw.auth_token,
            twilio_from_number="+15005550006",
        )
        tw.fail(
            400,
            body={
                "code": 21211,
                "message": "The 'To' number +260971234567 is not a valid phone number.",
                "status": 400,
            },
        )
        name = outbox.enqueue_outbound(OutboundMessage(channel="sms", recipient_id="+260971234567", text="x"))
        rt.queue.join(timeout=10)
    row = rt.store.get(DT, name)
    assert row["status"] == "dead" and "21211" in row["last_error"]
    assert "260971234567" not in row["last_error"] and "+260 97*** **67" in row["last_error"]
    assert not any("260971234567" in r.getMessage() for r in caplog.records)
    assert not any(tw.auth_token in r.getMessage() for r in caplog.records)


def test_unknown_receipts_are_ignored(rt):
    assert outbox.apply_status("whatsapp", "wamid.nothing", "read") is None
    assert outbox.apply_status("whatsapp", "", "read") is None
    assert outbox.apply_status("whatsapp", "x", "exploded") is None


def test_backoff_grows_and_honours_retry_after():
    assert 2.5 <= outbox.backoff_seconds(1, base=5) <= 5
    assert 10 <= outbox.backoff_seconds(3, base=5) <= 20
    assert outbox.backoff_seconds(20, base=5, cap=900) <= 900
    assert outbox.backoff_seconds(1, retry_after=120, base=5) >= 120


def test_dispatch_due_interleaves_conversations_behind_a_long_one(rt, telegram):
    """Issue 12 item 9: after a crash, one conversation with 400 queued parts
    (the oldest due rows) must not stall the others: every conversation's
    head goes in the first round, and the long one keeps its order."""
    rt.queue.join(timeout=10)
    long_due = rt.clock.now() - timedelta(minutes=10)
    for i in range(1, 401):
        rt.store.insert(
            DT,
            {
                "platform": "telegram",
                "direction": "outbound",
                "recipient_id": "9000",
                "status": "queued",
                "attempts": 0,
                "sequence": i,
                "idempotency_key": f"out:long-{i}",
                "next_attempt_at": long_due,
                "payload": {"channel": "telegram", "recipient_id": "9000", "text": f"part {i}"},
            },
        )
    others = [str(9001 + k) for k in range(5)]
    for chat in others:
        for i in (1, 2):
            rt.store.insert(
                DT,
                {
                    "platform": "telegram",
                    "direction": "outbound",
                    "recipient_id": chat,
                    "status": "queued",
                    "attempts": 0,
                    "sequence": i,
                    "idempotency_key": f"out:{chat}-{i}",
                    "next_attempt_at": rt.clock.now() - timedelta(seconds=1),
                    "payload": {"channel": "telegram", "recipient_id": chat, "text": f"{chat} {i}"},
                },
            )
    outbox.dispatch_due()
    order = [(str(m["recipient"]), m["text"]) for m in telegram.accepted]
    for chat in others:
        assert telegram.texts(chat) == [f"{chat} 1", f"{chat} 2"]
        # interleaved: each short conversation was done within the long one's first parts
        assert order.index((chat, f"{chat} 2")) < 20
    long_texts = telegram.texts("9000")
    assert long_texts and long_texts == [f"part {i}" for i in range(1, len(long_texts) + 1)]
