"""The sandbox as the app's whole outside world, over real HTTP.

The phone posts people's messages as signed platform webhooks to the running
app; the app's replies reach the sandbox's platform APIs (the app's own
senders, real sends) and land on the phone; the receipts go back signed and
move the app's delivery state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from assistant_crm.sandbox import data, make_server
from assistant_crm.sandbox.world import World, overrides_for
from tests.support import free_port, set_settings

MWILA = data.PERSONS["P-000101"]


class Sandbox:
    def __init__(self, srv: Any, world: World):
        self.srv, self.world = srv, world
        self.url = srv.base_url
        self.phone = srv.phone

    def send(self, channel: str, sender: str, text: str) -> dict[str, Any]:
        r = requests.post(
            f"{self.url}/phone/api/send", json={"channel": channel, "from": sender, "text": text}, timeout=15
        )
        assert r.status_code == 200, r.text
        return r.json()

    def messages(self, channel: str, peer: str) -> list[dict[str, Any]]:
        r = requests.get(
            f"{self.url}/phone/api/messages", params={"channel": channel, "peer": peer}, timeout=5
        )
        assert r.status_code == 200, r.text
        return r.json()

    def replies(self, channel: str, peer: str, count: int = 1) -> list[Any]:
        got = self.phone.wait_for_reply(channel, peer, count, timeout=30)
        assert len(got) >= count, f"no reply #{count} on {channel} within 30 s"
        return got


def _start(world: World, app_url: str | None) -> Any:
    srv = make_server("127.0.0.1", free_port(), world.corebusiness_key, world=world, app_url=app_url)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def sandbox(rt, server) -> Iterator[Sandbox]:
    world = World()
    srv = _start(world, server)
    overrides, kept = overrides_for(world, srv.base_url, set())
    assert kept == []
    set_settings(rt, **overrides)
    yield Sandbox(srv, world)
    srv.shutdown()
    srv.server_close()


def _outbound_state(rt: Any, platform_message_id: str, want: str, timeout: float = 15) -> str:
    """The app's delivery state for one sent message, once it reaches ``want`` (or the timeout)."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        row = rt.store.get_by(
            "Omnichannel Message", {"direction": "outbound", "platform_message_id": platform_message_id}
        )
        state = (row or {}).get("status") or ""
        if state == want:
            break
        time.sleep(0.1)
    return state


@pytest.mark.parametrize("channel", ["whatsapp", "telegram", "messenger", "sms"])
def test_a_message_from_the_phone_is_answered_on_the_phone(sandbox, channel):
    sent = sandbox.send(channel, MWILA["phone"], "hello")
    assert sent["direction"] == "in" and sent["status"] == "sent" and sent["error"] == ""
    reply = sandbox.replies(channel, MWILA["phone"])[0]
    assert "Mwana" in reply.text
    convo = sandbox.messages(channel, MWILA["phone"])
    assert [m["direction"] for m in convo] == ["in", "out"]
    assert all(m["at"].endswith("+00:00") for m in convo)
    # Shown on the phone: the reply is read now.
    assert convo[1]["status"] == "read"
    if channel in ("whatsapp", "telegram", "messenger"):
        assert [b["title"] for b in convo[1]["buttons"]][:2] == ["Check my claim", "My payments"]


def test_whatsapp_receipts_go_back_signed_and_move_the_delivery_state(rt, sandbox):
    sandbox.send("whatsapp", MWILA["phone"], "hello")
    reply = sandbox.replies("whatsapp", MWILA["phone"])[0]
    assert reply.id.startswith("wamid.")
    assert _outbound_state(rt, reply.id, "delivered") == "delivered"
    sandbox.messages("whatsapp", MWILA["phone"])  # the person opens the chat
    assert _outbound_state(rt, reply.id, "read") == "read"


def test_messenger_delivery_receipt_reaches_the_app(rt, sandbox):
    sandbox.send("messenger", "6789012345678901", "hello")
    reply = sandbox.replies("messenger", "6789012345678901")[0]
    assert _outbound_state(rt, reply.id, "delivered") == "delivered"


def test_a_receipt_that_overtakes_the_send_answer_is_kept_and_applied(rt, sandbox):
    # The platform posts "delivered" before it answers the send: the app has
    # no platform id for the reply yet when the receipt comes, every time.
    sandbox.phone.receipts_before_answer = True
    for channel, peer in (("messenger", "6789012345678902"), ("whatsapp", MWILA["phone"])):
        sandbox.send(channel, peer, "hello")
        reply = sandbox.replies(channel, peer)[0]
        assert _outbound_state(rt, reply.id, "delivered") == "delivered", channel


def test_whatsapp_verification_by_the_phone_on_record(sandbox):
    phone = MWILA["phone"]
    sandbox.send("whatsapp", phone, "what is my claim status")
    assert "NRC" in sandbox.replies("whatsapp", phone, 1)[-1].text
    sandbox.send("whatsapp", phone, f"{MWILA['nrc']} {MWILA['full_name']}")
    answer = sandbox.replies("whatsapp", phone, 2)[-1].text
    assert "CLM-2026-00412" in answer


