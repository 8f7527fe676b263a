"""The values that flow through the reply pipeline and the channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CHANNELS = ("web", "whatsapp", "telegram", "messenger", "instagram", "sms")

INTENTS = (
    "greeting",
    "goodbye",
    "claim_submission",
    "claim_status",
    "payment_inquiry",
    "employer_contributions",
    "employer_registration",
    "document_status",
    "information_request",
    "service_request",
    "escalation",
    "out_of_scope",
)

SESSION_STATUSES = ("bot", "waiting_for_agent", "with_agent", "closed")


@dataclass
class Attachment:
    url: str
    mime_type: str = ""
    name: str = ""
    size: int | None = None


@dataclass
class InboundMessage:
    """One message from a person, whatever the channel."""

    channel: str
    text: str
    sender_id: str = ""  # platform sender id (web: the session id)
    sender_name: str = ""
    sender_phone: str = ""  # E.164 when known
    platform_message_id: str = ""
    session_id: str | None = None  # web chat: the visitor's session token
    message_type: str = "text"  # text | image | document | audio | location | interactive
    attachments: list[Attachment] = field(default_factory=list)
    reply_to: str | None = None
    received_at: datetime | None = None
    remote_ip: str = ""
    # Web chat over HTTP: the browser-binding cookie as sent ("" when none). None
    # only for messages made in-process (tests, tools), which no browser sent;
    # api/chat.py, the web channel's only way in, always sets it (issue 12.12).
    web_cookie: str | None = None


@dataclass
class IntentResult:
    intent: str
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    source: str = "classifier"  # classifier | context | rule | gemini


@dataclass
class Passage:
    """A knowledge-base passage retrieved for grounding."""

    article: str  # Knowledge Base Article name
    title: str
    text: str
    score: float
    source: str = ""
    slug: str = ""


@dataclass
class Reply:
    """What the assistant answers to one inbound message."""

    text: str
    session_id: str
    intent: str = ""
    confidence: float = 0.0
    quick_replies: list[str] = field(default_factory=list)
    handoff: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    suppressed: bool = False  # a human agent holds the session: nothing is sent
    # Web chat: the browser-binding cookie to set (a new or rotated value), "" to
    # expire it, None to leave it. Never part of the JSON answer (HttpOnly).
    cookie: str | None = None

    def as_api(self) -> dict[str, Any]:
        return {
            "reply": self.text,
            "session_id": self.session_id,
            "intent": self.intent,
            "confidence": round(float(self.confidence), 4),
            "quick_replies": list(self.quick_replies),
            "handoff": self.handoff,
            "metadata": dict(self.metadata),
        }


@dataclass
class OutboundMessage:
    """One reply queued for delivery on a channel (an outbox record's content)."""

    channel: str
    recipient_id: str
    text: str
    session_id: str = ""
    quick_replies: list[str] = field(default_factory=list)
    reply_to: str | None = None
    correlation_id: str = ""  # the outbox record name
    recipient_phone: str = ""
    sensitive: bool = False  # a one-time code: the text is dropped from the record once sent
    # The button that opens a list of more than three choices (WhatsApp), in the
    # conversation's language (template ``label_options``); "" = the sender's default.
    menu_label: str = ""


@dataclass
class SessionState:
    """A Chat Session as the engine sees it (the store row is the truth; this is
    loaded from cache or store at the start of a turn and saved at its end)."""

    name: str
    channel: str = "web"
    platform_sender_id: str = ""
    display_name: str = ""
    phone: str = ""  # E.164
    status: str = "bot"  # one of SESSION_STATUSES
    assigned_agent: str | None = None
    language: str = "en"
    verified_person_id: str | None = None
    verified_at: datetime | None = None
    locked_intent: str | None = None
    last_activity: datetime | None = None
    expiry: datetime | None = None
    message_count: int = 0
    visitor_token: str = ""
    # Dialogue state, persisted as the session's JSON ``context`` field; read and
    # written only through services/dialogue/state.py (Dialogue(session)).
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def is_verified(self) -> bool:
        return bool(self.verified_person_id)


@dataclass
class GateResult:
    """What the verification gate decided for one turn."""

    action: str  # "pass": answer `intent` now; "reply": send `text` and stop the turn
    intent: str | None = None  # the intent to answer (a resumed locked intent after verification)
    text: str = ""
    quick_replies: list[str] = field(default_factory=list)
    question: str = ""  # on resuming after verification: the question that needed it


@dataclass
class LiveAnswer:
    """A live-data answer for the verified person."""

    text: str
    quick_replies: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # grounding for Gemini (already masked)
    ok: bool = True  # False when CoreBusiness could not be reached


@dataclass
class Rendered:
    text: str
    quick_replies: list[str] = field(default_factory=list)


@dataclass
class ComposeRequest:
    """Everything Gemini may see for one reply: grounded facts only."""

    user_message: str
    intent: str
    language: str
    fallback: str  # the template answer, used on any failure
    passages: list[Passage] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)  # (role "user"|"model", text)
    personal: bool = False  # carries personal data: never cached
    person_name: str = ""


@dataclass
class ComposeResult:
    text: str
    source: str  # "gemini" | "template" | "cache"
    error: str = ""
