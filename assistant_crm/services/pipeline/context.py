"""Stage 2 of the reply pipeline: the conversation a message belongs to.

Sessions live in the ``Chat Session`` DocType (the truth) and are cached for
30 minutes in the runtime cache so a turn costs no session read.

Finding the session:

* web chat: by the visitor's token (``msg.session_id``), which is the session's
  ``visitor_token`` (``secrets.token_urlsafe``, 256 bits) and never its
  ``name``; an unknown or malformed token starts a NEW session with a new token,
  so nobody can reach another person's conversation by guessing.
* other channels: the open (not closed, not expired) session for
  channel + platform sender id; otherwise a new one.

Idle expiry (setting ``session_idle_minutes``, 30 by default). When a session
has been idle longer than that, verification is always dropped. Then:

* a session a human agent holds (waiting_for_agent / with_agent) stays open
  unverified: the person must not lose their place in the queue;
* a web session is resumed unverified under the same token, so the bubble keeps
  showing the visitor's own history;
* a session on another channel is closed (history kept for the agents) and
  the next message opens a new one.

A web session closed by an agent is never reopened: the next message gets a
new session and token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from assistant_crm.services.delivery import message_signals
from assistant_crm.services.dialogue import signout, web_session
from assistant_crm.services.dialogue.state import Dialogue, initial_context
from assistant_crm.services.infra import live
from assistant_crm.services.infra.masking import mask_codes, mask_nrcs, mask_text
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.infra.times import to_iso
from assistant_crm.services.models import InboundMessage, SessionState
from assistant_crm.services.pipeline import language as language_mod

log = logging.getLogger("assistant_crm.context")

SESSION_DOCTYPE = "Chat Session"
HISTORY_DOCTYPE = "Chat History"
CACHE_TTL = 30 * 60
HELD_STATUSES = ("waiting_for_agent", "with_agent")
LANGUAGES = ("en", "bem", "nya", "toi", "loz")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_SESSION_FIELDS = [f.name for f in fields(SessionState)]
_DATETIME_FIELDS = ("verified_at", "last_activity", "expiry")


# ---------------------------------------------------------------- cache keys


def _state_key(name: str) -> str:
    return f"acrm:session:{name}"


def _token_key(token: str) -> str:
    return "acrm:session:tok:" + hashlib.sha256(token.encode()).hexdigest()[:40]


def _sender_key(channel: str, sender: str) -> str:
    return f"acrm:session:snd:{channel}:" + hashlib.sha256(sender.encode()).hexdigest()[:40]


# ------------------------------------------------------- row <-> dataclass


def _parse_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _parse_json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def from_row(row: dict[str, Any]) -> SessionState:
    """A Chat Session row as a :class:`SessionState`."""
    values = {k: row.get(k) for k in _SESSION_FIELDS if k in row}
    for k in _DATETIME_FIELDS:
        values[k] = _parse_dt(values.get(k))
    values["context"] = _parse_json(row.get("context"))
    values["message_count"] = int(values.get("message_count") or 0)
    for k in (
        "platform_sender_id",
        "display_name",
        "phone",
        "visitor_token",
        "channel",
        "status",
        "language",
    ):
        if values.get(k) is None:
            values.pop(k, None)
    return SessionState(**values)


def _shallow(session: SessionState) -> dict[str, Any]:
    # Not dataclasses.asdict: that deep-copies the context on every save.
    return {k: getattr(session, k) for k in _SESSION_FIELDS}


def _to_row(session: SessionState) -> dict[str, Any]:
    row = _shallow(session)
    row.pop("name")
    row["context"] = json.dumps(session.context, default=str, ensure_ascii=False)
    return row


def _to_cache(session: SessionState) -> dict[str, Any]:
    data = _shallow(session)
    for k in _DATETIME_FIELDS:
        data[k] = data[k].isoformat() if data[k] else None
    # Both caches store JSON text, so the live context dict is never shared.
    return data


def _from_cache(data: dict[str, Any]) -> SessionState:
    values = dict(data)
    for k in _DATETIME_FIELDS:
        values[k] = _parse_dt(values.get(k))
    return SessionState(**{k: v for k, v in values.items() if k in _SESSION_FIELDS})


# ------------------------------------------------------------------ loading


def public_id(session: SessionState) -> str:
    """The id a person's client holds: the web visitor token, else the session name."""
    return session.visitor_token if session.channel == "web" and session.visitor_token else session.name


def idle_minutes() -> int:
    return max(1, get_runtime().settings.int("session_idle_minutes"))


_UNREAD = object()


