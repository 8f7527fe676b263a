"""Telegram Bot API Update objects -> InboundEvents.

Only ``message`` and ``edited_message`` concern the assistant; any other update
(channel posts, callback queries, member changes) is acknowledged and skipped,
because Telegram redelivers anything not answered 2xx. Chat ids are 64-bit
integers: kept as exact decimal strings. The conversation is the chat, so the
sender id is the chat id (that is where replies go). The idempotency id is
chat id + message id (edits add the edit date), so the same message relayed
by Make.com and delivered directly is still processed once.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant_crm.services.delivery.channels.inbound import (
    InboundEvent,
    as_id,
    clean_text,
    normalise_phone,
    require,
    to_unix,
)
from assistant_crm.services.infra.errors import ValidationError

log = logging.getLogger("assistant_crm.channels.telegram_in")

MEDIA = (
    ("photo", "image"),
    ("document", "document"),
    ("voice", "audio"),
    ("audio", "audio"),
    ("video", "document"),
    ("sticker", "image"),
)


def parse(payload: Any) -> list[InboundEvent]:
    if not isinstance(payload, dict):
        raise ValidationError("body must be a JSON object (a Telegram Update)", field="body")
    if not isinstance(payload.get("update_id"), int) or isinstance(payload.get("update_id"), bool):
        raise ValidationError("update_id is missing or not an integer", field="update_id")
    for key in ("message", "edited_message"):
        if key in payload:
            return [_message(payload[key], key, edited=key == "edited_message")]
    log.info("telegram: update %s without message skipped", payload["update_id"])
    return []


def _message(m: Any, where: str, edited: bool) -> InboundEvent:
    if not isinstance(m, dict):
        raise ValidationError(f"{where} must be a JSON object", field=where)
    message_id = as_id(m.get("message_id"), f"{where}.message_id")
    chat = require(m, "chat", where, dict)
    chat_id = as_id(chat.get("id"), f"{where}.chat.id")
    if not chat_id.lstrip("-").isdigit():
        # Telegram chat ids are 64-bit integers; anything else is not from Telegram.
        raise ValidationError(f"{where}.chat.id must be an integer", field=f"{where}.chat.id")
    sender = m.get("from") if isinstance(m.get("from"), dict) else {}
    name = " ".join(str(sender.get(k) or "") for k in ("first_name", "last_name")).strip() or str(
        sender.get("username") or ""
    )
    pmid = f"{chat_id}:{message_id}" + (f":e{m.get('edit_date', '')}" if edited else "")
    event = InboundEvent(
        platform="telegram",
        event_type="message",
        platform_message_id=pmid,
        sender_id=chat_id,
        sender_name=clean_text(name)[:140],
        text=clean_text(m.get("text") if m.get("text") is not None else m.get("caption")),
        timestamp=to_unix(m.get("edit_date") if edited else m.get("date")),
        extra={
            "update_kind": "edited_message" if edited else "message",
            "message_id": message_id,
            "from_id": str(sender.get("id", "")),
        },
    )
    reply = m.get("reply_to_message")
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        event.reply_to = f"{chat_id}:{reply['message_id']}"
    for key, mtype in MEDIA:
        media = m.get(key)
        if not media:
            continue
        if isinstance(media, list):  # photo: sizes, the last is the largest
            media = media[-1] if isinstance(media[-1], dict) else {}
        if isinstance(media, dict) and media.get("file_id"):
            event.message_type = mtype
            event.attachments.append(
                {
                    "url": f"telegram-file:{media['file_id']}",
                    "mime_type": str(media.get("mime_type", "")),
                    "name": str(media.get("file_name", "") or key),
                }
            )
            break
    location = m.get("location")
    if isinstance(location, dict):
        event.message_type = "location"
        event.attachments.append(
            {
                "url": f"geo:{location.get('latitude')},{location.get('longitude')}",
                "mime_type": "application/geo+json",
                "name": "location",
            }
        )
    contact = m.get("contact")
    if isinstance(contact, dict) and contact.get("phone_number"):
        # A shared contact is the sender's own phone only when Telegram says so.
        if str(contact.get("user_id", "")) == str(sender.get("id", "")) and sender.get("id") is not None:
            event.sender_phone = normalise_phone(str(contact["phone_number"]))
        event.text = event.text or clean_text(contact.get("phone_number"))
    return event
