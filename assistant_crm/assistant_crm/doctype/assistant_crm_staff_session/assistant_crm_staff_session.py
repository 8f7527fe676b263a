# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class AssistantCRMStaffSession(Document):
    pass
