"""Customer satisfaction (CSAT): one 1-5 rating and an optional comment per conversation.

Asked once, when an agent closes the conversation (:func:`ask_after_close`)
and when the assistant ends one it resolved, a goodbye after an answered
question (:func:`ask_after_goodbye`). Buttons on web, WhatsApp, Telegram and
Messenger; on SMS the person replies with a number. Stored on the Chat
Session (``csat``, ``csat_comment``, ``csat_at``; ``csat_asked_at`` says it
was asked).

The answer may come after the conversation was closed, when the person's
next message would open a new session, so :func:`intercept` runs before
the pipeline finds the session: a marker in the cache (per web visitor
token, or per channel and sender) points to the conversation that asked.
A rating an hour late (``csat_window_minutes``) or a second rating is not
recorded and gets a polite word instead; any other message goes on to the
assistant as usual.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from assistant_crm.services.dialogue import outreach
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.infra import times
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import InboundMessage, Rendered, Reply, SessionState
from assistant_crm.services.pipeline import context, templates
from assistant_crm.services.pipeline.normalise import clean_text

log = logging.getLogger("assistant_crm.csat")

SESSION = "Chat Session"
MARKER_TTL = 24 * 3600  # how long a late or second rating still gets the polite answer
MAX_COMMENT = 1000
# Sources of a turn that answered the person's question (see note_answer).
ANSWER_SOURCES = ("kb", "live", "gemini", "cache")
_NOT_ANSWERS = ("", "greeting", "goodbye", "escalation", "out_of_scope")

# Wording: the csat_* Response Templates (fixtures/response_template.json, English,
# Bemba and Nyanja); on SMS the "_sms" twin asks for a number instead of buttons.
_SMS_KEYS = ("csat_ask", "csat_comment_ask")
_RATING_RE = re.compile(r"^\s*([1-5])(?:\s*(?:/\s*5|stars?|★|⭐)|\b)", re.I)
_STARS_RE = re.compile(r"^\s*([★⭐]{1,5})\s*$")
_SKIP_RE = re.compile(
    r"^\s*(no|nope|no,? thanks?( you)?|no thank you|nothing|skip|none|awe(,? natotela)?|ayi(,? zikomo)?)\s*[.!]?\s*$",
    re.I,
)


# ------------------------------------------------------------------ helpers


def enabled() -> bool:
    return get_runtime().settings.bool("csat_enabled")


def window() -> timedelta:
    return timedelta(minutes=max(1, get_runtime().settings.int("csat_window_minutes")))


def parse_rating(text: str | None) -> int | None:
    """1..5 from "4", "4 Good", "4/5", "5 stars" or "⭐⭐⭐"; None for anything else."""
    text = (text or "").strip()
    m = _RATING_RE.match(text)
    if m:
        rest = text[m.end() :].strip()
        # "4 Good" (a button) yes; "3 days ago I applied" no: a rating has at most two more words.
        if len(rest.split()) <= 2:
            return int(m.group(1))
        return None
    m = _STARS_RE.match(text)
    return len(m.group(1)) if m else None


def _marker_key(channel: str, ident: str) -> str:
    return f"acrm:csat:{channel}:" + hashlib.sha256(ident.encode()).hexdigest()[:40]


def _session_marker(session: SessionState) -> str | None:
    ident = session.visitor_token if session.channel == "web" else session.platform_sender_id
    return _marker_key(session.channel, ident) if ident else None


def _message_marker(msg: InboundMessage) -> str | None:
    ident = msg.session_id if msg.channel == "web" else msg.sender_id
    return _marker_key(msg.channel, ident) if ident else None


def _render(key: str, session: SessionState, channel: str | None = None) -> Rendered:
    channel = channel or session.channel
    if channel == "sms" and key in _SMS_KEYS:
        key += "_sms"  # a number to type instead of buttons
    return templates.render(key, language=session.language, channel=channel)


# ------------------------------------------------------------------- asking


def _mark_asked(session: SessionState) -> bool:
    """Record that the question goes out now; False when it was asked before (ask once)."""
    rt = get_runtime()
    if Dialogue(session).rating_asked:
        return False
    changed = rt.store.update_where(
        SESSION, {"name": session.name, "csat_asked_at": ("is", "not set")}, {"csat_asked_at": rt.clock.now()}
    )
    if not changed:
        return False
    Dialogue(session).ask_rating()
    key = _session_marker(session)
    if key:
        rt.cache.set(key, {"session": session.name, "stage": "rating"}, ttl=MARKER_TTL)
    return True


def note_answer(session: SessionState, source: str, intent: str) -> None:
    """Remember that the assistant answered a question in this conversation (a
    goodbye after it earns a rating question)."""
    if source in ANSWER_SOURCES or (source == "template" and intent not in _NOT_ANSWERS):
        Dialogue(session).note_answered()


def ask_after_goodbye(session: SessionState, channel: str) -> Rendered | None:
    """The rating question to add to the assistant's goodbye, when it resolved the
    conversation (answered a question, no person needed) and never asked before."""
    if not enabled() or not Dialogue(session).answered or session.status != "bot":
        return None
    if not _mark_asked(session):
        return None
    log.info("session %s: rating asked after the assistant's goodbye", session.name)
    return _render("csat_ask", session, channel)


def after_turn(session: SessionState, draft: Any, channel: str) -> None:
    """The pipeline's hook after composing a reply (``draft`` has ``text``,
    ``quick_replies``, ``source``, ``intent``): note an answered question, and put
    the rating question under a goodbye that ends a resolved conversation."""
    note_answer(session, draft.source, draft.intent)
    if draft.intent != "goodbye":
        return
    question = ask_after_goodbye(session, channel)
    if question is not None:
        draft.text = f"{draft.text}\n\n{question.text}".strip()
        draft.quick_replies = list(question.quick_replies)


def ask_after_close(session: SessionState) -> bool:
    """Send the rating question after an agent closed the conversation; False when
    ratings are off or it was asked already."""
    if not enabled() or not _mark_asked(session):
        return False
    outreach.send(session, _render("csat_ask", session), intent="")
    log.info("session %s: rating asked after the agent closed it", session.name)
    return True


# --------------------------------------------------------------- answering


def intercept(msg: InboundMessage) -> Reply | None:
    """The answer to a rating question asked in this person's last conversation,
    or None when the message is not one (it goes to the assistant as usual)."""
    key = _message_marker(msg)
    if not key:
        return None
    rt = get_runtime()
    marker = rt.cache.get(key)
    if not isinstance(marker, dict) or not marker.get("session"):
        return None
    session = context.get_session(str(marker["session"]))
    if session is None or (msg.channel == "web" and session.visitor_token != msg.session_id):
        rt.cache.delete(key)
        return None
    text, _cut = clean_text(msg.text or "")  # as the pipeline cleans and caps it
    rating = parse_rating(text)
    stage = marker.get("stage")
    row = rt.store.get(SESSION, session.name) or {}
    now = rt.clock.now()
    if rating is not None:
        answer = _rate(session, row, stage, rating, now)
        rt.cache.set(
            key,
            {"session": session.name, "stage": "comment" if answer == "csat_comment_ask" else "done"},
            ttl=MARKER_TTL,
        )
    elif stage == "comment" and _fresh(row.get("csat_at"), now):
        answer = "csat_thanks"
        if not _SKIP_RE.match(text):
            _set_if_blank(session.name, "csat_comment", text[:MAX_COMMENT])
            log.info("session %s: rating comment stored", session.name)
        rt.cache.set(key, {"session": session.name, "stage": "done"}, ttl=MARKER_TTL)
    else:
        rt.cache.delete(key)  # asked once: a message that is no answer ends it
        return None
    return _reply(session, msg, text, _render(answer, session), now)


def _set_if_blank(name: str, field: str, value: Any) -> bool:
    """Compare-and-set a text field that is empty (NULL in one runtime, "" in another)."""
    store = get_runtime().store
    for blank in (("is", "not set"), ""):
        if store.update_where(SESSION, {"name": name, field: blank}, {field: value}):
            return True
    return False


def _fresh(asked: Any, now: datetime) -> bool:
    return isinstance(asked, datetime) and now - asked <= window()


def _rate(session: SessionState, row: dict[str, Any], stage: Any, rating: int, now: datetime) -> str:
    """Store the rating if it is the first and in time; the template key to answer with."""
    if row.get("csat"):
        return "csat_already"
    if stage != "rating" or not _fresh(row.get("csat_asked_at"), now):
        log.info("session %s: late rating %s ignored", session.name, rating)
        return "csat_stale"
    # csat_at, not csat: under Frappe an Int column is 0, never NULL.
    changed = get_runtime().store.update_where(
        SESSION, {"name": session.name, "csat_at": ("is", "not set")}, {"csat": rating, "csat_at": now}
    )
    if not changed:
        return "csat_already"
    log.info("session %s rated %s", session.name, rating)
    return "csat_comment_ask"


def _reply(
    session: SessionState, msg: InboundMessage, text: str, rendered: Rendered, received: datetime
) -> Reply:
    context.append_history(
        session,
        "in",
        "user",
        text,
        channel_message_id=msg.platform_message_id or None,
        created=received,
    )
    name = outreach.send(session, rendered, publish=False, after=received, touch=True)
    shown, buttons = outreach.for_channel(rendered, session.channel)
    return Reply(
        text=shown,
        session_id=context.public_id(session),
        intent="",
        confidence=1.0,
        quick_replies=buttons,
        metadata={
            "source": "csat",
            "status": session.status,
            "message_id": name,
            "language": session.language,
        },
    )


# ------------------------------------------------------------------ reading


def for_conversation(session_name: str) -> dict[str, Any]:
    """The rating of one conversation: ``{"csat", "csat_comment", "csat_at", "csat_asked"}``."""
    row = get_runtime().store.get(SESSION, session_name) or {}
    at = row.get("csat_at")
    return {
        "csat": int(row["csat"]) if row.get("csat") else None,
        "csat_comment": row.get("csat_comment") or "",
        "csat_at": times.to_iso(at) if isinstance(at, datetime) else None,
        "csat_asked": bool(row.get("csat_asked_at")),
    }


def summary(since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Ratings given in a period (by ``csat_at``): count, average, the 1..5
    distribution and the share of asked conversations that answered."""
    store = get_runtime().store
    rated: dict[str, Any] = {"csat": (">=", 1)}
    asked: dict[str, Any] = {"csat_asked_at": ("is", "set")}
    if since is not None:
        rated["csat_at"] = (">=", since)
        asked["csat_asked_at"] = (">=", since)
    rows = store.list(SESSION, rated, fields=["csat", "csat_at"])
    if until is not None:
        rows = [r for r in rows if isinstance(r.get("csat_at"), datetime) and r["csat_at"] < until]
    distribution = {str(n): 0 for n in range(1, 6)}
    for r in rows:
        distribution[str(int(r["csat"]))] = distribution.get(str(int(r["csat"])), 0) + 1
    count = len(rows)
    asked_count = store.count(SESSION, asked)
    return {
        "count": count,
        "average": round(sum(int(r["csat"]) for r in rows) / count, 2) if count else None,
        "distribution": distribution,
        "asked": asked_count,
        "response_rate": round(count / asked_count, 3) if asked_count else None,
    }
