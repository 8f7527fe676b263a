# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, now_datetime

from assistant_crm.assistant_crm.doctype.webhook_activity_log.webhook_activity_log import WebhookActivityLog


class TestWebhookActivityLog(FrappeTestCase):
    def test_clear_old_logs(self):
        old = frappe.get_doc(
            {"doctype": "Webhook Activity Log", "platform": "telegram", "status_code": 200}
        ).insert(ignore_permissions=True)
        new = frappe.get_doc(
            {"doctype": "Webhook Activity Log", "platform": "telegram", "status_code": 401}
        ).insert(ignore_permissions=True)
        frappe.db.set_value(
            old.doctype, old.name, "creation", add_days(now_datetime(), -31), update_modified=False
        )
        WebhookActivityLog.clear_old_logs(days=30)
        self.assertFalse(frappe.db.exists(old.doctype, old.name))
        self.assertTrue(frappe.db.exists(new.doctype, new.name))

    def test_listed_for_log_settings(self):
        self.assertIn("Webhook Activity Log", frappe.get_hooks("default_log_clearing_doctypes"))
