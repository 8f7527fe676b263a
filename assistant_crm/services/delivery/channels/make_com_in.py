"""Make.com relay bodies (``contracts/make_com.md``) -> InboundEvents.

The event keeps the real platform (a WhatsApp message relayed by Make.com is a
WhatsApp message), so the idempotency key is the same whichever way it came.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant_crm.services.delivery.channels.inbound import (
    PLATFORMS,
    STATUS_STATES,
    InboundEvent,
    as_id,
    clean_text,
    normalise_phone,
    require,
    to_unix,
)
from assistant_crm.services.infra.errors import ValidationError

log = logging.getLogger("assistant_crm.channels.make_com_in")

MESSAGE_TYPES = ("text", "image", "document", "audio", "location", "interactive")


def parse(body: Any) -> InboundEvent:
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object", field="body")
    platform = require(body, "platform", "body")
    if platform not in PLATFORMS:
        raise ValidationError(
            f"platform {platform[:30]!r} is not one of {', '.join(PLATFORMS)}", field="platform"
        )
    event_type = require(body, "event_type", "body")
    if event_type not in ("message", "status"):
        raise ValidationError(f"event_type {event_type[:30]!r} must be message or status", field="event_type")
    message_id = as_id(body.get("message_id"), "message_id")
    ts_raw = body.get("timestamp")
    timestamp = to_unix(ts_raw)
    if ts_raw not in (None, "") and timestamp == 0:
        raise ValidationError("timestamp must be ISO-8601 or unix seconds", field="timestamp")
    data = require(body, "data", "body", dict)
    if event_type == "status":
        status = require(data, "status", "data", dict)
        state = require(status, "state", "data.status")
        if state not in STATUS_STATES:
            raise ValidationError(
                f"data.status.state {state[:20]!r} is not one of {', '.join(STATUS_STATES)}",
                field="data.status.state",
            )
        # data.status.message_id may be our correlation id (the outbox record).
        target = str(status.get("message_id") or message_id)
        return InboundEvent(
            platform=platform,
            event_type="status",
            platform_message_id=target,
            state=state,
            error=clean_text(status.get("error") or "")[:500],
            timestamp=timestamp,
            via="make_com",
            extra={"relay_message_id": message_id},
        )
    message = require(data, "message", "data", dict)
    mtype = message.get("type") or "text"
    if mtype not in MESSAGE_TYPES:
        raise ValidationError(
            f"data.message.type {str(mtype)[:20]!r} is not one of {', '.join(MESSAGE_TYPES)}",
            field="data.message.type",
        )
    sender = require(data, "sender", "data", dict)
    sender_id = as_id(sender.get("id"), "data.sender.id")
    attachments = data.get("attachments") or []
    if not isinstance(attachments, list):
        raise ValidationError("data.attachments must be a list", field="data.attachments")
    atts = []
    for i, a in enumerate(attachments):
        if not isinstance(a, dict) or not a.get("url"):
            raise ValidationError(f"data.attachments[{i}].url is missing", field=f"data.attachments[{i}].url")
        atts.append(
            {"url": str(a["url"]), "mime_type": str(a.get("mime_type", "")), "name": str(a.get("name", ""))}
        )
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValidationError("data.message.content must be a string", field="data.message.content")
    if mtype == "text" and not content:
        raise ValidationError("data.message.content is missing", field="data.message.content")
    return InboundEvent(
        platform=platform,
        event_type="message",
        platform_message_id=message_id,
        sender_id=sender_id,
        sender_name=clean_text(sender.get("name") or "")[:140],
        sender_phone=verified_phone(platform, sender_id, sender.get("phone")),
        text=clean_text(content or ""),
        message_type=mtype,
        attachments=atts,
        timestamp=timestamp,
        via="make_com",
    )


def verified_phone(platform: str, sender_id: str, given_phone: object) -> str:
    """The sender's phone as possession proof, or "" (issue 12.1, the contract).

    Only the platform's own sender id proves a phone: on WhatsApp and SMS it is
    the number the message came from. ``sender.phone`` is mapped by whoever wrote
    the scenario; it counts only when it is the same number as ``sender.id``.
    Anywhere else (or when they differ) there is no phone, and the person is
    sent a one-time code instead."""
    if platform not in ("whatsapp", "sms"):
        return ""
    from_id = normalise_phone(sender_id)
    if not from_id:
        return ""
    if given_phone not in (None, "") and normalise_phone(str(given_phone)) != from_id:
        log.warning("make.com: sender.phone differs from sender.id on %s; not used as proof", platform)
        return ""
    return from_id
