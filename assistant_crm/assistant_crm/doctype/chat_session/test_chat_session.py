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

    def test_staff_console_page_sends_a_guest_to_login_with_a_temporary_redirect(self):
        """/wcfcb_dashboard: a guest gets a 302 to /login (a 301 would be remembered by
        the browser after logging in); a user without a staff role a PermissionError."""
        from assistant_crm.www import wcfcb_dashboard

        user = frappe.session.user
        try:
            frappe.set_user("Guest")
            with self.assertRaises(frappe.Redirect) as raised:
                wcfcb_dashboard.get_context(frappe._dict())
            self.assertEqual(raised.exception.http_status_code, 302)
            self.assertEqual(frappe.local.flags.redirect_location, "/login?redirect-to=/wcfcb_dashboard")
        finally:
            frappe.set_user(user)
