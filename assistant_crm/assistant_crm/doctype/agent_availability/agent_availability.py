# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

STAFF_ROLES = ("Assistant CRM Agent", "Assistant CRM Manager", "System Manager")


class AgentAvailability(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        agent: DF.Link
        available: DF.Check
        last_assigned: DF.Datetime | None
    # end: auto-generated types

    def validate(self):
        if self.flags.from_engine:
            return
        if not set(frappe.get_roles(self.agent)) & set(STAFF_ROLES):
            frappe.throw(_("{0} is not an Assistant CRM agent").format(self.agent), title=_("Not an Agent"))
        # An agent marks only themselves; managers mark anyone.
        user_roles = set(frappe.get_roles())
        if self.agent != frappe.session.user and not user_roles & {"Assistant CRM Manager", "System Manager"}:
            frappe.throw(_("You can only change your own availability"), frappe.PermissionError)
