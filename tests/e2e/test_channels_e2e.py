"""Channels from an independent sender: real-format webhook payloads, correctly and
wrongly signed, with replies counted at independent fake platform APIs."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import threading
import time

import pytest
import requests

from tests.e2e import fakes
from tests.e2e.conftest import PHONE_NUMBER_ID, SECRETS, Server
from tests.e2e.helpers import assert_no_full_nrc, find_conversation, person, settle, staff_headers

pytestmark = pytest.mark.e2e

WA_PATH = "assistant_crm.api.webhooks.whatsapp"
TG_PATH = "assistant_crm.api.webhooks.telegram"
SMS_PATH = "assistant_crm.api.webhooks.sms"
MK_PATH = "assistant_crm.api.make_com_webhook.make_com_webhook"
UNICODE_TEXT = "Muli shani 👋🏾! Nshili naishiba — how do I report an accident? مرحبا ✅ ñ"


def _wa_id() -> str:
    return f"26097{random.randint(1000000, 9999999)}"


def wa_payload(wa_id: str, text: str, wamid: str | None = None, name: str = "Kabwe Test") -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102938475610293",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "260211000111",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": wamid or f"wamid.HBgM{random.getrandbits(64):016X}",
                                    "timestamp": str(int(time.time())),
                                    "text": {"body": text},
                                    "type": "text",
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def meta_sig(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_wa(server: Server, body: bytes, sig: str | None = "ok") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if sig == "ok":
        headers["X-Hub-Signature-256"] = meta_sig(body, SECRETS["whatsapp_app_secret"])
    elif sig is not None:
        headers["X-Hub-Signature-256"] = sig
    return requests.post(server.api(WA_PATH), data=body, headers=headers, timeout=15)


# -- WhatsApp ------------------------------------------------------------------
def test_whatsapp_handshake(server: Server) -> None:
    r = requests.get(
        server.api(WA_PATH),
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": SECRETS["whatsapp_verify_token"],
            "hub.challenge": "1158201444",
        },
        timeout=10,
    )
    assert r.status_code == 200 and r.text == "1158201444", (r.status_code, r.text)
    bad = requests.get(
        server.api(WA_PATH),
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        timeout=10,
    )
    assert bad.status_code == 403, bad.text


def test_whatsapp_signed_message_gets_reply_at_graph_api(server: Server) -> None:
    wa = _wa_id()
    r = post_wa(server, wa_payload(wa, UNICODE_TEXT))
    assert r.status_code == 200, r.text
    texts = fakes.wait_for(lambda: server.graph.texts_to(wa), timeout=20)
    assert texts, "no reply reached the fake Graph API"
    assert re.search(r"3|three", " ".join(texts)), texts  # the accident-report answer
    assert_no_full_nrc(" ".join(texts))


@pytest.mark.parametrize(
    "sig",
    [None, "sha256=" + "0" * 64, "garbage", "WRONG_SECRET"],
    ids=["missing", "zeros", "garbage", "other-secret"],
)
def test_whatsapp_wrong_signature_is_refused_and_nothing_processed(server: Server, sig: str | None) -> None:
    wa = _wa_id()
    body = wa_payload(wa, "hello there")
    if sig == "WRONG_SECRET":
        sig = meta_sig(body, "not-the-secret")
    r = post_wa(server, body, sig=sig)
    assert r.status_code in (401, 403), (r.status_code, r.text)
    settle(2.0)
    assert server.graph.texts_to(wa) == [], "a wrongly signed message was answered"


def test_whatsapp_signature_over_modified_body_is_refused(server: Server) -> None:
    wa = _wa_id()
    body = wa_payload(wa, "hello")
    sig = meta_sig(body, SECRETS["whatsapp_app_secret"])
    tampered = body.replace(b"hello", b"HELLO")
    r = post_wa(server, tampered, sig=sig)
    assert r.status_code in (401, 403), r.text


def test_whatsapp_same_message_five_times_concurrently_one_reply(server: Server) -> None:
    wa = _wa_id()
    body = wa_payload(wa, "hello, good afternoon", wamid=f"wamid.DUP{random.getrandbits(48):012X}")
    results: list[int] = []
    barrier = threading.Barrier(5)

    def send() -> None:
        barrier.wait()
        results.append(post_wa(server, body).status_code)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 5, results
    assert fakes.wait_for(lambda: server.graph.texts_to(wa), timeout=20), "no reply at all"
    settle(3.0)
    assert len(server.graph.texts_to(wa)) == 1, server.graph.texts_to(wa)


def test_whatsapp_known_nrc_from_another_phone_goes_to_otp(server: Server) -> None:
    a = person("P-E2E-0001")
    wa = _wa_id()
    before_sms = len(server.sms.messages_to(a["phone"]))
    post_wa(server, wa_payload(wa, "what is my claim status"))
    assert fakes.wait_for(lambda: len(server.graph.texts_to(wa)) >= 1, timeout=20)
    post_wa(server, wa_payload(wa, f"{a['nrc']} {a['full_name']}"))
    texts = fakes.wait_for(lambda: server.graph.texts_to(wa)[1:] or None, timeout=20)
    assert texts, "no reply to the identity message"
    joined = " ".join(texts)
    assert "CLM-2026-04471" not in joined, f"verified on WhatsApp from a phone not on record: {joined!r}"
    assert fakes.wait_for(lambda: len(server.sms.messages_to(a["phone"])) > before_sms, timeout=10), (
        "no OTP sent"
    )
    assert_no_full_nrc(joined)


# -- Telegram ------------------------------------------------------------------
def tg_update(chat_id: int, text: str, update_id: int | None = None) -> dict:
    return {
        "update_id": update_id or random.randint(10**8, 10**9),
        "message": {
            "message_id": random.randint(1, 10**6),
            "from": {"id": chat_id, "is_bot": False, "first_name": "Bupe", "language_code": "en"},
            "chat": {"id": chat_id, "first_name": "Bupe", "type": "private"},
            "date": int(time.time()),
            "text": text,
        },
    }


def post_tg(
    server: Server, update: dict, secret: str | None = SECRETS["telegram_secret_token"]
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return requests.post(
        server.api(TG_PATH), data=json.dumps(update, ensure_ascii=False).encode(), headers=headers, timeout=15
    )


def test_telegram_message_reply_at_send_message(server: Server) -> None:
    chat_id = random.randint(5 * 10**9, 9 * 10**12)  # 64-bit ids beyond 32 bits
    r = post_tg(server, tg_update(chat_id, "How soon must a new employer register with WCFCB? 🙏"))
    assert r.status_code == 200, r.text
    texts = fakes.wait_for(lambda: server.telegram.texts_to(chat_id), timeout=20)
    assert texts, "no reply at the fake Telegram sendMessage"
    assert re.search(r"14|fourteen", " ".join(texts)), texts


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["missing", "wrong"])
def test_telegram_wrong_secret_refused(server: Server, secret: str | None) -> None:
    chat_id = random.randint(10**9, 2 * 10**9)
    r = post_tg(server, tg_update(chat_id, "hello"), secret=secret)
    assert r.status_code in (401, 403), r.text
    settle(2.0)
    assert server.telegram.texts_to(chat_id) == []


def test_agent_message_with_unicode_reaches_telegram_intact(server: Server) -> None:
    chat_id = random.randint(3 * 10**9, 4 * 10**9)
    post_tg(server, tg_update(chat_id, UNICODE_TEXT))
    assert fakes.wait_for(lambda: server.telegram.texts_to(chat_id), timeout=20)
    staff = staff_headers()
    sid = find_conversation(server, "telegram", UNICODE_TEXT)
    assert sid, "the inbound unicode text was not stored exactly"
    text = "Mwaiseni 🙏🏽 — ifyo mulefwaya: «OK» مرحبا"
    r = requests.post(
        server.api("assistant_crm.api.agent.reply"),
        json={"session_id": sid, "text": text},
        headers=staff,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert fakes.wait_for(lambda: text in server.telegram.texts_to(chat_id), timeout=20), (
        server.telegram.texts_to(chat_id)
    )


# -- Africa's Talking SMS ------------------------------------------------------
def post_sms(
    server: Server, frm: str, text: str, token: str | None = SECRETS["sms_callback_token"]
) -> requests.Response:
    params = {"token": token} if token is not None else {}
    form = {
        "from": frm,
        "to": "21234",
        "text": text,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "id": f"ATXid_in_{random.getrandbits(40):010x}",
        "linkId": f"{random.getrandbits(32):08x}",
    }
    return requests.post(server.api(SMS_PATH), params=params, data=form, timeout=15)


def test_sms_callback_reply_goes_by_sms(server: Server) -> None:
    phone = f"+26095{random.randint(1000000, 9999999)}"
    r = post_sms(server, phone, "What is the minimum pension per month?")
    assert r.status_code == 200, r.text
    texts = fakes.wait_for(lambda: server.sms.messages_to(phone), timeout=20)
    assert texts, "no SMS reply"
    assert "400" in " ".join(texts), texts


@pytest.mark.parametrize("token", [None, "wrong"], ids=["missing", "wrong"])
def test_sms_callback_bad_token_refused(server: Server, token: str | None) -> None:
    phone = f"+26095{random.randint(1000000, 9999999)}"
    r = post_sms(server, phone, "hello", token=token)
    assert r.status_code in (401, 403), r.text
    settle(2.0)
    assert server.sms.messages_to(phone) == []


def test_sms_from_phone_on_record_verifies_without_otp(server: Server) -> None:
    e = person("P-E2E-0005")
    post_sms(server, e["phone"], "what is my claim status")
    assert fakes.wait_for(lambda: len(server.sms.messages_to(e["phone"])) >= 1, timeout=20)
    post_sms(server, e["phone"], f"{e['nrc']} {e['full_name']}")
    texts = fakes.wait_for(
        lambda: [t for t in server.sms.messages_to(e["phone"]) if "CLM-2026-05532" in t] or None, timeout=20
    )
    assert texts, server.sms.messages_to(e["phone"])
    assert all(not re.search(r"verification code is \d{6}", t) for t in server.sms.messages_to(e["phone"]))


# -- Make.com relay ------------------------------------------------------------
def mk_post(
    server: Server,
    body: dict | bytes,
    key: str | None = SECRETS["make_com_api_key"],
    sign: bool = True,
    ts: int | None = None,
) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    if sign:
        t = str(ts if ts is not None else int(time.time()))
        mac = hmac.new(
            SECRETS["make_com_webhook_secret"].encode(), t.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        headers["X-Timestamp"] = t
        headers["X-Signature"] = f"sha256={mac}"
    return requests.post(server.api(MK_PATH), data=raw, headers=headers, timeout=15)


def mk_body(platform: str, sender: str, text: str, mid: str | None = None) -> dict:
    return {
        "platform": platform,
        "event_type": "message",
        "message_id": mid or f"{platform}-{random.getrandbits(48):012x}",
        "timestamp": int(time.time()),
        "data": {
            "message": {"content": text, "type": "text"},
            "sender": {"id": sender, "name": "Chola Bwalya"},
            "attachments": [],
            "status": None,
        },
    }


def test_make_com_health(relay_server: Server) -> None:
    r = requests.get(relay_server.api(MK_PATH), timeout=10)
    assert r.status_code == 200, r.text
    assert "message" in r.json()


def test_make_com_telegram_relay_reply_goes_to_outbound_url(relay_server: Server) -> None:
    sender = str(random.randint(10**9, 10**10))
    body = mk_body("telegram", sender, "When are employer assessments due each year? 📅")
    r = mk_post(relay_server, body)
    assert r.status_code == 200, r.text
    assert r.json()["message"]["status"] == "accepted", r.text
    texts = fakes.wait_for(lambda: relay_server.make.texts_to("telegram", sender), timeout=20)
    assert texts, "no reply reached make_com_outbound_url"
    relayed = [x for x in relay_server.make.relayed if str(x.get("recipient", {}).get("id")) == sender][0]
    assert relayed.get("correlation_id"), relayed
    assert relayed.get("conversation_id"), relayed
    assert relayed["platform"] == "telegram" and relayed["message"]["type"] == "text", relayed
    assert relayed["message"]["content"] and re.search(r"1\s*April", " ".join(texts)), texts
    rec = relay_server.make.requests(lambda q: q.path == "/relay")[0]
    assert rec.headers.get("x-api-key") == SECRETS["make_com_api_key"]
    assert relayed.get("reply_to") == body["message_id"], relayed
    assert relay_server.telegram.texts_to(int(sender)) == [], "sent directly although telegram_via_make_com=1"
    dup = mk_post(relay_server, body)
    assert dup.status_code == 200 and dup.json()["message"]["status"] == "duplicate", dup.text
    settle(2.0)
    assert len(relay_server.make.texts_to("telegram", sender)) == len(texts)


@pytest.mark.parametrize("case", ["no-key", "wrong-key", "no-signature", "old-timestamp", "bad-signature"])
def test_make_com_refusals(relay_server: Server, case: str) -> None:
    sender = str(random.randint(10**9, 10**10))
    body = mk_body("telegram", sender, "hello")
    if case == "no-key":
        r = mk_post(relay_server, body, key=None)
    elif case == "wrong-key":
        r = mk_post(relay_server, body, key="wrong")
    elif case == "no-signature":
        r = mk_post(relay_server, body, sign=False)
    elif case == "old-timestamp":
        r = mk_post(relay_server, body, ts=int(time.time()) - 3600)
    else:
        raw = json.dumps(body).encode()
        r = requests.post(
            relay_server.api(MK_PATH),
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-API-Key": SECRETS["make_com_api_key"],
                "X-Timestamp": str(int(time.time())),
                "X-Signature": "sha256=" + "ab" * 32,
            },
            timeout=10,
        )
    assert r.status_code == 401, (r.status_code, r.text)
    settle(1.0)
    assert relay_server.make.texts_to("telegram", sender) == []


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda b: b.pop("platform"), "platform"),
        (lambda b: b.update(platform="myspace"), "platform"),
        (lambda b: b["data"].pop("sender"), "sender"),
        (lambda b: b.pop("message_id"), "message_id"),
    ],
    ids=["no-platform", "bad-platform", "no-sender", "no-message-id"],
)
def test_make_com_malformed_body_400_names_field(relay_server: Server, mutate, field: str) -> None:
    body = mk_body("telegram", "123456789", "hi")
    mutate(body)
    r = mk_post(relay_server, body)
    assert r.status_code == 400, (r.status_code, r.text)
    assert field in r.text, r.text


# -- Messenger -----------------------------------------------------------------
def test_messenger_signed_message_reply_at_send_api(server: Server) -> None:
    psid = str(random.randint(10**15, 10**16))
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "556677889900",
                    "time": int(time.time() * 1000),
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": "556677889900"},
                            "timestamp": int(time.time() * 1000),
                            "message": {
                                "mid": f"m_{random.getrandbits(64):x}",
                                "text": "Hello! What is the lowest pension paid monthly?",
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    sig = meta_sig(body, SECRETS["messenger_app_secret"])
    r = requests.post(
        server.api("assistant_crm.api.webhooks.messenger"),
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
        timeout=15,
    )
    assert r.status_code == 200, r.text

    def sent() -> list:
        return [
            x
            for x in server.graph.requests(lambda q: q.path.endswith("/556677889900/messages"))
            if x.json().get("recipient", {}).get("id") == psid
        ]

    got = fakes.wait_for(sent, timeout=20)
    assert got, "no reply at the fake Messenger Send API"
    assert got[0].query.get("access_token") == [SECRETS["messenger_page_access_token"]]
    bad = requests.post(
        server.api("assistant_crm.api.webhooks.messenger"),
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_sig(body, SECRETS["whatsapp_app_secret"]),
        },
        timeout=15,
    )
    assert bad.status_code in (401, 403), bad.text


def test_telegram_same_update_five_times_concurrently_one_reply(server: Server) -> None:
    chat_id = random.randint(6 * 10**9, 7 * 10**9)
    update = tg_update(chat_id, "hello")
    codes: list[int] = []
    barrier = threading.Barrier(5)

    def send() -> None:
        barrier.wait()
        codes.append(post_tg(server, update).status_code)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 5, codes
    assert fakes.wait_for(lambda: server.telegram.texts_to(chat_id), timeout=20)
    settle(3.0)
    assert len(server.telegram.texts_to(chat_id)) == 1, server.telegram.texts_to(chat_id)


def test_whatsapp_from_phone_on_record_verifies_without_otp(server: Server) -> None:
    a = person("P-E2E-0001")
    wa = a["phone"].lstrip("+")
    before_sms = len(server.sms.messages_to(a["phone"]))
    n = len(server.graph.texts_to(wa))
    post_wa(server, wa_payload(wa, "hi, what is my claim status?", name="Thandiwe"))
    assert fakes.wait_for(lambda: len(server.graph.texts_to(wa)) > n, timeout=20)
    post_wa(server, wa_payload(wa, f"{a['nrc']} {a['full_name']}", name="Thandiwe"))
    got = fakes.wait_for(
        lambda: [t for t in server.graph.texts_to(wa)[n:] if "CLM-2026-04471" in t], timeout=20
    )
    assert got, server.graph.texts_to(wa)[n:]
    assert len(server.sms.messages_to(a["phone"])) == before_sms, (
        "an OTP was sent although the sender phone is on record"
    )
    assert_no_full_nrc(" ".join(server.graph.texts_to(wa)))


def test_graph_api_failing_then_recovering_delivers_once(server: Server) -> None:
    wa = _wa_id()
    with server.graph.lock:
        server.graph.fail_next = 3
    post_wa(server, wa_payload(wa, "Good evening"))
    texts = fakes.wait_for(lambda: server.graph.texts_to(wa), timeout=30)
    with server.graph.lock:
        server.graph.fail_next = 0
    assert texts, "the reply was not delivered after the Graph API recovered"
    settle(2.0)
    assert len(server.graph.texts_to(wa)) == 1, server.graph.texts_to(wa)


def test_whatsapp_status_receipt_and_batched_messages(server: Server) -> None:
    wa1, wa2 = _wa_id(), _wa_id()
    p1, p2 = json.loads(wa_payload(wa1, "hello")), json.loads(wa_payload(wa2, "good morning"))
    batched = {"object": "whatsapp_business_account", "entry": p1["entry"] + p2["entry"]}
    batched["entry"][0]["changes"][0]["value"]["statuses"] = [
        {
            "id": "wamid.E2E000001",
            "status": "delivered",
            "timestamp": str(int(time.time())),
            "recipient_id": wa1,
        }
    ]
    body = json.dumps(batched).encode()
    r = post_wa(server, body)
    assert r.status_code == 200, r.text
    assert fakes.wait_for(lambda: server.graph.texts_to(wa1) and server.graph.texts_to(wa2), timeout=20)
    status_only = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "260211000111",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "statuses": [
                                {
                                    "id": "wamid.E2E000002",
                                    "status": "failed",
                                    "timestamp": str(int(time.time())),
                                    "recipient_id": wa2,
                                    "errors": [{"code": 131026, "title": "Message undeliverable"}],
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    r = post_wa(server, json.dumps(status_only).encode())
    assert r.status_code == 200, r.text


def test_telegram_edited_message_and_non_text(server: Server) -> None:
    chat_id = random.randint(8 * 10**9, 9 * 10**9)
    upd = tg_update(chat_id, "x")
    upd["edited_message"] = upd.pop("message")
    upd["edited_message"]["edit_date"] = int(time.time())
    upd["edited_message"]["text"] = "hello again"
    r = post_tg(server, upd)
    assert r.status_code == 200, r.text
    photo = tg_update(chat_id, "")
    del photo["message"]["text"]
    photo["message"]["photo"] = [
        {"file_id": "AgACAgQAAxkBAAIB", "file_unique_id": "AQAD", "width": 90, "height": 67}
    ]
    r = post_tg(server, photo)
    assert r.status_code == 200, r.text
    assert server.alive()


def test_whatsapp_interactive_button_reply_is_answered(server: Server) -> None:
    wa = _wa_id()
    body = json.loads(wa_payload(wa, "x"))
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del msg["text"]
    msg["type"] = "interactive"
    msg["interactive"] = {
        "type": "button_reply",
        "button_reply": {"id": "qr_1", "title": "Report an accident"},
    }
    r = post_wa(server, json.dumps(body).encode())
    assert r.status_code == 200, r.text
    texts = fakes.wait_for(lambda: server.graph.texts_to(wa), timeout=20)
    assert texts, "no reply to an interactive button reply"
    assert re.search(r"3|three|Form No\. ?6", " ".join(texts)), texts


def test_messenger_handshake(server: Server) -> None:
    r = requests.get(
        server.api("assistant_crm.api.webhooks.messenger"),
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": SECRETS["messenger_verify_token"],
            "hub.challenge": "abc123",
        },
        timeout=10,
    )
    assert r.status_code == 200 and r.text == "abc123", (r.status_code, r.text)


def test_make_com_whatsapp_message_reply_goes_direct_to_graph(relay_server: Server) -> None:
    """On the relay server only Telegram is relayed; a WhatsApp message relayed in by
    Make.com is answered through the Graph API (whatsapp_via_make_com=0)."""
    wa = _wa_id()
    body = mk_body("whatsapp", wa, "Moni! Kodi pension yochepa kwambiri ndi ndalama zingati? 🙂")
    body["data"]["sender"]["phone"] = "+" + wa
    r = mk_post(relay_server, body)
    assert r.status_code == 200, r.text
    got = fakes.wait_for(
        lambda: relay_server.graph.texts_to(wa) or relay_server.make.texts_to("whatsapp", wa), timeout=20
    )
    assert got, "no reply anywhere"
    assert relay_server.graph.texts_to(wa), (
        "WhatsApp reply relayed through Make.com although whatsapp_via_make_com=0"
    )