def get_session(name: str, cached: Any = _UNREAD) -> SessionState | None:
    """A session by its ``name`` (cache first, then the store); ``cached`` is
    the cache entry when the caller has read it already."""
    if not name:
        return None
    rt = get_runtime()
    if cached is _UNREAD:
        cached = rt.cache.get(_state_key(name))
    if isinstance(cached, dict):
        try:
            return _from_cache(cached)
        except (TypeError, ValueError):
            rt.cache.delete(_state_key(name))
    row = rt.store.get(SESSION_DOCTYPE, name)
    if not row:
        return None
    session = from_row(row)
    rt.cache.set(_state_key(name), _to_cache(session), ttl=CACHE_TTL)
    return session


def _cached_session(index_key: str) -> SessionState | None:
    """The session an index entry (token or sender -> name) points to: both
    cache reads in one round trip where the cache can (``get_pair``)."""
    cache = get_runtime().cache
    get_pair = getattr(cache, "get_pair", None)
    if callable(get_pair):
        name, cached = get_pair(index_key, _state_key(""))  # cached None: no state entry
    else:
        name, cached = cache.get(index_key), _UNREAD
    if not name or not isinstance(name, str):
        return None
    return get_session(name, cached)


def _cache_set_many(items: dict[str, Any]) -> None:
    cache = get_runtime().cache
    set_many = getattr(cache, "set_many", None)
    if callable(set_many):
        set_many(items, ttl=CACHE_TTL)
        return
    for key, value in items.items():
        cache.set(key, value, ttl=CACHE_TTL)


def get_session_by_token(token: str | None) -> SessionState | None:
    """A web session by the visitor token the client holds; None when unknown or malformed."""
    if not token or not isinstance(token, str) or not _TOKEN_RE.match(token):
        return None
    rt = get_runtime()
    session = _cached_session(_token_key(token))
    if session and secrets.compare_digest(session.visitor_token or "", token):
        return session
    row = rt.store.get_by(SESSION_DOCTYPE, {"visitor_token": token})
    if not row:
        return None
    session = from_row(row)
    _cache_set_many({_token_key(token): session.name, _state_key(session.name): _to_cache(session)})
    return session


def _open_session_for_sender(channel: str, sender: str) -> SessionState | None:
    rt = get_runtime()
    session = _cached_session(_sender_key(channel, sender))
    if session and session.status != "closed" and session.platform_sender_id == sender:
        return session
    rows = rt.store.list(
        SESSION_DOCTYPE,
        {"channel": channel, "platform_sender_id": sender, "status": ("!=", "closed")},
        order_by="creation desc",
        limit=1,
    )
    if not rows:
        return None
    session = from_row(rows[0])
    _cache_set_many(
        {_sender_key(channel, sender): session.name, _state_key(session.name): _to_cache(session)}
    )
    return session


def is_expired(session: SessionState, now: datetime | None = None) -> bool:
    now = now or get_runtime().clock.now()
    last = session.last_activity
    return bool(last and now - last > timedelta(minutes=idle_minutes()))


def _drop_verification(session: SessionState) -> None:
    session.verified_person_id = None
    session.verified_at = None
    session.locked_intent = None
    Dialogue(session).reset_on_idle()


def new_session(msg: InboundMessage) -> SessionState:
    """Create and store a new session for ``msg``'s sender."""
    from assistant_crm.services.pipeline.normalise import to_e164

    rt = get_runtime()
    now = rt.clock.now()
    token = secrets.token_urlsafe(32)
    phone = to_e164(msg.sender_phone) if msg.sender_phone else ""
    if not phone and msg.channel in ("whatsapp", "sms") and msg.sender_id:
        phone = to_e164(msg.sender_id if msg.sender_id.startswith("+") else "+" + msg.sender_id)
    settings_lang = rt.settings.str("default_language") or "en"
    session = SessionState(
        name="",
        channel=msg.channel,
        # web: the visitor token is the only handle; no need to store it twice
        platform_sender_id="" if msg.channel == "web" else (msg.sender_id or ""),
        display_name=(msg.sender_name or "")[:140],
        phone=phone,
        status="bot",
        language=settings_lang if settings_lang in LANGUAGES else "en",
        last_activity=now,
        expiry=now + timedelta(minutes=idle_minutes()),
        visitor_token=token,
        context=initial_context(),
    )
    session.name = rt.store.insert(SESSION_DOCTYPE, _to_row(session))
    _cache_put(session)
    log.info("new session %s channel=%s", session.name, session.channel)
    return session


