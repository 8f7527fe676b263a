"""Real-format webhook bodies for every platform, and the signing each platform does.

The signing here is written independently of ``services/signatures.py`` from
the platforms' documentation, so a bug there cannot hide itself in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

WA_PHONE_NUMBER_ID = "106540352242922"
WA_BUSINESS_ID = "102290129340398"
PAGE_ID = "1234567890123"


def wamid() -> str:
    return "wamid.HBgM" + uuid.uuid4().hex.upper()


# -- WhatsApp Cloud API ----------------------------------------------------------
def wa_text(
    body: str,
    wa_id: str = "260971234567",
    name: str = "Mwila Banda",
    mid: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": mid or wamid(),
        "timestamp": str(ts or int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def wa_image(
    wa_id: str = "260971234567", caption: str = "", media_id: str = "1479537139650973"
) -> dict[str, Any]:
    image = {
        "mime_type": "image/jpeg",
        "sha256": "HgbO0mVjYjx1D8OpVJ/e4OL6Ysr1uQ6zt1UdHULXM0E=",
        "id": media_id,
    }
    if caption:
        image["caption"] = caption
    return {"from": wa_id, "id": wamid(), "timestamp": str(int(time.time())), "type": "image", "image": image}


def wa_document(wa_id: str = "260971234567", filename: str = "medical-report.pdf") -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "document",
        "document": {
            "filename": filename,
            "mime_type": "application/pdf",
            "sha256": "abc=",
            "id": "838293746512",
        },
    }


def wa_location(wa_id: str = "260971234567") -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "location",
        "location": {
            "latitude": -15.4167,
            "longitude": 28.2833,
            "name": "WCFCB Head Office",
            "address": "Lusaka",
        },
    }


def wa_button_reply(
    title: str, reply_id: str = "claim_status", wa_id: str = "260971234567"
) -> dict[str, Any]:
    return {
        "context": {"from": WA_PHONE_NUMBER_ID, "id": wamid()},
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}},
    }


def wa_list_reply(title: str, reply_id: str = "row-1", wa_id: str = "260971234567") -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": reply_id, "title": title, "description": "d"},
        },
    }


def wa_template_button(text: str, wa_id: str = "260971234567") -> dict[str, Any]:
    return {
        "context": {"from": WA_PHONE_NUMBER_ID, "id": wamid()},
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "button",
        "button": {"payload": "YES_PAYLOAD", "text": text},
    }


def wa_status(
    mid: str, status: str, recipient: str = "260971234567", error_code: int | None = None
) -> dict[str, Any]:
    s: dict[str, Any] = {
        "id": mid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if status in ("sent", "delivered"):
        s["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": "service"}}
        s["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if error_code is not None:
        s["errors"] = [
            {
                "code": error_code,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
            }
        ]
    return s


def wa_value(
    messages: list[dict] | None = None,
    statuses: list[dict] | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE_NUMBER_ID},
    }
    if messages:
        wa_ids = {m["from"] for m in messages}
        value["contacts"] = [
            {"profile": {"name": (names or {}).get(w, "Mwila Banda")}, "wa_id": w} for w in sorted(wa_ids)
        ]
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return value


def wa_webhook(*values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """``{"object": "whatsapp_business_account", "entry": [...]}``; values are spread
    over ``entries`` entries, one change each."""
    entry_list = [{"id": WA_BUSINESS_ID, "changes": []} for _ in range(entries)]
    for i, value in enumerate(values):
        entry_list[i % entries]["changes"].append({"value": value, "field": "messages"})
    return {"object": "whatsapp_business_account", "entry": entry_list}


# -- Messenger -----------------------------------------------------------------------
def fb_message(
    text: str, psid: str = "6789012345678901", mid: str | None = None, quick_reply: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid or f"m_{uuid.uuid4().hex}", "text": text}
    if quick_reply:
        message["quick_reply"] = {"payload": quick_reply}
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "message": message,
    }


def fb_attachment(psid: str = "6789012345678901", kind: str = "image") -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "message": {
            "mid": f"m_{uuid.uuid4().hex}",
            "attachments": [{"type": kind, "payload": {"url": "https://scontent.example/x.jpg"}}],
        },
    }


def fb_echo(text: str) -> dict[str, Any]:
    return {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": "6789012345678901"},
        "timestamp": int(time.time() * 1000),
        "message": {
            "mid": f"m_{uuid.uuid4().hex}",
            "is_echo": True,
            "app_id": 1517776481860111,
            "text": text,
        },
    }


def fb_postback(title: str, payload: str, psid: str = "6789012345678901") -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "postback": {"mid": f"m_{uuid.uuid4().hex}", "title": title, "payload": payload},
    }


def fb_delivery(mids: list[str], psid: str = "6789012345678901") -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "delivery": {"mids": mids, "watermark": int(time.time() * 1000)},
    }


def fb_read(psid: str = "6789012345678901") -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "read": {"watermark": int(time.time() * 1000)},
    }


def fb_webhook(*messaging: dict[str, Any], obj: str = "page") -> dict[str, Any]:
    return {
        "object": obj,
        "entry": [{"id": PAGE_ID, "time": int(time.time() * 1000), "messaging": list(messaging)}],
    }


# -- Telegram ------------------------------------------------------------------------
def tg_update(
    text: str,
    chat_id: int = 5533019283447719,
    message_id: int = 17,
    update_id: int | None = None,
    edited: bool = False,
    first_name: str = "Chanda",
) -> dict[str, Any]:
    message = {
        "message_id": message_id,
        "from": {
            "id": chat_id,
            "is_bot": False,
            "first_name": first_name,
            "last_name": "Mulenga",
            "language_code": "en",
        },
        "chat": {"id": chat_id, "first_name": first_name, "last_name": "Mulenga", "type": "private"},
        "date": int(time.time()),
        "text": text,
    }
    if edited:
        message["edit_date"] = int(time.time()) + 5
    return {
        "update_id": update_id or (uuid.uuid4().int % 900_000_000),
        "edited_message" if edited else "message": message,
    }


# -- SMS -----------------------------------------------------------------------------
def at_form(text: str, sender: str = "+260971234567", msg_id: str | None = None) -> dict[str, str]:
    return {
        "from": sender,
        "to": "2020",
        "text": text,
        "date": "2026-11-25 10:15:02",
        "id": msg_id or f"ATXid_{uuid.uuid4().hex}",
        "linkId": uuid.uuid4().hex,
        "networkCode": "64502",
    }


def twilio_form(body: str, sender: str = "+260971234567", sid: str | None = None) -> dict[str, str]:
    return {
        "ToCountry": "ZM",
        "SmsMessageSid": sid or "SM" + uuid.uuid4().hex,
        "NumMedia": "0",
        "From": sender,
        "To": "+260211000000",
        "Body": body,
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def twilio_sign(auth_token: str, url: str, form: dict[str, str]) -> str:
    # Twilio's documented algorithm: URL + each (name + value) sorted by name, HMAC-SHA1, base64.
    data = url + "".join(f"{k}{form[k]}" for k in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


# -- Make.com ------------------------------------------------------------------------
def make_message(
    content: str,
    platform: str = "whatsapp",
    message_id: str | None = None,
    sender_id: str = "260971234567",
    name: str = "Mwila Banda",
    phone: str | None = "+260971234567",
    mtype: str = "text",
    attachments: list[dict] | None = None,
) -> dict[str, Any]:
    return {
        "platform": platform,
        "event_type": "message",
        "message_id": message_id or wamid(),
        "timestamp": "2026-11-24T09:15:02Z",
        "data": {
            "message": {"content": content, "type": mtype},
            "sender": {"id": sender_id, "name": name, "phone": phone},
            "attachments": attachments or [],
            "status": None,
        },
    }


def make_status(message_id: str, state: str, platform: str = "whatsapp", error: str = "") -> dict[str, Any]:
    return {
        "platform": platform,
        "event_type": "status",
        "message_id": f"evt-{uuid.uuid4().hex}",
        "timestamp": int(time.time()),
        "data": {
            "message": None,
            "sender": None,
            "status": {"message_id": message_id, "state": state, "error": error},
        },
    }


# -- signing ---------------------------------------------------------------------------
def body_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def hub_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_headers(app_secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": hub_signature(app_secret, body)}


def make_headers(
    api_key: str, body: bytes, secret: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-API-Key": api_key}
    if secret:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers["X-Timestamp"] = ts
        headers["X-Signature"] = (
            "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        )
    return headers


def form_body(form: dict[str, str]) -> bytes:
    return urlencode(form).encode()
