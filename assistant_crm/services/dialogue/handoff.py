"""A hand-off to staff that is never a dead end.

``escalation`` decides *when* a conversation goes to a person; this module is
what happens then, until an agent takes it:

* :func:`start`: the session joins the queue (``waiting_for_agent``,
  ``waiting_since``), goes round robin to an available agent
  (:mod:`.assignment`), and the person is told, in their language, what
  happens next: their place in the queue and roughly how long; or that all
  staff are busy; or, out of hours (Settings ``business_hours`` /
  ``business_holidays``), the opening hours, the toll-free number and "leave
  your message, we'll reply here". The conversation stays in the inbox.
* While waiting the assistant is quiet, except one "still waiting" note after
  ``still_waiting_minutes`` and, after ``handoff_give_up_minutes`` with nobody
  taking it, an apology with the offer to go back to the assistant (or keep
  waiting). Both are sent by :func:`sweep` (every minute from the scheduler)
  or on the person's next message, whichever comes first; the wait counts
  only business hours.
* :func:`while_waiting` answers the person's choice ("Back to the assistant",
  "Keep waiting"); anything else stays with the agents, unanswered.
* Once an agent holds the conversation (``with_agent``) the assistant never answers.

Progress is kept in Chat Session columns (``handoff_stage`` and
``waiting_since``), moved on by compare-and-set, so the scheduler and a turn
never both send the same note.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta
from typing import Any

from assistant_crm.services.dialogue import assignment, business_hours, outreach
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.infra import times
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import InboundMessage, Rendered, Reply, SessionState
from assistant_crm.services.pipeline import context, templates

log = logging.getLogger("assistant_crm.handoff")

SESSION = "Chat Session"
WAITING = "waiting_for_agent"
# handoff_stage values
STAGE_WAITING = "waiting"
STAGE_NOTED = "noted"  # the "still waiting" note went out
STAGE_GAVE_UP = "gave_up"  # told nobody is free; offered the assistant
STAGE_KEPT = "kept_waiting"  # chose to keep waiting after that: no more notes
SWEEP_BATCH = 200

# Wording: the handoff_* Response Templates (fixtures/response_template.json,
# English, Bemba and Nyanja).

# The give-up offer's buttons in every language we ship, plus plain words.
_BACK_RE = re.compile(
    r"^\s*(back( to)?( the)? (assistant|bot)|(the )?(assistant|bot)( please)?|bwelela kuli kafwilisha|"
    r"bwererani kwa wothandiza)\s*[.!]?\s*$",
    re.I,
)
_KEEP_RE = re.compile(
    r"^\s*(keep waiting|i'?ll wait|i will wait|wait|ok,? i'?ll wait|nkalalinda|ndidikira)\s*[.!]?\s*$", re.I
)


# ----------------------------------------------------------------- settings


def _minutes(field: str) -> int:
    return max(1, get_runtime().settings.int(field))


def _data(session: SessionState, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"first_name": _first_name(session)}
    data.update(extra or {})
    return data


def _first_name(session: SessionState) -> str:
    name = Dialogue(session).verified_name
    return name.split()[0].title() if session.is_verified and name else ""


def _render(key: str, session: SessionState, channel: str, data: dict[str, Any] | None = None) -> Rendered:
    return templates.render(key, language=session.language, channel=channel, data=_data(session, data))


# -------------------------------------------------------------------- queue


def queue_position(session_name: str, since: datetime | None = None) -> int:
    """The person's place among conversations waiting for an agent (1 = next)."""
    store = get_runtime().store
    if since is None:
        row = store.get(SESSION, session_name) or {}
        since = row.get("waiting_since")
    if not isinstance(since, datetime):
        return max(1, store.count(SESSION, {"status": WAITING}))
    ahead = store.count(SESSION, {"status": WAITING, "waiting_since": ("<=", since)})
    unknown = store.count(SESSION, {"status": WAITING, "waiting_since": ("is", "not set")})
    return max(1, ahead + unknown)


def expected_minutes(position: int, agents: int) -> int:
    """Rough wait: the people ahead, shared among the agents on duty."""
    per_person = _minutes("handoff_minutes_per_person")
    return max(1, math.ceil(position * per_person / max(1, agents)))


# -------------------------------------------------------------------- start


