"""Inbound SMS callbacks -> InboundEvents.

Africa's Talking posts a form with ``from, to, text, date, id`` (plus
``linkId``, ``networkCode``); Twilio posts ``From, To, Body, MessageSid`` (plus
``NumMedia``, ``MediaUrl0``...). The provider is told apart by the fields
present, falling back to the ``sms_provider`` setting.
"""

from __future__ import annotations

from collections.abc import Mapping

from assistant_crm.services.delivery.channels.inbound import (
    InboundEvent,
    clean_text,
    normalise_phone,
    to_unix,
)
from assistant_crm.services.infra.errors import ValidationError

AFRICASTALKING = "africastalking"
TWILIO = "twilio"


def detect_provider(form: Mapping[str, str], configured: str = AFRICASTALKING) -> str:
    if "MessageSid" in form or "SmsSid" in form:
        return TWILIO
    if "from" in form or "id" in form or "linkId" in form:
        return AFRICASTALKING
    return configured if configured in (AFRICASTALKING, TWILIO) else AFRICASTALKING


def _field(form: Mapping[str, str], name: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise ValidationError(f"form field {name!r} is missing", field=name)
    return value


def _sender_phone(sender: str, field: str) -> str:
    """People text from phone numbers; anything else in the sender field is a malformed callback."""
    phone = normalise_phone(sender)
    if not phone:
        raise ValidationError(f"form field {field!r} is not a phone number", field=field)
    return phone


def parse(form: Mapping[str, str], provider: str) -> list[InboundEvent]:
    """One message event from the provider's form fields."""
    if provider == TWILIO:
        sid = _field(form, "MessageSid") if "MessageSid" in form else _field(form, "SmsSid")
        sender = _field(form, "From")
        event = InboundEvent(
            platform="sms",
            event_type="message",
            platform_message_id=sid,
            sender_id=sender,
            sender_phone=_sender_phone(sender, "From"),
            text=clean_text(form.get("Body", "")),
            extra={"provider": TWILIO, "to": form.get("To", "")},
        )
        try:
            media_count = int(form.get("NumMedia") or 0)
        except ValueError:
            media_count = 0
        for i in range(min(media_count, 10)):
            url = form.get(f"MediaUrl{i}")
            if url:
                event.attachments.append(
                    {"url": url, "mime_type": form.get(f"MediaContentType{i}", ""), "name": f"media-{i}"}
                )
        if event.attachments and event.message_type == "text":
            event.message_type = (
                "image" if event.attachments[0]["mime_type"].startswith("image/") else "document"
            )
        return [event]
    sender = _field(form, "from")
    event = InboundEvent(
        platform="sms",
        event_type="message",
        platform_message_id=_field(form, "id"),
        sender_id=sender,
        sender_phone=_sender_phone(sender, "from"),
        text=clean_text(form.get("text", "")),
        timestamp=to_unix(form.get("date")),
        extra={"provider": AFRICASTALKING, "to": form.get("to", ""), "link_id": form.get("linkId", "")},
    )
    return [event]
