"""Each channel sender against a fake platform over real HTTP: wire format,
credentials, success ids, and how failures are classified."""

from __future__ import annotations

import base64

import pytest

from assistant_crm.services.delivery.channels.base import OutboundPart
from assistant_crm.services.delivery.channels.make_com_send import MakeComSender
from assistant_crm.services.delivery.channels.messenger_send import MessengerSender
from assistant_crm.services.delivery.channels.sms_send import AfricasTalkingSender, TwilioSender
from assistant_crm.services.delivery.channels.telegram_send import TelegramSender
from assistant_crm.services.delivery.channels.whatsapp_send import WhatsAppSender, template_for
from tests.fakes.platform_servers import (
    FakeAfricasTalking,
    FakeGraphAPI,
    FakeMakeCom,
    FakeTelegram,
    FakeTwilio,
)

UNICODE = "Muli shani 👋🏽 — مرحبا بكم (RTL) · Ŵ ñ € {x} ✅"


@pytest.fixture
def graph():
    with FakeGraphAPI(whatsapp_token="wa-secret", page_token="page-secret", phone_number_id="10655") as fake:
        yield fake


@pytest.fixture
def telegram():
    with FakeTelegram(token="777:AAbb") as fake:
        yield fake


@pytest.fixture
def at():
    with FakeAfricasTalking(username="wcfcb", api_key="at-secret") as fake:
        yield fake


@pytest.fixture
def twilio():
    with FakeTwilio(account_sid="AC" + "1" * 32, auth_token="tw-secret") as fake:
        yield fake


@pytest.fixture
def make():
    with FakeMakeCom(api_key="mk-secret") as fake:
        yield fake


def part(channel: str, recipient: str, text: str, **kw) -> OutboundPart:
    return OutboundPart(channel=channel, recipient_id=recipient, text=text, correlation_id="corr-1", **kw)


# --------------------------------------------------------------------------- WhatsApp


def test_whatsapp_text_wire_format(graph):
    sender = WhatsAppSender(graph.url, "10655", "wa-secret")
    result = sender.send(part("whatsapp", "260971234567", UNICODE, reply_to="wamid.IN1"))
    assert result.ok and result.platform_message_id.startswith("wamid.")
    req = graph.received[-1]
    assert req.method == "POST" and req.path == "/10655/messages"
    assert req.header("Authorization") == "Bearer wa-secret"
    assert req.header("Content-Type").startswith("application/json")
    assert req.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "260971234567",
        "type": "text",
        "text": {"body": UNICODE, "preview_url": False},
        "context": {"message_id": "wamid.IN1"},
    }
    assert graph.texts("260971234567") == [UNICODE]


def test_whatsapp_quick_replies_become_reply_buttons(graph):
    sender = WhatsAppSender(graph.url, "10655", "wa-secret")
    qrs = ["Check my claim status", "Payments", "Talk to an agent"]
    assert sender.send(part("whatsapp", "+260971234567", "What next?", quick_replies=qrs)).ok
    body = graph.received[-1].json
    assert body["to"] == "260971234567"  # E.164 without the plus
    assert body["type"] == "interactive"
    inter = body["interactive"]
    assert inter["type"] == "button" and inter["body"] == {"text": "What next?"}
    titles = [b["reply"]["title"] for b in inter["action"]["buttons"]]
    assert len(titles) == 3 and all(len(t) <= 20 for t in titles)
    assert titles[1] == "Payments" and titles[0].startswith("Check my claim")
    assert all(b["type"] == "reply" and b["reply"]["id"] for b in inter["action"]["buttons"])


