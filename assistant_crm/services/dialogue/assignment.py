"""Which agent a waiting conversation goes to: round robin among agents marked available.

Availability is the ``Agent Availability`` DocType (one row per agent, named by
the agent's user id), in both runtimes: the staff console toggles it with
:func:`set_available`. Round robin means the available agent assigned longest
ago (or never) gets the next conversation; the pick is a compare-and-set on
``last_assigned`` so two hand-offs at once never pick the same agent twice
from one rotation.

Under Frappe the runtime registers ``rt.extras["assign_conversation"]``, which
lets an enabled Assignment Rule for Chat Session decide (Frappe's own round
robin or load balancing) and otherwise assigns our pick with
``frappe.desk.form.assign_to.add``, so the assignment is a ToDo in the desk.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from assistant_crm.services.infra import times
from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.assignment")

DOCTYPE = "Agent Availability"
_MAX_TRIES = 5


def set_available(agent: str, available: bool) -> None:
    """Mark ``agent`` (a user id or standalone staff email) available or not for new conversations."""
    agent = (agent or "").strip()
    if not agent:
        raise ValueError("agent is required")
    store = get_runtime().store
    if store.get(DOCTYPE, agent):
        store.update(DOCTYPE, agent, {"available": 1 if available else 0})
        return
    from assistant_crm.services.infra.errors import DuplicateError

    try:
        store.insert(DOCTYPE, {"name": agent, "agent": agent, "available": 1 if available else 0})
    except DuplicateError:  # created at the same moment elsewhere
        store.update(DOCTYPE, agent, {"available": 1 if available else 0})


def is_available(agent: str) -> bool:
    row = get_runtime().store.get(DOCTYPE, agent) if agent else None
    return bool(row and int(row.get("available") or 0))


def available_agents() -> list[str]:
    """Agents marked available, next in the rotation first."""
    rows = get_runtime().store.list(
        DOCTYPE, {"available": 1}, fields=["name", "last_assigned"], order_by="last_assigned asc"
    )
    return [r["name"] for r in _rotation(rows)]


def availability() -> list[dict[str, Any]]:
    """Every agent with an availability row: ``{"agent", "available", "last_assigned"}``."""
    rows = get_runtime().store.list(
        DOCTYPE, fields=["name", "available", "last_assigned"], order_by="name asc"
    )
    return [
        {
            "agent": r["name"],
            "available": bool(int(r.get("available") or 0)),
            "last_assigned": _iso(r.get("last_assigned")),
        }
        for r in rows
    ]


def _iso(value: Any) -> str | None:
    return times.to_iso(value) if isinstance(value, datetime) else (str(value) if value else None)


def _rotation(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never-assigned agents first, then the one assigned longest ago; the name
    # breaks ties so the order is the same in SQLite and MariaDB.
    return sorted(
        rows, key=lambda r: (r.get("last_assigned") is not None, str(r.get("last_assigned") or ""), r["name"])
    )


def next_agent() -> str | None:
    """Take the next available agent in the rotation (and move the rotation on), or None."""
    rt = get_runtime()
    for _ in range(_MAX_TRIES):
        rows = rt.store.list(DOCTYPE, {"available": 1}, fields=["name", "last_assigned"])
        if not rows:
            return None
        pick = _rotation(rows)[0]
        changed = rt.store.update_where(
            DOCTYPE,
            {"name": pick["name"], "available": 1, "last_assigned": ("is", "not set")}
            if pick.get("last_assigned") is None
            else {"name": pick["name"], "available": 1, "last_assigned": pick["last_assigned"]},
            {"last_assigned": rt.clock.now()},
        )
        if changed:
            return str(pick["name"])
    log.warning("assignment: the rotation kept changing under us; leaving the conversation unassigned")
    return None


def assign(session_name: str) -> str | None:
    """Assign a waiting conversation: the Frappe runtime's hook when present (Assignment
    Rule / ToDo), else round robin. Returns the agent, or None when nobody is available."""
    hook = get_runtime().extras.get("assign_conversation")
    if callable(hook):
        try:
            return hook(session_name, next_agent)
        except Exception:
            log.exception("assignment hook failed for %s; leaving it in the shared queue", session_name)
            return None
    return next_agent()


def finished(session_name: str, agent: str | None = None) -> None:
    """The conversation was taken by ``agent``, handed back or closed: tell the runtime
    (Frappe closes the other agents' ToDos, or all of them when ``agent`` is None)."""
    hook = get_runtime().extras.get("assignment_finished")
    if callable(hook):
        try:
            hook(session_name, agent)
        except Exception:
            log.exception("assignment_finished hook failed for %s", session_name)
