"""Messenger (and Instagram messaging) webhook payloads -> InboundEvents.

Shape (Meta): ``{"object": "page", "entry": [{"id", "time", "messaging": [
{"sender": {"id"}, "recipient": {"id"}, "timestamp", "message": {...}} |
{"delivery": {"mids": [...]}} | {"read": {"watermark"}} | {"postback": {...}}]}]}``.
Our own sends come back as ``is_echo`` messages: skipped. Read receipts carry
only a watermark, no message ids, so they are logged and skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant_crm.services.delivery.channels.inbound import (
    InboundEvent,
    ItemErrors,
    as_id,
    clean_text,
    require,
    to_unix,
)
from assistant_crm.services.infra.errors import ValidationError

log = logging.getLogger("assistant_crm.channels.messenger_in")

OBJECTS = {"page": "messenger", "instagram": "instagram"}
ATTACHMENT_TYPES = {"image": "image", "audio": "audio", "video": "document", "file": "document"}


def parse(payload: Any) -> list[InboundEvent]:
    if not isinstance(payload, dict):
        raise ValidationError("body must be a JSON object", field="body")
    obj = payload.get("object")
    if not isinstance(obj, str) or obj not in OBJECTS:  # a list or object here is not hashable
        raise ValidationError(f"object must be 'page' or 'instagram', got {str(obj)[:40]!r}", field="object")
    platform = OBJECTS[obj]
    events: list[InboundEvent] = []
    skipped = ItemErrors(platform)
    for i, entry in enumerate(require(payload, "entry", "body", list)):
        if not isinstance(entry, dict):
            raise ValidationError(f"entry[{i}] must be a JSON object", field=f"entry[{i}]")
        messaging = entry.get("messaging")
        if messaging is None:
            # "changes" (feed, comments) or "standby" (another app owns the thread)
            log.info("messenger: entry without messaging skipped")
            continue
        if not isinstance(messaging, list):
            raise ValidationError(f"entry[{i}].messaging must be a list", field=f"entry[{i}].messaging")
        for j, item in enumerate(messaging):
            try:
                events.extend(_item(item, f"entry[{i}].messaging[{j}]", platform))
            except ValidationError as e:
                skipped.skip(e)
    return skipped.check(events)


def _item(item: Any, where: str, platform: str) -> list[InboundEvent]:
    if not isinstance(item, dict):
        raise ValidationError(f"{where} must be a JSON object", field=where)
    sender = as_id((item.get("sender") or {}).get("id"), f"{where}.sender.id")
    ts = to_unix(item.get("timestamp"))
    if "message" in item:
        return _message(item["message"], f"{where}.message", platform, sender, ts)
    if "postback" in item:
        pb = require(item, "postback", where, dict)
        # Newer postbacks carry an mid; older ones are keyed by sender and time.
        mid = str(pb.get("mid") or f"postback:{sender}:{item.get('timestamp', '')}")
        return [
            InboundEvent(
                platform=platform,
                event_type="message",
                platform_message_id=mid,
                sender_id=sender,
                text=clean_text(pb.get("title") or pb.get("payload")),
                message_type="interactive",
                timestamp=ts,
                extra={"reply_id": str(pb.get("payload", "")), "kind": "postback"},
            )
        ]
    if "delivery" in item:
        delivery = require(item, "delivery", where, dict)
        return [
            InboundEvent(
                platform=platform,
                event_type="status",
                platform_message_id=str(mid),
                sender_id=sender,
                state="delivered",
                timestamp=ts,
            )
            for mid in (delivery.get("mids") or [])
            if mid
        ]
    if "read" in item or "reaction" in item or "optin" in item or "referral" in item:
        log.info(
            "messenger: %s event skipped",
            next(k for k in ("read", "reaction", "optin", "referral") if k in item),
        )
        return []
    raise ValidationError(f"{where} has no message, postback, delivery or read event", field=where)


def _message(m: Any, where: str, platform: str, sender: str, ts: int) -> list[InboundEvent]:
    if not isinstance(m, dict):
        raise ValidationError(f"{where} must be a JSON object", field=where)
    if m.get("is_echo"):
        return []
    mid = require(m, "mid", where)
    event = InboundEvent(
        platform=platform,
        event_type="message",
        platform_message_id=mid,
        sender_id=sender,
        text=clean_text(m.get("text")),
        timestamp=ts,
    )
    reply_to = m.get("reply_to")
    if isinstance(reply_to, dict) and reply_to.get("mid"):
        event.reply_to = str(reply_to["mid"])
    quick = m.get("quick_reply")
    if isinstance(quick, dict):
        event.message_type = "interactive"
        event.extra = {"reply_id": str(quick.get("payload", "")), "kind": "quick_reply"}
    for k, att in enumerate(m.get("attachments") or []):
        if not isinstance(att, dict):
            raise ValidationError(
                f"{where}.attachments[{k}] must be a JSON object", field=f"{where}.attachments[{k}]"
            )
        atype = str(att.get("type", ""))
        payload = att.get("payload") if isinstance(att.get("payload"), dict) else {}
        if atype == "location":
            coords = payload.get("coordinates") or {}
            event.attachments.append(
                {
                    "url": f"geo:{coords.get('lat')},{coords.get('long')}",
                    "mime_type": "application/geo+json",
                    "name": "location",
                }
            )
            event.message_type = "location"
        elif atype in ATTACHMENT_TYPES:
            event.attachments.append(
                {
                    "url": str(payload.get("url", "")),
                    "mime_type": "",
                    "name": str(att.get("title", "") or atype),
                }
            )
            if event.message_type == "text":
                event.message_type = ATTACHMENT_TYPES[atype]
        else:
            log.info("messenger: attachment type %r recorded as a link", atype[:30])
            event.attachments.append({"url": str(payload.get("url", "")), "mime_type": "", "name": atype})
    if not event.text and not event.attachments:
        # Nothing we can answer (a bare reaction or a deleted message); refusing it
        # would only make Meta redeliver it.
        log.info("messenger: message without text or attachments skipped")
        return []
    return [event]
