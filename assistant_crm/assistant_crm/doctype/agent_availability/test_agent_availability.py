# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


class TestAgentAvailability(FrappeTestCase):
    def test_only_staff_can_be_marked_available(self):
        with self.assertRaises(frappe.ValidationError):
            frappe.get_doc({"doctype": "Agent Availability", "agent": "Guest", "available": 1}).insert()
        frappe.get_doc({"doctype": "Agent Availability", "agent": "Administrator", "available": 1}).insert()
        self.assertEqual(frappe.db.get_value("Agent Availability", "Administrator", "available"), 1)
