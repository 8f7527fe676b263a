"""Bad inputs over HTTP: each gets a clear 4xx in Frappe's shape, never a 500."""

from __future__ import annotations

import json

import pytest
import requests

from tests.e2e.conftest import SECRETS, Server

pytestmark = pytest.mark.e2e

SEND = "assistant_crm.api.chat.send_message"


def _post(
    server: Server, path: str, data: bytes, ctype: str = "application/json", headers: dict | None = None
) -> requests.Response:
    h = {"Content-Type": ctype}
    h.update(headers or {})
    return requests.post(server.api(path), data=data, headers=h, timeout=30)


def _frappe_error(r: requests.Response) -> dict:
    body = r.json()
    assert "exc_type" in body or "_server_messages" in body or "message" in body, body
    return body


@pytest.mark.parametrize(
    "data,ctype,expect",
    [
        (b"this is not json", "application/json", 400),
        (b'{"message": "hi"', "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b"{}", "application/json", 400),
        (json.dumps({"session_id": None}).encode(), "application/json", 400),
        (json.dumps({"message": ""}).encode(), "application/json", 400),
        (json.dumps({"message": "   "}).encode(), "application/json", 400),
        (json.dumps({"message": 12345}).encode(), "application/json", 400),
        (json.dumps({"message": ["a"]}).encode(), "application/json", 400),
        (json.dumps({"message": "hi", "session_id": {"x": 1}}).encode(), "application/json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
    ],
    ids=[
        "not-json",
        "truncated",
        "array",
        "empty-object",
        "missing-message",
        "empty",
        "blank",
        "int",
        "list",
        "session-object",
        "binary",
    ],
)
def test_send_message_bad_bodies(server: Server, data: bytes, ctype: str, expect: int) -> None:
    r = _post(server, SEND, data, ctype)
    assert r.status_code == expect, (r.status_code, r.text[:300])
    _frappe_error(r)


def test_over_2000_chars_is_400_naming_the_limit(server: Server) -> None:
    r = _post(server, SEND, json.dumps({"message": "a" * 2001, "session_id": None}).encode())
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert "2000" in r.text or "2,000" in r.text, r.text[:300]
    ok = _post(server, SEND, json.dumps({"message": "é" * 2000, "session_id": None}).encode())
    assert ok.status_code == 200, (ok.status_code, ok.text[:300])


@pytest.mark.parametrize(
    "path",
    [
        SEND,
        "assistant_crm.api.webhooks.whatsapp",
        "assistant_crm.api.make_com_webhook.make_com_webhook",
        "assistant_crm.api.webhooks.telegram",
    ],
)
def test_over_1_mib_is_413(server: Server, path: str) -> None:
    big = json.dumps({"message": "x" * (1024 * 1024 + 10), "session_id": None}).encode()
    r = _post(server, path, big)
    assert r.status_code == 413, (r.status_code, r.text[:300])


@pytest.mark.parametrize(
    "path",
    [
        "assistant_crm.api.chat.no_such_function",
        "assistant_crm.api.nothing.here",
        "frappe.client.get_list",
        "os.system",
    ],
)
def test_unknown_endpoint_is_frappe_shaped_404(server: Server, path: str) -> None:
    r = _post(server, path, b"{}")
    assert r.status_code == 404, (r.status_code, r.text[:300])
    body = r.json()
    assert body.get("exc_type") == "DoesNotExistError" or "_server_messages" in body, body


def test_wrong_method_is_not_500(server: Server) -> None:
    r = requests.get(server.api(SEND), params={"message": "hi"}, timeout=10)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])


def test_signed_webhook_with_bad_json_is_400(server: Server) -> None:
    import hashlib
    import hmac

    for body in (
        b"not json at all",
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{}]}]}',
    ):
        sig = "sha256=" + hmac.new(SECRETS["whatsapp_app_secret"].encode(), body, hashlib.sha256).hexdigest()
        r = _post(server, "assistant_crm.api.webhooks.whatsapp", body, headers={"X-Hub-Signature-256": sig})
        assert r.status_code == 400, (r.status_code, r.text[:300])
    r = _post(
        server,
        "assistant_crm.api.webhooks.telegram",
        b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram_secret_token"]},
    )
    assert r.status_code == 400, (r.status_code, r.text[:300])


def test_live_data_bad_params_not_500(server: Server) -> None:
    for payload in (
        {},
        {"session_id": 5},
        {"session_id": "x" * 500},
        {"session_id": "abc", "claim_number": "nonsense"},
    ):
        r = _post(server, "assistant_crm.api.live_data.get_claim", json.dumps(payload).encode())
        assert 400 <= r.status_code < 500, (payload, r.status_code, r.text[:300])


def test_server_still_alive(server: Server) -> None:
    assert server.alive()
    assert requests.get(server.api("ping"), timeout=5).json() == {"message": "pong"}


def test_chat_rate_limit_429_with_retry_after(relay_server: Server) -> None:
    """relay_server runs with chat_rate_limit_per_minute=8."""
    sid = None
    codes = []
    for i in range(12):
        r = requests.post(
            relay_server.api(SEND), json={"message": f"hello {i}", "session_id": sid}, timeout=15
        )
        codes.append(r.status_code)
        if r.status_code == 200:
            sid = r.json()["message"]["session_id"]
        elif r.status_code == 429:
            assert r.headers.get("Retry-After", "").isdigit(), r.headers
            _frappe_error(r)
            break
    assert 429 in codes, codes
    assert 500 not in codes


DEEP = b'{"message":' + b"[" * 20000 + b"]" * 20000 + b"}"
HUGE_INT = b'{"message": "hi", "session_id": ' + b"9" * 5000 + b"}"


def _signed_headers(path: str, body: bytes) -> dict:
    import hashlib
    import hmac
    import time

    if path.endswith("whatsapp"):
        mac = hmac.new(SECRETS["whatsapp_app_secret"].encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={mac}"}
    if path.endswith("telegram"):
        return {"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram_secret_token"]}
    if path.endswith("make_com_webhook"):
        ts = str(int(time.time()))
        mac = hmac.new(
            SECRETS["make_com_webhook_secret"].encode(), ts.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return {"X-API-Key": SECRETS["make_com_api_key"], "X-Timestamp": ts, "X-Signature": f"sha256={mac}"}
    return {}


@pytest.mark.parametrize("body", [DEEP, HUGE_INT], ids=["nested-20000-deep", "5000-digit-integer"])
@pytest.mark.parametrize(
    "path",
    [
        SEND,
        "assistant_crm.api.live_data.get_claims",
        "assistant_crm.api.webhooks.whatsapp",
        "assistant_crm.api.webhooks.telegram",
        "assistant_crm.api.make_com_webhook.make_com_webhook",
    ],
)
def test_pathological_json_is_400_not_500(server: Server, path: str, body: bytes) -> None:
    r = _post(server, path, body, headers=_signed_headers(path, body))
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
