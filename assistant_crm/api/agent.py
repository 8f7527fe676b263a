"""The agent desk API: the inbox, one conversation's transcript, take, reply,
notes, transfer, hand back and close.

Staff only (roles Assistant CRM Agent or Manager). ``session_id`` here is the
Chat Session ``name`` (staff see names; web visitors only ever hold their
unguessable visitor token). Every action is written to the audit log.

Conflicts answer 409: taking or replying to a conversation another agent holds
(the message names the holder), and anything but reading on a closed one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER, current_request, endpoint
from assistant_crm.services.delivery import to_person
from assistant_crm.services.dialogue import csat, handoff
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.infra import live, times
from assistant_crm.services.infra.errors import DuplicateError, NotFound, ValidationError
from assistant_crm.services.infra.masking import mask_phone
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import SESSION_STATUSES, SessionState
from assistant_crm.services.pipeline import context, templates

log = logging.getLogger("assistant_crm.agent")

STAFF = (ROLE_AGENT, ROLE_MANAGER)
MAX_REPLY_LENGTH = 4000
# What one agent reply may hold on each channel (longer platform messages are split by
# the outbox, but an agent's single answer should stay readable on the person's phone).
CHANNEL_LIMITS = {
    "web": 4000,
    "whatsapp": 4096,
    "telegram": 4096,
    "messenger": 2000,
    "instagram": 1000,
    "sms": 480,  # three SMS segments
}
MAX_NOTE_LENGTH = 2000
NOTE_DOCTYPE = "Chat Note"
OUTBOX_DOCTYPE = "Omnichannel Message"
VIEWS = ("waiting", "mine", "open", "all")
RECENT = 20  # messages read per conversation for the inbox row (last message, waiting time)
# What the person reads when staff take, hand back or close the conversation:
# Response Templates, so that it is in the conversation's language.
_NOTICES = {"take": "agent_joined", "release": "handoff_back_to_bot", "close": "conversation_closed"}
# Delivery state of an outbound message, best first (what the tick shows).
_TICK_RANK = {"queued": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": -1, "dead": -1}


def _caller() -> str:
    return current_request().user or "agent"


def _is_manager() -> bool:
    info = current_request()
    return ROLE_MANAGER in info.roles or info.user == "Administrator"


def _audit(action: str, session: SessionState, details: dict[str, Any] | None = None) -> None:
    from assistant_crm.services.infra import audit

    try:
        audit.record(_caller(), action, subject=session.name, details=details or {}, subject_is_name=True)
    except Exception:  # the action is done; a failed audit line is logged loudly
        log.exception("audit of %s on %s failed", action, session.name)


def _session(session_id: Any) -> SessionState:
    if not isinstance(session_id, str) or not session_id.strip():
        raise ValidationError("session_id is required", field="session_id")
    session = context.get_session(session_id.strip())
    if session is None:
        log.info("unknown conversation %r asked for", session_id.strip()[:40])
        raise NotFound(f"no conversation {session_id.strip()!r}")
    return session


def display_name(session: SessionState) -> str:
    """What staff call the person: their verified or given name, a masked phone, or "Web visitor 4f2a"."""
    verified = Dialogue(session).verified_name if session.is_verified else ""
    if verified:
        return str(verified).title()
    if session.display_name:
        return session.display_name
    if session.phone:
        return mask_phone(session.phone)
    label = {"web": "Web visitor", "telegram": "Telegram user", "messenger": "Messenger user"}.get(
        session.channel, "Visitor"
    )
    return f"{label} {session.name[:4]}"


def _iso(value: Any) -> str | None:
    """A stored time with its offset (the console reads naive times as UTC; under
    Frappe they are in the site's zone)."""
    if isinstance(value, datetime):
        return times.to_iso(value)
    return str(value) if value else None


def _waiting_since(session: SessionState, recent: list[dict[str, Any]], queued_at: str | None) -> str | None:
    """Since when the person has waited for a person: the hand-off, or (with an agent)
    their first message after the agent's last one."""
    if session.status == "waiting_for_agent":
        return queued_at or (recent[-1].get("created") if recent else None)
    if session.status != "with_agent":
        return None
    since = None
    for m in recent:
        if m.get("author") == "agent":
            since = None
        elif m.get("direction") == "in" and since is None:
            since = m.get("created")
    return since


def _summary(
    session: SessionState, recent: list[dict[str, Any]] | None = None, row: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One inbox row. ``row`` (the Chat Session row) gives the hand-off's queue time when it has one."""
    recent = recent or []
    last = recent[-1] if recent else {}
    return {
        "session_id": session.name,
        "channel": session.channel,
        "display_name": display_name(session),
        "phone": mask_phone(session.phone),
        "status": session.status,
        "assigned_agent": session.assigned_agent,
        "language": session.language,
        "verified": session.is_verified,
        "last_activity": _iso(session.last_activity),
        "message_count": session.message_count,
        "last_message": (last.get("text") or "")[:200],
        "last_author": last.get("author") or "",
        "waiting_since": _waiting_since(session, recent, _iso((row or {}).get("waiting_since"))),
    }


def _notice(session: SessionState, action: str) -> str:
    """The notice of ``action`` (take, release, close) in the conversation's language."""
    return templates.render(_NOTICES[action], language=session.language, channel=session.channel).text


def _send_to_person(session: SessionState, text: str, author: str, agent: str | None = None) -> str:
    """Store a message to the person and deliver it on their channel; returns the Chat History name."""
    name = context.append_history(session, "out", author, text, agent=agent)
    # strict: an agent's message that cannot be queued is an error the desk shows.
    to_person.deliver(session, name, text, author=author, strict=True)
    return name


# ---------------------------------------------------------------------------- inbox


@endpoint(roles=STAFF, methods=("GET",))
def list_conversations(
    status: str | None = None, view: str | None = None, limit: Any = 100
) -> list[dict[str, Any]]:
    """Conversations, newest activity first.

    ``view``: waiting (for an agent), mine (held by you), open (not closed) or all.
    ``status`` (bot, waiting_for_agent, with_agent, closed, or "open") filters
    by status instead; the default is every open conversation."""
    rt = get_runtime()
    try:
        limit = max(1, min(500, int(limit)))
    except (TypeError, ValueError):
        raise ValidationError("limit must be a number", field="limit") from None
    if view:
        view = view.strip()
        if view not in VIEWS:
            raise ValidationError(f"view must be one of {', '.join(VIEWS)}", field="view")
        filters: dict[str, Any] = {
            "waiting": {"status": "waiting_for_agent"},
            "mine": {"status": "with_agent", "assigned_agent": _caller()},
            "open": {"status": ("!=", "closed")},
            "all": {},
        }[view]
    else:
        status = (status or "open").strip()
        if status != "open" and status not in SESSION_STATUSES:
            raise ValidationError(
                f"status must be one of open, {', '.join(SESSION_STATUSES)}", field="status"
            )
        filters = {"status": ("!=", "closed")} if status == "open" else {"status": status}
    rows = rt.store.list(context.SESSION_DOCTYPE, filters, order_by="last_activity desc", limit=limit)
    out = []
    for row in rows:
        session = context.from_row(row)
        out.append(_summary(session, context.history(session, limit=RECENT), row))
    return out


@endpoint(roles=STAFF, methods=("GET",))
def inbox_counts() -> dict[str, int]:
    """How many conversations are waiting, held by you, and open."""
    store = get_runtime().store
    return {
        "waiting": store.count(context.SESSION_DOCTYPE, {"status": "waiting_for_agent"}),
        "mine": store.count(context.SESSION_DOCTYPE, {"status": "with_agent", "assigned_agent": _caller()}),
        "open": store.count(context.SESSION_DOCTYPE, {"status": ("!=", "closed")}),
    }


def _ticks(session: SessionState) -> dict[str, str]:
    """Delivery state by message text for this conversation's outbound messages
    (the outbox keeps the text; parts of a split message share the first part's start)."""
    if session.channel == "web":
        return {}
    rows = get_runtime().store.list(
        OUTBOX_DOCTYPE,
        {"session": session.name, "direction": "outbound"},
        fields=["status", "payload"],
        order_by="creation asc",
        limit=2000,
    )
    out: dict[str, str] = {}
    for r in rows:
        payload = r.get("payload") if isinstance(r.get("payload"), dict) else {}
        text = str(payload.get("text") or "")[:60]
        status = r.get("status") or "queued"
        if text and (text not in out or _TICK_RANK.get(status, 0) < _TICK_RANK.get(out[text], 0)):
            out[text] = status
    return out


def _delivery(row: dict[str, Any], ticks: dict[str, str], channel: str) -> str:
    if row.get("direction") != "out":
        return ""
    if channel == "web":
        return "delivered"
    return ticks.get((row.get("text") or "")[:60], "queued")


def person_summary(session: SessionState) -> dict[str, Any] | None:
    """The verified person, masked: who, how and when they were verified."""
    verified = Dialogue(session).verified if session.is_verified else None
    if verified is None:
        return None
    return {
        "full_name": verified.full_name.title(),
        "nrc": verified.nrc_masked,
        "phone": mask_phone(session.phone),
        "roles": list(verified.roles),
        "employer_numbers": list(verified.employer_numbers),
        "method": verified.method,
        "verified_at": verified.verified_at or _iso(session.verified_at),
    }


def _notes(session_name: str) -> list[dict[str, Any]]:
    rows = get_runtime().store.list(
        NOTE_DOCTYPE, {"session": session_name}, order_by="creation asc", limit=500
    )
    return [
        {
            "id": r["name"],
            "agent": r.get("agent") or "",
            "text": r.get("text") or "",
            "created": _iso(r.get("creation")),
        }
        for r in rows
    ]


@endpoint(roles=STAFF, methods=("GET",))
def get_conversation(session_id: str) -> dict[str, Any]:
    """One conversation: its messages (the last 500, oldest first) with delivery
    state, the verified person's masked summary, internal notes and the rating."""
    session = _session(session_id)
    rows = context.history_rows(session.name, limit=500)
    ticks = _ticks(session)
    row = get_runtime().store.get(context.SESSION_DOCTYPE, session.name) or {}
    _audit("view_conversation", session)
    return {
        # The hand-off's queue facts and the rating, then the inbox row (which wins on waiting_since).
        "session": handoff.waiting_info(session.name)
        | csat.for_conversation(session.name)
        | _summary(session, [context.as_api_message(r) for r in rows[-RECENT:]], row),
        "person": person_summary(session),
        "messages": [
            context.as_api_message(r)
            | {"agent": r.get("agent") or "", "delivery": _delivery(r, ticks, session.channel)}
            for r in rows
        ],
        "notes": _notes(session.name),
        "csat": row.get("csat"),
        "csat_comment": row.get("csat_comment") or "",
        "reply_limit": CHANNEL_LIMITS.get(session.channel, MAX_REPLY_LENGTH),
    }


# --------------------------------------------------------------------------- actions


def _refuse_closed(session: SessionState) -> None:
    if session.status == "closed":
        log.info("action refused on closed conversation %s", session.name)
        raise DuplicateError("the conversation is closed; the person's next message opens a new one")


def _hold(session: SessionState, agent: str) -> None:
    """Assign the session to ``agent`` unless another agent holds it (409 naming the holder)."""
    _refuse_closed(session)
    if session.status == "with_agent" and session.assigned_agent and session.assigned_agent != agent:
        log.info("%s refused %s: held by %s", agent, session.name, session.assigned_agent)
        raise DuplicateError(f"the conversation is already with {session.assigned_agent}")
    rt = get_runtime()
    # Compare-and-set on the store, so two agents taking at once cannot both win.
    changed = rt.store.update_where(
        context.SESSION_DOCTYPE,
        {"name": session.name, "status": session.status},
        {"status": "with_agent", "assigned_agent": agent},
    )
    if not changed:
        context.invalidate(session.name)
        fresh = context.get_session(session.name)
        holder = fresh.assigned_agent if fresh and fresh.status == "with_agent" else None
        if holder and holder != agent:
            raise DuplicateError(f"the conversation is already with {holder}")
        raise DuplicateError("the conversation changed meanwhile; reload it and try again")
    context.set_status(session, "with_agent", agent)


@endpoint(roles=STAFF, methods=("POST",))
def take(session_id: str) -> dict[str, Any]:
    """Take the conversation over: the bot goes quiet, replies come from you."""
    session = _session(session_id)
    agent = _caller()
    if session.status == "with_agent" and session.assigned_agent == agent:
        return _summary(session)
    _hold(session, agent)
    handoff.taken(session, agent)
    _send_to_person(session, _notice(session, "take"), "system")
    context.save_session(session, touch=False)
    _audit("take", session)
    log.info("session %s taken by %s", session.name, agent)
    return _summary(session)


@endpoint(roles=STAFF, methods=("POST",))
def reply(session_id: str, text: Any = None) -> dict[str, Any]:
    """Send ``text`` to the person as the agent (takes the conversation if nobody holds it)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("text is required and must not be empty", field="text")
    session = _session(session_id)
    limit = CHANNEL_LIMITS.get(session.channel, MAX_REPLY_LENGTH)
    if len(text.strip()) > limit:
        raise ValidationError(
            f"text is longer than {limit} characters, the limit on {session.channel}", field="text"
        )
    agent = _caller()
    if not (session.status == "with_agent" and session.assigned_agent == agent):
        _hold(session, agent)
        handoff.taken(session, agent)
    name = _send_to_person(session, text.strip(), "agent", agent=agent)
    context.save_session(session, touch=False)
    _audit("agent_reply", session, {"message": name, "length": len(text)})
    return {"message_id": name, "session": _summary(session)}


@endpoint(roles=STAFF, methods=("POST",))
def add_note(session_id: str, text: Any = None) -> dict[str, Any]:
    """An internal note on the conversation: staff see it, the person never does."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("text is required and must not be empty", field="text")
    if len(text) > MAX_NOTE_LENGTH:
        raise ValidationError(f"a note is at most {MAX_NOTE_LENGTH} characters", field="text")
    session = _session(session_id)
    name = get_runtime().store.insert(
        NOTE_DOCTYPE, {"session": session.name, "agent": _caller(), "text": text.strip()}
    )
    live.notify(session.name, "note")
    _audit("agent_note", session, {"note": name})
    return {"id": name, "agent": _caller(), "text": text.strip()}


@endpoint(roles=STAFF, methods=("POST",))
def transfer(session_id: str, to_agent: Any = None) -> dict[str, Any]:
    """Give the conversation to another agent (the holder or a manager may)."""
    from assistant_crm.api.staff import staff_directory

    if not isinstance(to_agent, str) or not to_agent.strip():
        raise ValidationError("to_agent is required", field="to_agent")
    to_agent = to_agent.strip()
    if to_agent not in {s["user"] for s in staff_directory()}:
        raise ValidationError(f"{to_agent!r} is not a staff member", field="to_agent")
    session = _session(session_id)
    _refuse_closed(session)
    me = _caller()
    holder = session.assigned_agent if session.status == "with_agent" else None
    if holder and holder != me and not _is_manager():
        raise DuplicateError(f"the conversation is already with {holder}")
    changed = get_runtime().store.update_where(
        context.SESSION_DOCTYPE,
        {"name": session.name, "status": session.status},
        {"status": "with_agent", "assigned_agent": to_agent},
    )
    if not changed:
        context.invalidate(session.name)
        raise DuplicateError("the conversation changed meanwhile; reload it and try again")
    context.set_status(session, "with_agent", to_agent)
    handoff.taken(session, to_agent)  # out of the queue; under Frappe the ToDo moves to them
    _audit("transfer", session, {"from": holder or "", "to": to_agent})
    log.info("session %s transferred to %s by %s", session.name, to_agent, me)
    return _summary(session)


@endpoint(roles=STAFF, methods=("POST",))
def release(session_id: str) -> dict[str, Any]:
    """Hand the conversation back to the assistant."""
    session = _session(session_id)
    _refuse_closed(session)
    holder = session.assigned_agent if session.status == "with_agent" else None
    if holder and holder != _caller() and not _is_manager():
        raise DuplicateError(f"the conversation is with {holder}; only they or a manager can hand it back")
    handoff.leave_queue(session)
    _send_to_person(session, _notice(session, "release"), "system")
    context.save_session(session, touch=False)
    _audit("release", session)
    return _summary(session)


@endpoint(roles=STAFF, methods=("POST",))
def close(session_id: str) -> dict[str, Any]:
    """Close the conversation; the person's next message starts a new one."""
    session = _session(session_id)
    if session.status == "closed":
        return _summary(session)
    holder = session.assigned_agent if session.status == "with_agent" else None
    if holder and holder != _caller() and not _is_manager():
        raise DuplicateError(f"the conversation is with {holder}; only they or a manager can close it")
    _send_to_person(session, _notice(session, "close"), "system")
    context.set_status(session, "closed")
    handoff.closed(session)
    csat.ask_after_close(session)  # once: 1-5 and an optional comment
    _audit("close", session)
    return _summary(session)


# ---------------------------------------------------------------------- availability


@endpoint(roles=STAFF, methods=("POST",))
def set_availability(available: Any = 1) -> dict[str, Any]:
    """Whether new hand-offs may be assigned to you (round robin among available agents)."""
    from assistant_crm.services.dialogue import assignment

    flag = str(available).strip().lower() in ("1", "true", "yes", "on")
    assignment.set_available(_caller(), flag)
    log.info("%s is %s", _caller(), "available" if flag else "away")
    return {"user": _caller(), "available": flag}


# ------------------------------------------------------------------ canned responses

CANNED_DOCTYPE = "Canned Response"


def _canned(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "shortcut": row.get("shortcut") or row.get("name"),
        "title": row.get("title") or "",
        "language": row.get("language") or "en",
        "content": row.get("content") or "",
    }


@endpoint(roles=STAFF, methods=("GET",))
def canned_responses() -> list[dict[str, Any]]:
    """Ready-made replies, inserted in the reply box by typing ``/``."""
    rows = get_runtime().store.list(CANNED_DOCTYPE, order_by="shortcut asc", limit=500)
    return [_canned(r) for r in rows]


@endpoint(roles=(ROLE_MANAGER,), methods=("POST",))
def save_canned_response(
    shortcut: Any = None, content: Any = None, title: Any = "", language: Any = "en"
) -> dict[str, Any]:
    """Create or change a canned response (managers)."""
    import re

    if not isinstance(shortcut, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", shortcut.strip()):
        raise ValidationError("shortcut must be 1-40 lowercase letters, digits, - or _", field="shortcut")
    if not isinstance(content, str) or not content.strip() or len(content) > 2000:
        raise ValidationError("content is required (at most 2000 characters)", field="content")
    shortcut = shortcut.strip()
    values = {"title": str(title or "")[:140], "content": content.strip(), "language": str(language or "en")}
    store = get_runtime().store
    if store.get(CANNED_DOCTYPE, shortcut):
        store.update(CANNED_DOCTYPE, shortcut, values)
    else:
        store.insert(CANNED_DOCTYPE, {"name": shortcut, "shortcut": shortcut, **values})
    return _canned(store.get(CANNED_DOCTYPE, shortcut) or {})


# ------------------------------------------------------------------------ live updates


@endpoint(roles=STAFF, methods=("GET",))
def changes(since: Any = None) -> dict[str, int]:
    """The console's change counter (a cache read): poll this where streams are unavailable."""
    return {"version": live.version()}


@endpoint(roles=STAFF, methods=("GET",))
def events(since: Any = None) -> Response:
    """Server-sent events (standalone): ``change`` whenever a conversation changes.

    Each stream lasts about 25 seconds and the browser's EventSource reconnects,
    so a server thread is never held for long."""
    return Response(
        live.stream(since),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        direct_passthrough=True,
    )
