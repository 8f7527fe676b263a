# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class AssistantAuditLog(Document):
    """Append-only: rows are written by ``assistant_crm.services.infra.audit.record``
    (the store sets ``flags.from_engine``) and never edited or deleted, by
    anyone. Log Settings never clears them (no ``clear_old_logs``)."""

    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        action: DF.Data
        actor: DF.Data
        details: DF.LongText | None
        hash: DF.Data | None
        previous_hash: DF.Data | None
        sequence: DF.Int
        subject: DF.Data | None
    # end: auto-generated types

    def before_insert(self):
        if not self.flags.from_engine:
            frappe.throw(_("Audit entries are written by the assistant only"), frappe.PermissionError)

    def validate(self):
        if not self.is_new():
            self.refuse_change()

    def on_update(self):
        # on_update also runs for the engine's insert; any other save is an edit.
        if not (self.flags.from_engine and self.flags.in_insert):
            self.refuse_change()

    def before_change(self):
        # doc.db_set() skips validate/on_update but runs this first.
        self.refuse_change()

    def on_trash(self):
        self.refuse_change()

    def refuse_change(self):
        frappe.throw(_("Audit entries cannot be edited or deleted"), frappe.PermissionError)


MANAGER_ROLES = ["Assistant CRM Manager", "System Manager"]


@frappe.whitelist()
def verify_chain() -> list[str]:
    """Names of audit rows whose hash or link is broken, and a sentence for a
    cut tail or a row that differs from an anchor (desk button). Empty: intact."""
    frappe.only_for(MANAGER_ROLES)
    from assistant_crm.runtime.frappe import install
    from assistant_crm.services.infra.audit import verify_chain as verify

    install()
    return verify()


def daily_check() -> None:
    """Scheduler (daily): verify the chain, alert the managers on a break, append the day's checkpoint."""
    from assistant_crm.runtime.frappe import install
    from assistant_crm.services.infra import audit
    from assistant_crm.services.infra.ports import get_runtime

    install()
    get_runtime().extras["alert_managers"] = alert_managers
    audit.daily_check()


def alert_managers(subject: str, message: str) -> None:
    """A desk notification (bell) for every enabled user with a manager role."""
    users = frappe.get_all(
        "Has Role",
        filters={"role": ["in", MANAGER_ROLES], "parenttype": "User"},
        pluck="parent",
        distinct=True,
    )
    for user in set(users):
        if user in ("Administrator", "Guest") or not frappe.db.get_value("User", user, "enabled"):
            continue
        frappe.get_doc(
            {
                "doctype": "Notification Log",
                "for_user": user,
                "type": "Alert",
                "document_type": "Assistant Audit Log",
                "subject": subject,
                "email_content": frappe.utils.escape_html(message).replace("\n", "<br>"),
            }
        ).insert(ignore_permissions=True)


def on_doctype_update():
    """Composite indexes for the engine's lookups (the same list the standalone schema uses)."""
    from assistant_crm.config.indexes import add_frappe_indexes

    add_frappe_indexes("Assistant Audit Log")
