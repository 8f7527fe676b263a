"""What every inbound webhook parser produces, and how it becomes an InboundMessage.

A webhook request may carry several events (WhatsApp batches messages and
status receipts). Each parser (``whatsapp_in``, ``messenger_in``,
``telegram_in``, ``sms_in``, ``make_com_in``) turns a request into a list of
:class:`InboundEvent`; the inbox stores each one durably as the JSON payload of
an Omnichannel Message and later rebuilds it with :meth:`InboundEvent.from_payload`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import phonenumbers

from assistant_crm.services.infra.errors import ValidationError
from assistant_crm.services.infra.jsonbody import scrub
from assistant_crm.services.models import Attachment, InboundMessage

log = logging.getLogger("assistant_crm.channels.inbound")

PLATFORMS = ("whatsapp", "telegram", "messenger", "instagram", "sms")
EVENT_TYPES = ("message", "status")
STATUS_STATES = ("sent", "delivered", "read", "failed")
# Channels where the sender id is a phone number (so the phone is known).
PHONE_CHANNELS = ("whatsapp", "sms")
DEFAULT_REGION = "ZM"
KEY_MAX = 140  # the idempotency_key column (Frappe Data)
MAX_TEXT = 8000  # far above any platform's limit; the pipeline trims further


@dataclass
class InboundEvent:
    """One event of a webhook request, platform-neutral."""

    platform: str
    event_type: str  # message | status
    platform_message_id: str
    sender_id: str = ""  # message: who wrote it (the conversation's counterpart)
    sender_name: str = ""
    sender_phone: str = ""  # E.164 when known
    text: str = ""
    message_type: str = "text"
    attachments: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None
    timestamp: int = 0  # platform time, unix seconds (0 when unknown)
    state: str = ""  # status events: sent | delivered | read | failed
    error: str = ""  # status events: the platform's error
    via: str = ""  # "make_com" when relayed
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def idempotency_id(self) -> str:
        """The id that, with the platform, makes the idempotency key. A status
        receipt is keyed by message and state: one wamid gets sent, delivered, read."""
        if self.event_type == "status":
            return f"status:{self.platform_message_id}:{self.state}"
        return self.platform_message_id

    @property
    def idempotency_key(self) -> str:
        return make_idempotency_key(self.platform, self.idempotency_id)

    def to_payload(self) -> dict[str, Any]:
        # What asdict() gives, without its recursive deep copy of every value
        # (a third of the inbox's share of an acknowledgement): only the two
        # containers can be nested, and they are JSON from a webhook.
        payload = {name: getattr(self, name) for name in self.__dataclass_fields__}
        payload["attachments"] = copy.deepcopy(self.attachments) if self.attachments else []
        payload["extra"] = copy.deepcopy(self.extra) if self.extra else {}
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> InboundEvent:
        known = {k: v for k, v in payload.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def make_idempotency_key(platform: str, platform_message_id: str) -> str:
    """``"<platform>:<id>"``; an id too long for the column (140) is replaced by
    its SHA-256, which keeps the key deterministic and so still deduplicates."""
    key = f"{platform}:{platform_message_id}"
    if len(key) > KEY_MAX:
        key = f"{platform}:sha256:{hashlib.sha256(platform_message_id.encode()).hexdigest()}"
    return key


def require(obj: Any, key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    """``obj[key]`` of the given type, or a 400 naming the field."""
    if not isinstance(obj, dict):
        raise ValidationError(f"{where} must be a JSON object", field=where)
    value = obj.get(key)
    if value is None or value == "" or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        problem = "is missing" if value in (None, "") else f"must be {expected}"
        raise ValidationError(f"{where}.{key} {problem}", field=f"{where}.{key}")
    return value


def as_id(value: Any, where: str) -> str:
    """Platform ids arrive as strings or (Telegram, Messenger) 64-bit integers:
    kept as exact decimal strings, never floats."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValidationError(f"{where} is missing", field=where)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise ValidationError(f"{where} must be a string or an integer", field=where)


def to_unix(value: Any) -> int:
    """Unix seconds from an int/str of seconds (or milliseconds) or ISO-8601; 0 when unknown."""
    if value in (None, "") or isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        v = float(value)
    else:
        s = str(value).strip()
        try:
            v = float(s)
        except ValueError:
            try:
                dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            except ValueError:
                return 0
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return int(dt.timestamp())
    if v > 1e11:  # milliseconds (Messenger)
        v /= 1000.0
    return int(v)


@functools.lru_cache(maxsize=4096)  # a pure function; a sender writes again and again (~40 µs a parse)
def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 (``+260971234567``) or "" when it is not a valid number. WhatsApp
    gives ``260971234567`` (no plus); SMS may give a local ``0971234567``."""
    s = (raw or "").strip()
    if not s:
        return ""
    digits = "".join(ch for ch in s if ch.isdigit())
    candidates = [s]
    if not s.startswith("+") and len(digits) > 10:
        candidates.insert(0, "+" + digits)
    for candidate in candidates:
        try:
            num = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return ""


def clean_text(value: Any) -> str:
    """Text as given (unicode, emoji, right-to-left marks intact), capped."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return scrub(value[:MAX_TEXT])


class ItemErrors:
    """Per-item parse errors of a batch (WhatsApp, Messenger): a malformed message
    is skipped and logged so its neighbours are still stored; only a batch with
    nothing usable in it is refused (400 naming the first bad field)."""

    def __init__(self, platform: str):
        self.platform = platform
        self.errors: list[ValidationError] = []

    def skip(self, error: ValidationError) -> None:
        self.errors.append(error)
        log.info("%s: skipped a malformed item of a batch: %s", self.platform, error.message[:200])

    def check(self, events: list[InboundEvent]) -> list[InboundEvent]:
        """``events``, or the first error when the batch yielded none."""
        if self.errors and not events:
            raise self.errors[0]
        return events


def to_inbound_message(event: InboundEvent, remote_ip: str = "") -> InboundMessage:
    """The pipeline's view of a stored message event."""
    received = (
        datetime.fromtimestamp(event.timestamp, tz=timezone.utc).replace(tzinfo=None)
        if event.timestamp
        else None
    )
    return InboundMessage(
        channel=event.platform,
        text=event.text,
        sender_id=event.sender_id,
        sender_name=event.sender_name,
        sender_phone=event.sender_phone,
        platform_message_id=event.platform_message_id,
        message_type=event.message_type or "text",
        attachments=[
            Attachment(
                url=str(a.get("url", "")),
                mime_type=str(a.get("mime_type", "")),
                name=str(a.get("name", "")),
                size=a.get("size") if isinstance(a.get("size"), int) else None,
            )
            for a in event.attachments
        ],
        reply_to=event.reply_to,
        received_at=received,
        remote_ip=remote_ip,
    )
