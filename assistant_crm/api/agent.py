"""The agent desk API: see conversations, take one over, reply, hand back, close.

Staff only (roles Assistant CRM Agent or Manager). ``session_id`` here is the
Chat Session ``name`` (staff see names; web visitors only ever hold their
unguessable visitor token). Every action is written to the audit log.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER, current_request, endpoint
from assistant_crm.services.dialogue import csat, handoff
from assistant_crm.services.infra.errors import DuplicateError, NotFound, ValidationError
from assistant_crm.services.infra.masking import mask_phone
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import SESSION_STATUSES, OutboundMessage, SessionState
from assistant_crm.services.pipeline import context

log = logging.getLogger("assistant_crm.agent")

STAFF = (ROLE_AGENT, ROLE_MANAGER)
MAX_REPLY_LENGTH = 4000
_NOTICES = {
    "take": "{agent} from WCFCB has joined the conversation.",
    "release": 'You\'re back with the WCFCB assistant. Type "agent" any time to talk to a person again.',
    "close": "This conversation has been closed. Thank you for contacting WCFCB.",
}


def _caller() -> str:
    return current_request().user or "agent"


def _audit(action: str, session: SessionState, details: dict[str, Any] | None = None) -> None:
    from assistant_crm.services.infra import audit

    try:
        audit.record(_caller(), action, subject=session.name, details=details or {})
    except Exception:  # the action is done; a failed audit line is logged loudly
        log.exception("audit of %s on %s failed", action, session.name)


def _session(session_id: Any) -> SessionState:
    if not isinstance(session_id, str) or not session_id.strip():
        raise ValidationError("session_id is required", field="session_id")
    session = context.get_session(session_id.strip())
    if session is None:
        raise NotFound(f"no conversation {session_id.strip()!r}")
    return session


def _summary(session: SessionState, last: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "session_id": session.name,
        "channel": session.channel,
        "display_name": session.display_name,
        "phone": mask_phone(session.phone),
        "status": session.status,
        "assigned_agent": session.assigned_agent,
        "language": session.language,
        "verified": session.is_verified,
        "last_activity": session.last_activity.isoformat() if session.last_activity else None,
        "message_count": session.message_count,
        "last_message": (last or {}).get("text", "")[:200] if last else "",
    }


def _send_to_person(session: SessionState, text: str, author: str, agent: str | None = None) -> str:
    """Store a message to the person and deliver it on their channel; returns the Chat History name."""
    name = context.append_history(session, "out", author, text, agent=agent)
    if session.channel != "web":
        from assistant_crm.services.delivery import outbox

        try:
            outbox.enqueue_outbound(
                OutboundMessage(
                    channel=session.channel,
                    recipient_id=session.platform_sender_id,
                    text=text,
                    session_id=session.name,
                    recipient_phone=session.phone,
                )
            )
        except Exception:
            log.exception("could not queue the agent message for %s", session.name)
            raise
    publish = get_runtime().extras.get("publish_realtime")
    if callable(publish) and session.channel == "web":
        # Frappe: the bubble listens for "assistant_crm_message" on task_id=<visitor token>
        # with one get_messages item (docs/chat-bubble.md).
        try:
            row = get_runtime().store.get(context.HISTORY_DOCTYPE, name) or {}
            item = context.as_api_message(row) if row else {"id": name, "author": author, "text": text}
            publish("assistant_crm_message", item, task_id=session.visitor_token)
        except Exception:
            log.exception("realtime publish failed for %s", session.name)
    return name


@endpoint(roles=STAFF, methods=("GET",))
def list_conversations(status: str | None = None, limit: Any = 100) -> list[dict[str, Any]]:
    """Conversations, newest activity first. ``status`` is one of bot,
    waiting_for_agent, with_agent, closed, or "open" (default: everything not closed)."""
    rt = get_runtime()
    status = (status or "open").strip()
    if status != "open" and status not in SESSION_STATUSES:
        raise ValidationError(f"status must be one of open, {', '.join(SESSION_STATUSES)}", field="status")
    try:
        limit = max(1, min(500, int(limit)))
    except (TypeError, ValueError):
        raise ValidationError("limit must be a number", field="limit") from None
    filters = {"status": ("!=", "closed")} if status == "open" else {"status": status}
    rows = rt.store.list(context.SESSION_DOCTYPE, filters, order_by="last_activity desc", limit=limit)
    out = []
    for row in rows:
        session = context.from_row(row)
        last = context.history(session, limit=1)
        out.append(_summary(session, last[-1] if last else None))
    return out


@endpoint(roles=STAFF, methods=("GET",))
def get_conversation(session_id: str) -> dict[str, Any]:
    """One conversation with its messages (the last 500), oldest first."""
    session = _session(session_id)
    rows = context.history_rows(session.name, limit=500)
    _audit("view_conversation", session)
    return {
        "session": _summary(session)
        | csat.for_conversation(session.name)
        | handoff.waiting_info(session.name),
        "messages": [context.as_api_message(r) | {"agent": r.get("agent") or ""} for r in rows],
    }


def _hold(session: SessionState, agent: str) -> None:
    """Assign the session to ``agent`` unless another agent holds it (409)."""
    if session.status == "closed":
        raise ValidationError("the conversation is closed", field="session_id")
    if session.status == "with_agent" and session.assigned_agent and session.assigned_agent != agent:
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
    _send_to_person(session, _NOTICES["take"].format(agent="One of our staff"), "system")
    context.save_session(session, touch=False)
    _audit("take", session)
    log.info("session %s taken by %s", session.name, agent)
    return _summary(session)


@endpoint(roles=STAFF, methods=("POST",))
def reply(session_id: str, text: Any = None) -> dict[str, Any]:
    """Send ``text`` to the person as the agent (takes the conversation if nobody holds it)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("text is required and must not be empty", field="text")
    if len(text) > MAX_REPLY_LENGTH:
        raise ValidationError(f"text is longer than {MAX_REPLY_LENGTH} characters", field="text")
    session = _session(session_id)
    agent = _caller()
    if not (session.status == "with_agent" and session.assigned_agent == agent):
        _hold(session, agent)
        handoff.taken(session, agent)
    name = _send_to_person(session, text.strip(), "agent", agent=agent)
    context.save_session(session, touch=False)
    _audit("agent_reply", session, {"message": name, "length": len(text)})
    return {"message_id": name, "session": _summary(session)}


@endpoint(roles=STAFF, methods=("POST",))
def release(session_id: str) -> dict[str, Any]:
    """Hand the conversation back to the bot."""
    session = _session(session_id)
    if session.status == "closed":
        raise ValidationError("the conversation is closed", field="session_id")
    handoff.leave_queue(session)
    _send_to_person(session, _NOTICES["release"], "system")
    context.save_session(session, touch=False)
    _audit("release", session)
    return _summary(session)


@endpoint(roles=STAFF, methods=("POST",))
def close(session_id: str) -> dict[str, Any]:
    """Close the conversation; the person's next message starts a new one."""
    session = _session(session_id)
    if session.status == "closed":
        return _summary(session)
    _send_to_person(session, _NOTICES["close"], "system")
    context.set_status(session, "closed")
    handoff.closed(session)
    csat.ask_after_close(session)  # once: 1-5 and an optional comment
    _audit("close", session)
    return _summary(session)