def test_whatsapp_more_than_three_quick_replies_become_a_list(graph):
    sender = WhatsAppSender(graph.url, "10655", "wa-secret")
    qrs = [f"Option number {i}" for i in range(1, 6)]
    assert sender.send(part("whatsapp", "260971234567", "Choose", quick_replies=qrs)).ok
    inter = graph.received[-1].json["interactive"]
    assert inter["type"] == "list"
    rows = inter["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == qrs


def test_whatsapp_template_wire_format(graph):
    sender = WhatsAppSender(graph.url, "10655", "wa-secret")
    tpl = template_for("wcfcb_reply", "en", "Your claim is approved.")
    assert sender.send(part("whatsapp", "260971234567", "Your claim is approved.", template=tpl)).ok
    body = graph.received[-1].json
    assert body["type"] == "template"
    assert body["template"]["name"] == "wcfcb_reply"
    assert body["template"]["language"] == {"code": "en"}
    assert body["template"]["components"][0]["parameters"][0]["text"] == "Your claim is approved."
    assert "text" not in body


def test_whatsapp_error_classification(graph):
    sender = WhatsAppSender(graph.url, "10655", "wa-secret")
    p = part("whatsapp", "260971234567", "hi")
    graph.fail(
        400, body={"error": {"message": "Re-engagement message", "code": 131047, "type": "OAuthException"}}
    )
    r = sender.send(p)
    assert not r.ok and not r.transient and "24-hour window" in r.error and "131047" in r.error
    graph.fail(400, body={"error": {"message": "(#130429) Rate limit hit", "code": 130429}})
    r = sender.send(p)
    assert not r.ok and r.transient
    graph.fail(500)
    r = sender.send(p)
    assert not r.ok and r.transient and r.status_code == 500
    bad = WhatsAppSender(graph.url, "10655", "wrong-token").send(p)
    assert not bad.ok and not bad.transient and "190" in bad.error
    assert "wrong-token" not in bad.error


# --------------------------------------------------------------------------- Messenger


def test_messenger_wire_format(graph):
    sender = MessengerSender(graph.url, "page-secret", page_id="99887766")
    qrs = ["Claim status", "A very long quick reply title indeed"]
    result = sender.send(part("messenger", "24680135790", UNICODE, quick_replies=qrs))
    assert result.ok and result.platform_message_id.startswith("m_")
    req = graph.received[-1]
    assert req.path == "/99887766/messages" and req.query == {"access_token": "page-secret"}
    assert req.json["recipient"] == {"id": "24680135790"}
    assert req.json["messaging_type"] == "RESPONSE"
    msg = req.json["message"]
    assert msg["text"] == UNICODE
    assert msg["quick_replies"][0] == {
        "content_type": "text",
        "title": "Claim status",
        "payload": "Claim status",
    }
    assert len(msg["quick_replies"][1]["title"]) <= 20
    assert msg["quick_replies"][1]["payload"] == qrs[1]


def test_messenger_without_page_id_uses_me(graph):
    assert MessengerSender(graph.url, "page-secret").send(part("messenger", "1", "x")).ok
    assert graph.received[-1].path == "/me/messages"


def test_messenger_bad_token_is_final(graph):
    r = MessengerSender(graph.url, "nope").send(part("messenger", "1", "x"))
    assert not r.ok and not r.transient and "190" in r.error


# --------------------------------------------------------------------------- Telegram


def test_telegram_wire_format(telegram):
    sender = TelegramSender(telegram.url, "777:AAbb")
    chat = "-1009876543210987"  # 64-bit ids stay exact
    result = sender.send(part("telegram", chat, UNICODE, quick_replies=["Yes", "No"], reply_to="42"))
    assert result.ok and result.platform_message_id == "1"
    req = telegram.received[-1]
    assert req.path == "/bot777:AAbb/sendMessage"
    assert req.body.count(b"-1009876543210987") == 1
    assert req.json == {
        "chat_id": -1009876543210987,
        "text": UNICODE,
        "reply_markup": {
            "keyboard": [[{"text": "Yes"}], [{"text": "No"}]],
            "one_time_keyboard": True,
            "resize_keyboard": True,
        },
        "reply_parameters": {"message_id": 42, "allow_sending_without_reply": True},
    }


def test_telegram_429_retry_after_from_body(telegram):
    telegram.rate_limit(retry_after=7)
    r = TelegramSender(telegram.url, "777:AAbb").send(part("telegram", "5533", "hi"))
    assert not r.ok and r.transient and r.retry_after == 7 and r.status_code == 429


def test_telegram_blocked_and_bad_token_are_final(telegram):
    telegram.fail(
        403, body={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    )
    r = TelegramSender(telegram.url, "777:AAbb").send(part("telegram", "5533", "hi"))
    assert not r.ok and not r.transient and "blocked" in r.error
    r = TelegramSender(telegram.url, "777:WRONG").send(part("telegram", "5533", "hi"))
    assert not r.ok and not r.transient and r.status_code == 401


# --------------------------------------------------------------------------- SMS


def test_africastalking_wire_format(at):
    sender = AfricasTalkingSender(at.url, "wcfcb", "at-secret", sender_id="WCFCB")
    result = sender.send(part("sms", "260971234567", UNICODE, recipient_phone="+260971234567"))
    assert result.ok and result.platform_message_id.startswith("ATXid_")
    req = at.received[-1]
    assert req.path == "/version1/messaging"
    assert req.header("apiKey") == "at-secret" and req.header("Accept") == "application/json"
    assert req.header("Content-Type").startswith("application/x-www-form-urlencoded")
    assert req.form == {"username": "wcfcb", "to": "+260971234567", "message": UNICODE, "from": "WCFCB"}


def test_africastalking_recipient_failures(at):
    sender = AfricasTalkingSender(at.url, "wcfcb", "at-secret")
    at.recipient_status = (403, "InvalidPhoneNumber")
    r = sender.send(part("sms", "+2609", "x"))
    assert not r.ok and not r.transient and "InvalidPhoneNumber" in r.error
    at.recipient_status = (405, "InsufficientBalance")
    r = sender.send(part("sms", "+260971234567", "x"))
    assert not r.ok and r.transient
    at.recipient_status = None
    at.fail(500)
    assert sender.send(part("sms", "+260971234567", "x")).transient
    r = AfricasTalkingSender(at.url, "wcfcb", "wrong").send(part("sms", "+260971234567", "x"))
    assert not r.ok and not r.transient and r.status_code == 401


def test_twilio_wire_format(twilio):
    sid = "AC" + "1" * 32
    sender = TwilioSender(twilio.url, sid, "tw-secret", "+15005550006")
    result = sender.send(part("sms", "+260971234567", UNICODE))
    assert result.ok and result.platform_message_id.startswith("SM")
    req = twilio.received[-1]
    assert req.path == f"/2010-04-01/Accounts/{sid}/Messages.json"
    assert req.header("Authorization") == "Basic " + base64.b64encode(f"{sid}:tw-secret".encode()).decode()
    assert req.form == {"To": "+260971234567", "From": "+15005550006", "Body": UNICODE}


def test_twilio_errors(twilio):
    sid = "AC" + "1" * 32
    twilio.fail(429, retry_after=12)
    r = TwilioSender(twilio.url, sid, "tw-secret", "+15005550006").send(part("sms", "+260971234567", "x"))
    assert r.transient and r.retry_after == 12
    r = TwilioSender(twilio.url, sid, "bad", "+15005550006").send(part("sms", "+260971234567", "x"))
    assert not r.ok and not r.transient and "20003" in r.error


# --------------------------------------------------------------------------- Make.com


def test_make_com_wire_format(make):
    sender = MakeComSender(make.url, "mk-secret")
    p = OutboundPart(
        channel="telegram",
        recipient_id="553301928",
        text=UNICODE,
        session="sess-1",
        correlation_id="rec-123",
        reply_to="77",
        quick_replies=["Yes"],
    )
    assert sender.send(p).ok
    req = make.received[-1]
    assert req.header("X-API-Key") == "mk-secret"
    assert req.json == {
        "platform": "telegram",
        "recipient": {"id": "553301928"},
        "message": {"type": "text", "content": UNICODE, "quick_replies": ["Yes"]},
        "conversation_id": "sess-1",
        "correlation_id": "rec-123",
        "reply_to": "77",
    }


def test_make_com_any_failure_is_retried(make):
    make.fail(500)
    assert MakeComSender(make.url, "mk-secret").send(part("whatsapp", "1", "x")).transient
    r = MakeComSender(make.url, "wrong").send(part("whatsapp", "1", "x"))
    assert not r.ok and r.transient and "401" in r.error


# --------------------------------------------------------------------------- network failures


def test_hanging_platform_times_out_as_transient(telegram):
    telegram.hang(times=1)
    sender = TelegramSender(telegram.url, "777:AAbb", timeout=(1.0, 0.3))
    r = sender.send(part("telegram", "5533", "hi"))  # returns after the read timeout, not the 30 s hang
    assert not r.ok and r.transient and "timeout" in r.error
    telegram.release()


def test_connection_refused_is_transient():
    from tests.support import free_port

    r = TelegramSender(f"http://127.0.0.1:{free_port()}", "777:AAbb", timeout=(0.5, 0.5)).send(
        part("telegram", "1", "x")
    )
    assert not r.ok and r.transient and "connection" in r.error


def test_unconfigured_sender_fails_clearly():
    r = WhatsAppSender("http://127.0.0.1:9", "", "").send(part("whatsapp", "1", "x"))
    assert not r.ok and not r.transient and "whatsapp_access_token" in r.error
