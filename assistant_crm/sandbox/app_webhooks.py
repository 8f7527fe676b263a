"""The webhooks the platforms send to the app, built and signed as the platforms do.

People's messages (WhatsApp, Messenger, Telegram, Africa's Talking SMS) and
delivery receipts (WhatsApp statuses, Messenger deliveries, Make.com status
events) go to the app's webhook endpoints with the platform's proof of origin:
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret) for
Meta, ``X-Telegram-Bot-Api-Secret-Token`` for Telegram, the ``?token=`` of the
callback URL for Africa's Talking, ``X-API-Key`` plus ``X-Signature`` /
``X-Timestamp`` for Make.com (contracts/make_com.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

log = logging.getLogger("assistant_crm.sandbox.webhooks")

WEBHOOK_PATHS = {
    "whatsapp": "/api/method/assistant_crm.api.webhooks.whatsapp",
    "messenger": "/api/method/assistant_crm.api.webhooks.messenger",
    "telegram": "/api/method/assistant_crm.api.webhooks.telegram",
    "sms": "/api/method/assistant_crm.api.webhooks.sms",
    "make_com": "/api/method/assistant_crm.api.make_com_webhook.make_com_webhook",
}
WA_BUSINESS_ACCOUNT_ID = "102290129340398"
SMS_SHORTCODE = "2020"


@dataclass
class AppSecrets:
    """What the sandbox shares with the app (the same values go into the app's settings)."""

    whatsapp_app_secret: str = ""
    whatsapp_phone_number_id: str = ""
    messenger_app_secret: str = ""
    messenger_page_id: str = ""
    telegram_secret_token: str = ""
    sms_callback_token: str = ""
    make_com_api_key: str = ""
    make_com_webhook_secret: str = ""


@dataclass
class Delivery:
    """The app's answer to one webhook."""

    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _now() -> int:
    return int(time.time())


# -- bodies ------------------------------------------------------------------------
def whatsapp_message(
    secrets: AppSecrets, wa_id: str, text: str, name: str = "", reply: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """(wamid, webhook body) for a text, or a button reply when ``reply`` = {"id", "title"}."""
    mid = "wamid.HBgM" + uuid.uuid4().hex.upper()
    message: dict[str, Any] = {"from": wa_id, "id": mid, "timestamp": str(_now())}
    if reply:
        message["type"] = "interactive"
        message["interactive"] = {
            "type": "button_reply",
            "button_reply": {"id": reply["id"], "title": reply["title"]},
        }
    else:
        message["type"] = "text"
        message["text"] = {"body": text}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550783881",
            "phone_number_id": secrets.whatsapp_phone_number_id,
        },
        "contacts": [{"profile": {"name": name or wa_id}, "wa_id": wa_id}],
        "messages": [message],
    }
    return mid, _wa_envelope(value)


def whatsapp_status(secrets: AppSecrets, wamid: str, state: str, recipient: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(_now()),
        "recipient_id": recipient,
    }
    if state in ("sent", "delivered"):
        status["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": "service"}}
        status["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550783881",
            "phone_number_id": secrets.whatsapp_phone_number_id,
        },
        "statuses": [status],
    }
    return _wa_envelope(value)


