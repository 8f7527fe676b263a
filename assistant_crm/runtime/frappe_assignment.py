"""Hand-off assignment the Frappe way: Assignment Rules and ToDos.

Registered by :func:`assistant_crm.runtime.frappe.build_runtime` as the
engine's ``assign_conversation`` and ``assignment_finished`` hooks (see
:mod:`assistant_crm.services.dialogue.assignment`).

* An enabled Assignment Rule for Chat Session decides who gets a waiting
  conversation (its own round robin, load balancing or field rule): the engine
  writes sessions with ``frappe.db.set_value``, which runs no document hooks,
  so the rule is applied here explicitly.
* Without one, the engine's round-robin pick among agents marked available
  (Agent Availability) is assigned with ``frappe.desk.form.assign_to.add``.

Either way the assignment is a ToDo, so it shows in the agent's desk list and
the form's sidebar. When an agent takes the conversation the other agents'
ToDos are closed (and the taker gets one); hand-back and close finish them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import frappe

log = logging.getLogger("assistant_crm.assignment")

DOCTYPE = "Chat Session"


def _open_assignees(name: str) -> list[str]:
    return frappe.get_all(
        "ToDo",
        filters={"reference_type": DOCTYPE, "reference_name": name, "status": "Open"},
        pluck="allocated_to",
    )


def _has_rule() -> bool:
    return bool(frappe.db.exists("Assignment Rule", {"document_type": DOCTYPE, "disabled": 0}))


def assign_conversation(session_name: str, next_agent: Callable[[], str | None]) -> str | None:
    """Who the waiting conversation ``session_name`` goes to (a ToDo is created), or None."""
    if _has_rule():
        from frappe.automation.doctype.assignment_rule.assignment_rule import apply

        apply(doctype=DOCTYPE, name=session_name)
        assignees = _open_assignees(session_name)
        if assignees:
            agent = assignees[0]
            frappe.db.set_value(DOCTYPE, session_name, "assigned_agent", agent, update_modified=False)
            return agent
        # The rule did not match (its conditions or days): fall back to our round robin.
    from frappe.desk.form import assign_to

    agent = next_agent()
    if not agent or not frappe.db.exists("User", agent):
        return None
    assign_to.add(
        {
            "assign_to": [agent],
            "doctype": DOCTYPE,
            "name": session_name,
            "description": frappe._("A person is waiting for an agent in the chat"),
            # The person's message runs as Guest; the assignment comes from the assistant.
            "assigned_by": "Administrator",
        },
        ignore_permissions=True,
    )
    return agent


def assignment_finished(session_name: str, agent: str | None) -> None:
    """Taken by ``agent``: cancel the others' ToDos and give ``agent`` one.
    ``agent`` None (handed back or closed): close every ToDo of the conversation."""
    from frappe.desk.form import assign_to  # imported here: the module loads with the runtime

    if agent is None:
        assign_to.close_all_assignments(DOCTYPE, session_name, ignore_permissions=True)
        return
    assignees = _open_assignees(session_name)
    for user in assignees:
        if user != agent:
            assign_to.remove(DOCTYPE, session_name, user, ignore_permissions=True)
    if agent not in assignees and frappe.db.exists("User", agent):
        assign_to.add(
            {"assign_to": [agent], "doctype": DOCTYPE, "name": session_name}, ignore_permissions=True
        )
