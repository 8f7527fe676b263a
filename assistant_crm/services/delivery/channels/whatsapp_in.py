"""WhatsApp Cloud API webhook payloads -> InboundEvents.

Shape (Meta): ``{"object": "whatsapp_business_account", "entry": [{"id", "changes":
[{"field": "messages", "value": {"metadata", "contacts", "messages", "statuses"}}]}]}``.
One request may hold several entries, changes, messages and statuses.
Message kinds Meta adds over time that we cannot answer (reactions, system
notices, orders...) are skipped and logged rather than refused: a 4xx makes
Meta redeliver, and after days of that disable the webhook.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant_crm.services.delivery.channels.inbound import (
    STATUS_STATES,
    InboundEvent,
    ItemErrors,
    as_id,
    clean_text,
    normalise_phone,
    require,
    to_unix,
)
from assistant_crm.services.infra.errors import ValidationError

log = logging.getLogger("assistant_crm.channels.whatsapp_in")

OBJECT = "whatsapp_business_account"
MEDIA_TYPES = {
    "image": "image",
    "sticker": "image",
    "document": "document",
    "video": "document",
    "audio": "audio",
}
SKIPPED_TYPES = ("reaction", "system", "unsupported", "order", "ephemeral", "request_welcome")


def parse(payload: Any) -> list[InboundEvent]:
    """All message and status events of a webhook body (already JSON-decoded)."""
    if not isinstance(payload, dict):
        raise ValidationError("body must be a JSON object", field="body")
    obj = payload.get("object")
    if obj != OBJECT:
        raise ValidationError(f"object must be {OBJECT!r}, got {str(obj)[:40]!r}", field="object")
    entries = require(payload, "entry", "body", list)
    events: list[InboundEvent] = []
    skipped = ItemErrors("whatsapp")
    for i, entry in enumerate(entries):
        changes = require(entry, "changes", f"entry[{i}]", list)
        for j, change in enumerate(changes):
            where = f"entry[{i}].changes[{j}]"
            field = require(change, "field", where)
            if field != "messages":
                log.info("whatsapp: ignoring change field %r", field[:40])
                continue
            value = require(change, "value", where, dict)
            events.extend(_from_value(value, f"{where}.value", skipped))
    return skipped.check(events)


def _from_value(value: dict[str, Any], where: str, skipped: ItemErrors) -> list[InboundEvent]:
    names: dict[str, str] = {}
    for contact in value.get("contacts") or []:
        if isinstance(contact, dict) and contact.get("wa_id"):
            names[str(contact["wa_id"])] = clean_text((contact.get("profile") or {}).get("name"))[:140]
    events: list[InboundEvent] = []
    for k, message in enumerate(value.get("messages") or []):
        try:
            event = _message(message, f"{where}.messages[{k}]", names)
        except ValidationError as e:
            skipped.skip(e)
            continue
        if event is not None:
            events.append(event)
    for k, status in enumerate(value.get("statuses") or []):
        try:
            events.append(_status(status, f"{where}.statuses[{k}]"))
        except ValidationError as e:
            skipped.skip(e)
    return events


def _message(m: Any, where: str, names: dict[str, str]) -> InboundEvent | None:
    mid = require(m, "id", where)
    sender = as_id(m.get("from"), f"{where}.from")
    mtype = require(m, "type", where)
    event = InboundEvent(
        platform="whatsapp",
        event_type="message",
        platform_message_id=mid,
        sender_id=sender,
        sender_name=names.get(sender, ""),
        sender_phone=normalise_phone(sender),
        timestamp=to_unix(m.get("timestamp")),
        message_type="text",
    )
    context = m.get("context")
    if isinstance(context, dict) and context.get("id"):
        event.reply_to = str(context["id"])
    if mtype == "text":
        event.text = clean_text(require(m, "text", where, dict).get("body"))
    elif mtype in MEDIA_TYPES:
        media = require(m, mtype, where, dict)
        media_id = as_id(media.get("id"), f"{where}.{mtype}.id")
        event.message_type = MEDIA_TYPES[mtype]
        event.text = clean_text(media.get("caption"))
        # The media id is fetched from the Graph API when someone needs the file;
        # the reference is what the conversation records.
        event.attachments.append(
            {
                "url": f"whatsapp-media:{media_id}",
                "mime_type": str(media.get("mime_type", "")),
                "name": str(media.get("filename", "") or f"{mtype}-{media_id}"),
            }
        )
    elif mtype == "location":
        loc = require(m, "location", where, dict)
        lat, lon = loc.get("latitude"), loc.get("longitude")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            raise ValidationError(
                f"{where}.location needs numeric latitude and longitude", field=f"{where}.location"
            )
        event.message_type = "location"
        event.text = clean_text(" ".join(str(loc.get(k) or "") for k in ("name", "address")).strip())
        event.attachments.append(
            {"url": f"geo:{lat},{lon}", "mime_type": "application/geo+json", "name": "location"}
        )
    elif mtype == "interactive":
        inter = require(m, "interactive", where, dict)
        kind = require(inter, "type", f"{where}.interactive")
        reply = inter.get(kind)
        if not isinstance(reply, dict):
            raise ValidationError(
                f"{where}.interactive.{kind} is missing", field=f"{where}.interactive.{kind}"
            )
        event.message_type = "interactive"
        event.text = clean_text(reply.get("title"))
        event.extra = {"reply_id": str(reply.get("id", "")), "kind": kind}
    elif mtype == "button":
        button = require(m, "button", where, dict)
        event.message_type = "interactive"
        event.text = clean_text(button.get("text"))
        event.extra = {"reply_id": str(button.get("payload", "")), "kind": "button"}
    elif mtype in SKIPPED_TYPES or mtype in ("contacts",):
        log.info("whatsapp: skipping message of type %r", mtype)
        return None
    else:
        log.info("whatsapp: skipping unknown message type %r", mtype[:40])
        return None
    return event


def _status(s: Any, where: str) -> InboundEvent:
    wamid = require(s, "id", where)
    state = require(s, "status", where)
    if state not in STATUS_STATES:
        raise ValidationError(
            f"{where}.status {state[:20]!r} is not one of {', '.join(STATUS_STATES)}", field=f"{where}.status"
        )
    error = ""
    errors = s.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        e = errors[0]
        detail = (e.get("error_data") or {}).get("details") if isinstance(e.get("error_data"), dict) else ""
        error = " ".join(str(p) for p in (e.get("code", ""), e.get("title", ""), detail or "") if p)[:500]
    return InboundEvent(
        platform="whatsapp",
        event_type="status",
        platform_message_id=wamid,
        sender_id=str(s.get("recipient_id", "")),
        timestamp=to_unix(s.get("timestamp")),
        state=state,
        error=error,
    )