def start(session: SessionState, reason: str, channel: str = "all") -> Rendered:
    """Put the session in the agents' queue and tell the person what happens next
    (the caller adds any lead-in such as an apology)."""
    rt = get_runtime()
    now = rt.clock.now()
    hours = business_hours.from_settings()
    open_now = hours.is_open(now)
    context.set_status(session, WAITING)
    rt.store.update(
        SESSION,
        session.name,
        {
            "waiting_since": now,
            "handoff_reason": reason[:140],
            "handoff_stage": STAGE_WAITING,
            "handoff_out_of_hours": 0 if open_now else 1,
        },
    )
    agent = assignment.assign(session.name) if open_now else None
    if agent:
        session.assigned_agent = agent
        context.save_session(session, touch=False)
    position = queue_position(session.name, now)
    log.info(
        "session %s queued for staff: reason=%s position=%s open=%s agent=%s",
        session.name,
        reason,
        position,
        open_now,
        agent or "-",
    )
    if not open_now:
        return _render("handoff_closed", session, channel, _closed_data(session, channel, hours))
    on_duty = len(assignment.available_agents())
    if not on_duty:
        return _render("handoff_busy", session, channel, {"queue_position": position})
    return _render(
        "handoff_available",
        session,
        channel,
        {
            "queue_position": position,
            "wait_minutes": expected_minutes(position, on_duty),
            "agent_count": on_duty,
        },
    )


def _closed_data(session: SessionState, channel: str, hours: business_hours.BusinessHours) -> dict[str, Any]:
    number = get_runtime().settings.str("toll_free_number")
    toll_free = (
        _render("handoff_toll_free", session, channel, {"toll_free_number": number}).text.strip() + " "
        if number
        else ""
    )
    return {"hours": hours.describe(), "toll_free": toll_free, "toll_free_number": number}


# ------------------------------------------------------------ while waiting


def _stage(row: dict[str, Any]) -> str:
    return str(row.get("handoff_stage") or STAGE_WAITING)


def _choice(session: SessionState, text: str) -> str | None:
    """ "back", "keep" or None: the person's answer to the give-up offer (a tapped
    button, its number on SMS, or the same in words)."""
    text = (text or "").strip()
    offered = Dialogue(session).last_quick_replies
    if text.rstrip(".)").isdigit() and offered:
        index = int(text.rstrip(".)"))
        if 1 <= index <= len(offered):
            text = str(offered[index - 1])
    for language in {session.language, "en"}:
        labels = templates.render("handoff_give_up", language=language).quick_replies
        if len(labels) >= 2:
            if text.lower() == labels[0].lower():
                return "back"
            if text.lower() == labels[1].lower():
                return "keep"
    if _BACK_RE.match(text):
        return "back"
    if _KEEP_RE.match(text):
        return "keep"
    return None


def _due(row: dict[str, Any], now: datetime, hours: business_hours.BusinessHours) -> str | None:
    """ "give_up", "note" or None for a waiting row at ``now`` (only business hours count)."""
    stage = _stage(row)
    since = row.get("waiting_since")
    if stage not in (STAGE_WAITING, STAGE_NOTED) or not isinstance(since, datetime):
        return None
    opened = hours.open_since(now)
    if opened is None:
        return None  # out of hours: the hand-off message said when we are back
    waited = now - max(since, opened)
    if waited >= timedelta(minutes=_minutes("handoff_give_up_minutes")):
        return "give_up"
    if stage == STAGE_WAITING and waited >= timedelta(minutes=_minutes("still_waiting_minutes")):
        return "note"
    return None


def _advance(name: str, old: str, new: str) -> bool:
    """Move the hand-off stage on if nobody else did (and no agent took it) meanwhile."""
    store = get_runtime().store
    # A row queued before the stage column existed has none: it counts as waiting.
    olds: list[Any] = [old] if old != STAGE_WAITING else [("in", ["", STAGE_WAITING]), ("is", "not set")]
    for current in olds:
        filters = {"name": name, "status": WAITING, "handoff_stage": current}
        if store.update_where(SESSION, filters, {"handoff_stage": new}):
            return True
    return False


def _note(session: SessionState, action: str, channel: str) -> Rendered:
    if action == "give_up":
        return _render("handoff_give_up", session, channel)
    return _render(
        "handoff_still_waiting", session, channel, {"queue_position": queue_position(session.name)}
    )


