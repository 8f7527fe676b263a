# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class AssistantAuditAnchor(Document):
    """The audit chain's head kept in the database (services/infra/audit.py moves it)."""

    def validate(self):
        if not self.flags.from_engine and not self.is_new():
            frappe.throw(_("The audit anchor is kept by the assistant and cannot be edited."))
