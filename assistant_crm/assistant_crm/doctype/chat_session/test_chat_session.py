# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


def make_session(**values):
    return frappe.get_doc({"doctype": "Chat Session", "channel": "web", **values}).insert(
        ignore_permissions=True
    )


class TestChatSession(FrappeTestCase):
    def test_phone_must_be_e164(self):
        with self.assertRaises(frappe.ValidationError):
            make_session(phone="0971234567")
        self.assertEqual(make_session(phone=" +260971234567 ").phone, "+260971234567")

    def test_taking_over_assigns_the_agent_and_is_audited(self):
        session = make_session()
        before = frappe.db.count("Assistant Audit Log", {"action": "session.updated"})
        session.status = "with_agent"
        session.save(ignore_permissions=True)
        self.assertEqual(session.assigned_agent, frappe.session.user)
        self.assertEqual(frappe.db.count("Assistant Audit Log", {"action": "session.updated"}), before + 1)