def _cache_put(session: SessionState) -> None:
    items: dict[str, Any] = {_state_key(session.name): _to_cache(session)}
    if session.channel == "web" and session.visitor_token:
        items[_token_key(session.visitor_token)] = session.name
    elif session.platform_sender_id:
        items[_sender_key(session.channel, session.platform_sender_id)] = session.name
    _cache_set_many(items)


def load_session(msg: InboundMessage) -> SessionState:
    """The session ``msg`` belongs to, created when there is none (see the module doc)."""
    rt = get_runtime()
    now = rt.clock.now()
    if msg.channel == "web":
        session = get_session_by_token(msg.session_id)
        if session is None and msg.session_id:
            log.info("unknown or malformed web session id; starting a new session")
        if session is not None and session.status == "closed":
            session = None
    else:
        session = _open_session_for_sender(msg.channel, msg.sender_id) if msg.sender_id else None
    if session is None:
        return new_session(msg)
    if is_expired(session, now):
        log.info("session %s idle past %s minutes: verification dropped", session.name, idle_minutes())
        _drop_verification(session)
        if session.channel != "web" and session.status not in HELD_STATUSES:
            session.status = "closed"
            save_session(session, touch=False)
            return new_session(msg)
    if session.verified_person_id and signout.ended(session.verified_person_id, session.verified_at):
        log.info("session %s: the person signed out elsewhere: verification dropped", session.name)
        session.verified_person_id = None
        session.verified_at = None
        session.locked_intent = None
        Dialogue(session).end_verification()
    if msg.channel == "web":
        web_session.enforce(session, msg.web_cookie, now)  # a token without its browser: verify again
    if msg.sender_name and not session.display_name:
        session.display_name = msg.sender_name[:140]
    return session


def save_session(session: SessionState, *, touch: bool = True) -> None:
    """Write the session to the store (the truth) and the cache.

    ``touch`` marks activity now and moves the idle expiry forward.
    """
    rt = get_runtime()
    if touch:
        now = rt.clock.now()
        session.last_activity = now
        session.expiry = now + timedelta(minutes=idle_minutes())
    row = _to_row(session)
    row.pop("visitor_token", None)  # unique and never changes: keep it out of updates
    rt.store.update(SESSION_DOCTYPE, session.name, row)
    # The token/sender -> name entries were set when the session was found.
    rt.cache.set(_state_key(session.name), _to_cache(session), ttl=CACHE_TTL)


def invalidate(name: str) -> None:
    """Forget the cached copy (after a direct store update elsewhere)."""
    get_runtime().cache.delete(_state_key(name))


def set_status(session: SessionState, status: str, agent: str | None = None) -> None:
    """Change who holds the conversation (bot, waiting, agent, closed) and save."""
    session.status = status
    if status in ("bot", "closed", "waiting_for_agent"):
        session.assigned_agent = agent if status == "waiting_for_agent" else None
    else:
        session.assigned_agent = agent
    Dialogue(session).handed_over(keep_question=status == "bot")
    save_session(session, touch=False)
    live.notify(session.name, "status")


# ------------------------------------------------------- language and slots


def update_language(session: SessionState, detected: str, text: str) -> str:
    """Switch the conversation language when the person clearly switches.

    Any local-language detection is a clear signal; going back to English
    needs a message of at least three words that reads as English (two or more
    common English words), so "ok", an NRC, or a Nyanja question the word lists
    miss ("Ndalama zomaliza zinali zingati?") does not flip it: the detector says
    "en" when unsure, and a conversation in Nyanja answered in English is worse.
    """
    if detected not in LANGUAGES or detected == session.language:
        return session.language
    if detected != "en" or (
        len(re.findall(r"[A-Za-z]{2,}", text)) >= 3 and language_mod.reads_as_english(text)
    ):
        session.language = detected
    return session.language


def update_slots(session: SessionState, nrcs: list[str], claim_numbers: list[str], phones: list[str]) -> None:
    """Remember the latest NRC, claim number and phone the person gave."""
    Dialogue(session).remember(
        nrc=nrcs[-1] if nrcs else "",
        claim_number=claim_numbers[-1] if claim_numbers else "",
        phone=phones[-1] if phones else "",
    )


# ------------------------------------------------------------------ history

SHORT_CODE_MESSAGE = 40  # characters: a message this short holding 6 digits is taken for a code


