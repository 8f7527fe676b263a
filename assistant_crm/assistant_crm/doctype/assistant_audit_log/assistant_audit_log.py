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


@frappe.whitelist()
def verify_chain() -> list[str]:
    """Names of audit rows whose hash or link is broken (desk button)."""
    frappe.only_for(["Assistant CRM Manager", "System Manager"])
    from assistant_crm.runtime.frappe import install
    from assistant_crm.services.infra.audit import verify_chain as verify

    install()
    return verify()


def on_doctype_update():
    """Composite indexes for the engine's lookups (the same list the standalone schema uses)."""
    from assistant_crm.config.indexes import add_frappe_indexes

    add_frappe_indexes("Assistant Audit Log")