def test_telegram_verification_code_arrives_on_the_phones_sms(sandbox):
    phone = MWILA["phone"]
    sandbox.send("telegram", phone, "what is my claim status")
    sandbox.replies("telegram", phone, 1)
    sandbox.send("telegram", phone, f"{MWILA['nrc']} {MWILA['full_name']}")
    sandbox.replies("telegram", phone, 2)
    sms = sandbox.replies("sms", phone, 1)[-1].text
    code = "".join(ch for ch in sms.split("code is")[1][:8] if ch.isdigit())
    assert len(code) == 6
    sandbox.send("telegram", phone, code)
    assert "CLM-2026-00412" in sandbox.replies("telegram", phone, 3)[-1].text
    # The same code is in the SMS inbox page.
    assert code in requests.get(f"{sandbox.url}/sms", timeout=5).text


def test_a_tapped_whatsapp_button_goes_as_a_button_reply(sandbox):
    phone = MWILA["phone"]
    sandbox.send("whatsapp", phone, "hello")
    sandbox.replies("whatsapp", phone, 1)
    sent = sandbox.send("whatsapp", phone, "Check my claim")
    assert sent["status"] == "sent"
    assert "NRC" in sandbox.replies("whatsapp", phone, 2)[-1].text


def test_a_wrong_app_secret_is_refused_by_the_app(rt, sandbox):
    set_settings(rt, whatsapp_app_secret="not-the-sandbox-secret", telegram_secret_token="nope")
    for channel in ("whatsapp", "telegram"):
        sent = sandbox.send(channel, MWILA["phone"], "hello")
        assert sent["status"] == "failed" and "401" in sent["error"]


def test_replies_through_the_make_com_relay(rt, sandbox):
    set_settings(rt, telegram_via_make_com=1)
    sandbox.send("telegram", "553301928", "hello")
    reply = sandbox.replies("telegram", "553301928")[0]
    assert "Mwana" in reply.text and reply.via == "make_com"
    # The relay's status events (X-API-Key + X-Signature) reach the app's Make.com webhook.
    # The status event names the outbox record by its correlation id.
    assert _state_by_name(rt, reply.id, "delivered") == "delivered"


def _state_by_name(rt: Any, name: str, want: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = (rt.store.get("Omnichannel Message", name) or {}).get("status") or ""
        if state == want:
            break
        time.sleep(0.1)
    return state


def test_phone_api_refuses_bad_input_with_400(sandbox):
    url = f"{sandbox.url}/phone/api/send"
    cases = [
        {"channel": "fax", "from": "+260971234567", "text": "hi"},
        {"channel": "whatsapp", "from": "", "text": "hi"},
        {"channel": "whatsapp", "from": "+260971234567", "text": "  "},
        {"channel": "whatsapp", "from": "+260971234567", "text": "x" * 5000},
        ["not", "an", "object"],
    ]
    for body in cases:
        r = requests.post(url, json=body, timeout=5)
        assert r.status_code == 400 and r.json()["error"]["message"], body
    r = requests.post(url, data=b"{nope", timeout=5)
    assert r.status_code == 400
    r = requests.get(f"{sandbox.url}/phone/api/messages", params={"channel": "sms", "peer": "x"}, timeout=5)
    assert r.status_code == 400


def test_a_sandbox_without_an_app_says_how_to_connect_it():
    srv = _start(World(), None)
    try:
        r = requests.post(
            f"{srv.base_url}/phone/api/send",
            json={"channel": "sms", "from": "+260971234567", "text": "hi"},
            timeout=5,
        )
        assert r.status_code == 503 and "serve --with-sandbox" in r.json()["error"]["message"]
    finally:
        srv.shutdown()
        srv.server_close()


def test_front_page_lists_the_demo_people_without_a_key_while_the_api_keeps_it(sandbox):
    page = requests.get(sandbox.url + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for p in data.PERSONS.values():
        assert p["full_name"] in page.text and p["nrc"] in page.text and p["phone"] in page.text
    assert 'href="/phone' in page.text and 'href="/sms"' in page.text
    assert requests.get(sandbox.url + "/v1/claims/CLM-2026-00412", timeout=5).status_code == 401
    ok = requests.get(
        sandbox.url + "/v1/claims/CLM-2026-00412", headers={"Authorization": "Bearer sandbox-key"}, timeout=5
    )
    assert ok.status_code == 200
    phone = requests.get(sandbox.url + "/phone", timeout=5)
    assert phone.status_code == 200 and "/phone/api/send" in phone.text


def test_platform_apis_refuse_wrong_credentials(sandbox):
    w = sandbox.world
    r = requests.post(
        f"{sandbox.url}/graph/v23.0/{w.whatsapp_phone_number_id}/messages",
        json={"messaging_product": "whatsapp", "to": "260971234567", "type": "text", "text": {"body": "x"}},
        headers={"Authorization": "Bearer wrong"},
        timeout=5,
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == 190
    r = requests.post(
        f"{sandbox.url}/telegram/bot1:wrong/sendMessage", json={"chat_id": 1, "text": "x"}, timeout=5
    )
    assert r.status_code == 401 and r.json() == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    r = requests.post(
        f"{sandbox.url}/make/relay", json={"message": {}}, headers={"X-API-Key": "no"}, timeout=5
    )
    assert r.status_code == 401
    r = requests.post(
        f"{sandbox.url}/version1/messaging",
        data={"username": "sandbox", "to": "+260971234567", "message": "x"},
        headers={"apiKey": "wrong"},
        timeout=5,
    )
    assert r.status_code == 401