def append_history(
    session: SessionState,
    direction: str,
    author: str,
    text: str,
    intent: str | None = None,
    confidence: float | None = None,
    stage_timings: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    quick_replies: list[str] | None = None,
    channel_message_id: str | None = None,
    agent: str | None = None,
    created: datetime | None = None,
) -> str:
    """Store one message of the conversation; returns the Chat History name.

    ``created`` sets the row's creation time (when the message arrived).
    """
    rt = get_runtime()
    if direction == "in":
        # What a person typed is stored without NRCs or one-time codes (issue 12.11);
        # the gate has read them from the message itself. A code comes as a short
        # message of its own ("123456", "code 123 456"); a longer one keeps its
        # figures (an amount of 100 000 is not a code).
        text = mask_nrcs(text)
        if len(text) <= SHORT_CODE_MESSAGE:
            text = mask_codes(text)
    row: dict[str, Any] = {
        "session": session.name,
        "direction": direction,
        "author": author,
        "text": text,
        "channel": session.channel,
        "intent": intent or "",
        "confidence": float(confidence) if confidence is not None else None,
        "channel_message_id": channel_message_id or "",
        # Written while a person was verified here: may hold their records, so the
        # web chat shows it only to that person's bound browser (issue 12.12).
        "personal": 1 if session.verified_person_id else 0,
    }
    if agent:
        row["agent"] = agent
    if created is not None:
        row["creation"] = created
    if stage_timings is not None:
        row["stage_timings"] = json.dumps(stage_timings)
    if attachments:
        row["attachments"] = json.dumps(attachments)
    if quick_replies:
        row["quick_replies"] = json.dumps(quick_replies, ensure_ascii=False)
    name = rt.store.insert(HISTORY_DOCTYPE, row)
    if session.channel == "web":
        message_signals.announce(session.name)  # wakes the visitor's long-poll once committed
    session.message_count += 1
    log.debug("history %s %s/%s: %s", session.name, direction, author, mask_text(text[:60]))
    live.notify(session.name, "message")
    return name


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    created = _parse_dt(row.get("creation"))
    out = {
        "id": row.get("name"),
        "direction": row.get("direction"),
        "author": row.get("author"),
        "text": row.get("text") or "",
        "intent": row.get("intent") or "",
        "created": to_iso(created),  # with the offset: the stored time is naive
        "quick_replies": _parse_list(row.get("quick_replies")),
        "attachments": _parse_list(row.get("attachments")),
    }
    return out


def _parse_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return []
    return parsed if isinstance(parsed, list) else []


def history_rows(
    session_name: str, since: datetime | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Raw Chat History rows of a session, oldest first (optionally after ``since``)."""
    rt = get_runtime()
    filters: dict[str, Any] = {"session": session_name}
    if since is not None:
        filters["creation"] = (">", since)
    if limit:
        rows = rt.store.list(HISTORY_DOCTYPE, filters, order_by="creation desc", limit=limit)
        rows.reverse()
    else:
        rows = rt.store.list(HISTORY_DOCTYPE, filters, order_by="creation asc")
    return rows


def history(session: SessionState, limit: int = 10) -> list[dict[str, Any]]:
    """The last ``limit`` messages of the conversation, oldest first."""
    return [_history_row(r) for r in history_rows(session.name, limit=limit)]


def realtime_item(row: dict[str, Any]) -> dict[str, Any]:
    """What Frappe realtime pushes to the visitor's room (``task_id`` = the token):
    the message itself, but for a personal one only ``{"refresh": true}``, so the
    bubble fetches it through ``get_messages``, which checks the browser
    (anyone holding the token can join that room)."""
    if not row or is_personal(row):
        return {"refresh": True}
    return _history_row(row)


HIDDEN_TEXT = "(Hidden: this message held personal details. Verify again to see your records.)"


def is_personal(row: dict[str, Any]) -> bool:
    """Whether a Chat History row was written while the person was verified."""
    try:
        return bool(int(row.get("personal") or 0))
    except (TypeError, ValueError):
        return False


def as_api_message(row: dict[str, Any], hide_personal: bool = False) -> dict[str, Any]:
    """A Chat History row shaped for the web bubble and the agent desk; with
    ``hide_personal`` a personal row keeps its id and time but not its content."""
    item = _history_row(row)
    if hide_personal and is_personal(row):
        item.update(text=HIDDEN_TEXT, quick_replies=[], attachments=[], intent="", hidden=True)
    return item


def gemini_history(session: SessionState, limit: int = 6) -> list[tuple[str, str]]:
    """Recent turns as (role, text) pairs for the model; identifiers masked."""
    pairs = []
    for item in history(session, limit=limit):
        role = "user" if item["direction"] == "in" else "model"
        pairs.append((role, mask_text(item["text"])))
    return pairs
