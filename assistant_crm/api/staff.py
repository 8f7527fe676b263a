"""Who is logged in to the staff console, and who the staff are, in both runtimes.

Under Frappe the staff are the enabled users holding "Assistant CRM Agent" or
"Assistant CRM Manager"; standalone, the rows of ``Assistant CRM Staff``.
"""

from __future__ import annotations

from typing import Any

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER, current_request, endpoint
from assistant_crm.services.dialogue import assignment
from assistant_crm.services.infra.ports import get_runtime

STAFF_ROLES = (ROLE_AGENT, ROLE_MANAGER)


def _frappe_directory() -> list[dict[str, Any]]:
    import frappe

    holders = frappe.get_all(
        "Has Role",
        filters={"role": ("in", list(STAFF_ROLES)), "parenttype": "User"},
        fields=["parent", "role"],
    )
    roles: dict[str, set[str]] = {}
    for h in holders:
        roles.setdefault(h["parent"], set()).add(h["role"])
    users = frappe.get_all(
        "User", filters={"name": ("in", list(roles)), "enabled": 1}, fields=["name", "full_name"]
    )
    return [
        {
            "user": u["name"],
            "full_name": u.get("full_name") or u["name"],
            "role": "manager" if ROLE_MANAGER in roles[u["name"]] else "agent",
        }
        for u in users
    ]


def staff_directory() -> list[dict[str, Any]]:
    """Every enabled staff member: user, full_name, role ("agent" or "manager")."""
    rt = get_runtime()
    if rt.name == "frappe":
        return _frappe_directory()
    rows = rt.store.list("Assistant CRM Staff", {"enabled": 1}, order_by="email asc", limit=1000)
    return [
        {"user": r["name"], "full_name": r.get("full_name") or r["name"], "role": r.get("role") or "agent"}
        for r in rows
    ]


@endpoint(roles=STAFF_ROLES, methods=("GET",))
def whoami() -> dict[str, Any]:
    """The logged-in staff member and what the console may show them."""
    info = current_request()
    me = next((s for s in staff_directory() if s["user"] == info.user), None)
    is_manager = ROLE_MANAGER in info.roles or info.user == "Administrator"
    return {
        "user": info.user,
        "full_name": (me or {}).get("full_name") or info.user,
        "roles": [r for r in info.roles if r in STAFF_ROLES],
        "is_manager": is_manager,
        "available": assignment.is_available(info.user),
        "runtime": get_runtime().name,
    }


@endpoint(roles=STAFF_ROLES, methods=("GET",))
def list_staff() -> list[dict[str, Any]]:
    """Colleagues a conversation can be transferred to."""
    return staff_directory()