def _wa_envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WA_BUSINESS_ACCOUNT_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def messenger_message(
    secrets: AppSecrets, psid: str, text: str, reply: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    mid = f"m_{uuid.uuid4().hex}"
    message: dict[str, Any] = {"mid": mid, "text": text}
    if reply:
        message["quick_reply"] = {"payload": reply["id"]}
    item = {
        "sender": {"id": psid},
        "recipient": {"id": secrets.messenger_page_id},
        "timestamp": int(time.time() * 1000),
        "message": message,
    }
    return mid, _fb_envelope(secrets, item)


def messenger_delivery(secrets: AppSecrets, psid: str, mids: list[str]) -> dict[str, Any]:
    item = {
        "sender": {"id": psid},
        "recipient": {"id": secrets.messenger_page_id},
        "delivery": {"mids": mids, "watermark": int(time.time() * 1000)},
    }
    return _fb_envelope(secrets, item)


def messenger_read(secrets: AppSecrets, psid: str) -> dict[str, Any]:
    item = {
        "sender": {"id": psid},
        "recipient": {"id": secrets.messenger_page_id},
        "timestamp": int(time.time() * 1000),
        "read": {"watermark": int(time.time() * 1000)},
    }
    return _fb_envelope(secrets, item)


def _fb_envelope(secrets: AppSecrets, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": secrets.messenger_page_id, "time": int(time.time() * 1000), "messaging": [item]}],
    }


def telegram_update(chat_id: int, text: str, message_id: int, first_name: str = "") -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": first_name or "Sandbox", "language_code": "en"}
    return {
        "update_id": uuid.uuid4().int % 900_000_000,
        "message": {
            "message_id": message_id,
            "from": user,
            "chat": {"id": chat_id, "first_name": user["first_name"], "type": "private"},
            "date": _now(),
            "text": text,
        },
    }


def sms_form(phone: str, text: str) -> tuple[str, dict[str, str]]:
    mid = f"ATXid_{uuid.uuid4().hex}"
    form = {
        "from": phone,
        "to": SMS_SHORTCODE,
        "text": text,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "id": mid,
        "linkId": uuid.uuid4().hex,
        "networkCode": "64502",
    }
    return mid, form


def make_com_status(platform: str, correlation_id: str, state: str) -> dict[str, Any]:
    return {
        "platform": platform,
        "event_type": "status",
        "message_id": f"evt-{uuid.uuid4().hex}",
        "timestamp": _now(),
        "data": {"message": None, "sender": None, "status": {"message_id": correlation_id, "state": state}},
    }


# -- posting -------------------------------------------------------------------------
class AppClient:
    """Posts signed webhooks to the app at ``app_url``."""

    def __init__(self, app_url: str, secrets: AppSecrets, timeout: float = 10.0):
        self.app_url = app_url.rstrip("/")
        self.secrets = secrets
        self.timeout = timeout
        self.http = requests.Session()

    def _post(self, channel: str, data: bytes, headers: dict[str, str], query: str = "") -> Delivery:
        url = self.app_url + WEBHOOK_PATHS[channel] + (f"?{query}" if query else "")
        try:
            resp = self.http.post(url, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as e:
            log.warning("sandbox: the app did not take the %s webhook: %s", channel, e.__class__.__name__)
            return Delivery(0, f"the app at {self.app_url} is not reachable ({e.__class__.__name__})")
        if not 200 <= resp.status_code < 300:
            log.info("sandbox: the app answered the %s webhook with %s", channel, resp.status_code)
        return Delivery(resp.status_code, resp.text[:500])

    def meta(self, channel: str, payload: dict[str, Any]) -> Delivery:
        """WhatsApp or Messenger: JSON signed with the app secret."""
        secret = (
            self.secrets.whatsapp_app_secret if channel == "whatsapp" else self.secrets.messenger_app_secret
        )
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": hub_signature(secret, body)}
        return self._post(channel, body, headers)

    def telegram(self, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": self.secrets.telegram_secret_token,
        }
        return self._post("telegram", body, headers)

    def sms(self, form: dict[str, str]) -> Delivery:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._post(
            "sms",
            urlencode(form).encode(),
            headers,
            query=urlencode({"token": self.secrets.sms_callback_token}),
        )

    def make_com(self, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-API-Key": self.secrets.make_com_api_key}
        if self.secrets.make_com_webhook_secret:
            ts = str(_now())
            mac = hmac.new(
                self.secrets.make_com_webhook_secret.encode(), f"{ts}.".encode() + body, hashlib.sha256
            )
            headers["X-Timestamp"] = ts
            headers["X-Signature"] = "sha256=" + mac.hexdigest()
        return self._post("make_com", body, headers)
