# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

from frappe.tests.utils import FrappeTestCase


class TestAssistantAuditAnchor(FrappeTestCase):
    pass