def while_waiting(session: SessionState, text: str, channel: str = "all") -> Rendered | None:
    """The assistant's answer to a message from a person waiting for an agent, or None to stay quiet.

    Answers only the give-up offer ("Back to the assistant" / "Keep waiting")
    and a note that has fallen due; everything else waits for the agent."""
    if session.status != WAITING:
        return None
    rt = get_runtime()
    row = rt.store.get(SESSION, session.name) or {}
    stage = _stage(row)
    choice = _choice(session, text)
    if choice == "back":
        leave_queue(session)
        return _render("handoff_back_to_bot", session, channel)
    if choice == "keep" and stage == STAGE_GAVE_UP and _advance(session.name, STAGE_GAVE_UP, STAGE_KEPT):
        return _render("handoff_keep_waiting", session, channel)
    action = _due(row, rt.clock.now(), business_hours.from_settings())
    if action and _advance(session.name, stage, STAGE_GAVE_UP if action == "give_up" else STAGE_NOTED):
        log.info("session %s: %s on the person's message", session.name, action)
        return _note(session, action, channel)
    return None


def answer_while_waiting(
    session: SessionState, msg: InboundMessage, text: str, received: datetime
) -> Reply | None:
    """The pipeline's hook for a session in the agents' queue: the assistant's word
    (stored with the person's message and delivered), or None to stay quiet."""
    if session.status != WAITING:
        return None
    rendered = while_waiting(session, text, msg.channel or session.channel)
    if rendered is None:
        return None
    in_name = context.append_history(
        session, "in", "user", text, channel_message_id=msg.platform_message_id or None, created=received
    )
    name = outreach.send(session, rendered, intent="escalation", publish=False, after=received, touch=True)
    if session.status == WAITING:
        outreach.notify_staff(session, in_name)
    shown, buttons = outreach.for_channel(rendered, session.channel)
    return Reply(
        text=shown,
        session_id=context.public_id(session),
        intent="escalation",
        confidence=1.0,
        quick_replies=buttons,
        handoff=session.status == WAITING,
        metadata={
            "source": "handoff",
            "status": session.status,
            "message_id": name,
            "language": session.language,
        },
    )


def leave_queue(session: SessionState) -> None:
    """Back to the assistant: out of the queue, any assignment dropped."""
    context.set_status(session, "bot")
    get_runtime().store.update(SESSION, session.name, {"handoff_stage": "", "waiting_since": None})
    assignment.finished(session.name, None)
    log.info("session %s left the agents' queue for the assistant", session.name)


def sweep() -> int:
    """Send the due "still waiting" notes and give-up offers; returns how many went out.

    Runs every minute (Frappe cron, the standalone scheduler); safe to run
    in several processes at once."""
    rt = get_runtime()
    now = rt.clock.now()
    hours = business_hours.from_settings()
    if hours.open_since(now) is None:
        return 0
    earliest = timedelta(minutes=min(_minutes("still_waiting_minutes"), _minutes("handoff_give_up_minutes")))
    rows = rt.store.list(
        SESSION,
        {
            "status": WAITING,
            "handoff_stage": ("in", [STAGE_WAITING, STAGE_NOTED]),
            "waiting_since": ("<=", now - earliest),
        },
        fields=["name", "waiting_since", "handoff_stage"],
        order_by="waiting_since asc",
        limit=SWEEP_BATCH,
    )
    sent = 0
    for row in rows:
        action = _due(row, now, hours)
        if not action or not _advance(
            row["name"], _stage(row), STAGE_GAVE_UP if action == "give_up" else STAGE_NOTED
        ):
            continue
        session = context.get_session(row["name"])
        if session is None or session.status != WAITING:
            continue
        try:
            outreach.send(session, _note(session, action, session.channel), intent="escalation")
            sent += 1
            log.info("session %s: %s sent", session.name, action)
        except Exception:
            log.exception("hand-off %s for %s failed", action, row["name"])
    return sent


def waiting_info(session_name: str) -> dict[str, Any]:
    """For the staff console: when the person joined the queue, their place, and the hand-off stage."""
    row = get_runtime().store.get(SESSION, session_name) or {}
    since = row.get("waiting_since")
    return {
        "waiting_since": times.to_iso(since) if isinstance(since, datetime) else None,
        "queue_position": queue_position(session_name, since) if row.get("status") == WAITING else None,
        "handoff_reason": row.get("handoff_reason") or "",
        "handoff_stage": row.get("handoff_stage") or "",
        "handoff_out_of_hours": bool(int(row.get("handoff_out_of_hours") or 0)),
    }


def closed(session: SessionState) -> None:
    """The conversation was closed: out of the queue for good; every assignment done."""
    get_runtime().store.update(SESSION, session.name, {"handoff_stage": ""})
    assignment.finished(session.name, None)


def taken(session: SessionState, agent: str) -> None:
    """An agent took the conversation: the queue clock stops; other agents' ToDos close (Frappe)."""
    get_runtime().store.update(SESSION, session.name, {"handoff_stage": ""})
    assignment.finished(session.name, agent)
