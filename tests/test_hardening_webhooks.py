"""Issue 12.4 and 12.6: lone surrogates and bad neighbours in webhook batches,
and a failing database answered 503 with Retry-After (in-process WSGI client)."""

from __future__ import annotations

import json
import logging

import pytest
from werkzeug.test import Client

from assistant_crm.standalone.wsgi import create_app
from tests.fakes import webhook_payloads as wp
from tests.support import set_settings

BASE = "/api/method/assistant_crm.api."
WA = BASE + "webhooks.whatsapp"
FB = BASE + "webhooks.messenger"
TG = BASE + "webhooks.telegram"
SMS = BASE + "webhooks.sms"
MAKE = BASE + "make_com_webhook.make_com_webhook"
MSG = "Omnichannel Message"
SECRETS = {
    "whatsapp_app_secret": "wa-app-secret-123",
    "messenger_app_secret": "fb-app-secret-789",
    "telegram_secret_token": "tg-secret-345",
    "sms_callback_token": "sms-token-678",
    "make_com_api_key": "make-key-234",
}
BAD = "bad \ud800 text \udfff end"


def _ascii_json(payload) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800", as Meta's and others' encoders do.
    return json.dumps(payload, ensure_ascii=True).encode()


def _post(client: Client, platform: str, payload) -> object:
    if platform == "sms":
        return client.post(
            SMS + "?token=" + SECRETS["sms_callback_token"],
            data=wp.form_body(payload),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    body = _ascii_json(payload)
    if platform == "whatsapp":
        return client.post(WA, data=body, headers=wp.meta_headers(SECRETS["whatsapp_app_secret"], body))
    if platform == "messenger":
        return client.post(FB, data=body, headers=wp.meta_headers(SECRETS["messenger_app_secret"], body))
    if platform == "telegram":
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram_secret_token"],
        }
        return client.post(TG, data=body, headers=headers)
    return client.post(MAKE, data=body, headers=wp.make_headers(SECRETS["make_com_api_key"], body))


def _payload(platform: str, text: str):
    if platform == "whatsapp":
        return wp.wa_webhook(wp.wa_value([wp.wa_text(text)]))
    if platform == "messenger":
        return wp.fb_webhook(wp.fb_message(text))
    if platform == "telegram":
        return wp.tg_update(text)
    if platform == "sms":
        return wp.at_form(text)
    return wp.make_message(text)


def _client(runtime) -> Client:
    set_settings(runtime, **SECRETS)
    return Client(create_app(runtime))


def _texts(runtime) -> list[str]:
    rows = runtime.store.list(MSG, filters={"direction": "inbound"}, fields=["payload"])
    out = []
    for row in rows:
        payload = row["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        out.append(payload["text"])
    return out


PLATFORMS = ["whatsapp", "messenger", "telegram", "make_com"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lone_surrogate_is_replaced_and_stored_sqlite(rt, platform):
    r = _post(_client(rt), platform, _payload(platform, BAD))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _texts(rt) == ["bad \ufffd text \ufffd end"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lone_surrogate_is_replaced_and_stored_mariadb(mariadb_rt, platform):
    r = _post(_client(mariadb_rt), platform, _payload(platform, BAD))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _texts(mariadb_rt) == ["bad \ufffd text \ufffd end"]


def test_sms_with_broken_utf8_is_stored(rt):
    client = _client(rt)
    form = wp.at_form("x")
    body = wp.form_body(form).replace(b"text=x", b"text=bad+%ED%A0%80+end")
    r = client.post(
        SMS + "?token=" + SECRETS["sms_callback_token"],
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert len(_texts(rt)) == 1 and _texts(rt)[0].startswith("bad ")


def test_a_bad_message_in_a_whatsapp_batch_never_loses_its_neighbours(rt):
    good1, good2 = wp.wa_text("first"), wp.wa_text("third " + BAD)
    broken = wp.wa_text("second")
    del broken["id"]
    payload = wp.wa_webhook(wp.wa_value([good1, broken, good2]))
    r = _post(_client(rt), "whatsapp", payload)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert sorted(_texts(rt)) == sorted(["first", "third bad \ufffd text \ufffd end"])


def test_a_bad_item_in_a_messenger_batch_never_loses_its_neighbours(rt):
    payload = wp.fb_webhook(wp.fb_message("hello"), {"sender": {}, "message": {"mid": "m.1", "text": "x"}})
    r = _post(_client(rt), "messenger", payload)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _texts(rt) == ["hello"]


def test_a_batch_of_only_bad_messages_is_still_400(rt):
    broken = wp.wa_text("x")
    del broken["id"]
    r = _post(_client(rt), "whatsapp", wp.wa_webhook(wp.wa_value([broken])))
    assert r.status_code == 400 and "id is missing" in r.get_data(as_text=True)
    assert _texts(rt) == []


@pytest.mark.parametrize("platform", PLATFORMS + ["sms"])
def test_database_failing_is_503_with_retry_after(rt, platform, caplog):
    client = _client(rt)
    with rt.store.engine.begin() as conn:
        conn.exec_driver_sql('DROP TABLE "tabOmnichannel Message"')
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="assistant_crm"):
        r = _post(client, platform, _payload(platform, "hello"))
    assert r.status_code == 503, r.get_data(as_text=True)
    assert int(r.headers["Retry-After"]) > 0
    assert "Traceback" not in r.get_data(as_text=True)
    lines = [rec for rec in caplog.records if "answering 503" in rec.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR and lines[0].exc_info is None


@pytest.mark.parametrize("obj", [["page"], {"a": 1}, 5, None])
def test_messenger_object_of_any_type_is_a_400(rt, obj):
    """Found by the fuzz suite: a list as ``object`` raised TypeError (a 500)."""
    r = _post(_client(rt), "messenger", {"object": obj, "entry": []})
    assert r.status_code == 400 and "object" in r.get_data(as_text=True)
