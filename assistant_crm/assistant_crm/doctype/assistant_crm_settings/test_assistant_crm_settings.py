# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from assistant_crm.runtime.frappe import install
from assistant_crm.services.infra.ports import get_runtime


class TestAssistantCRMSettings(FrappeTestCase):
    def setUp(self):
        install()

    def test_change_is_audited_by_field_name_never_value(self):
        doc = frappe.get_single("Assistant CRM Settings")
        doc.gemini_api_key = "test-secret-value-123"
        doc.chat_rate_limit_per_minute = 42
        doc.save(ignore_permissions=True)
        entry = frappe.get_all(
            "Assistant Audit Log",
            filters={"action": "settings.changed"},
            fields=["details"],
            order_by="sequence desc",
            limit=1,
        )[0]
        self.assertIn("gemini_api_key", entry.details)
        self.assertIn("chat_rate_limit_per_minute", entry.details)
        self.assertNotIn("test-secret-value-123", entry.details)
        # the engine reads the decrypted secret through the runtime
        self.assertEqual(get_runtime().settings.str("gemini_api_key"), "test-secret-value-123")

    def test_bad_values_are_refused(self):
        doc = frappe.get_single("Assistant CRM Settings")
        doc.gemini_base_url = "ftp://example.com"
        with self.assertRaises(frappe.ValidationError):
            doc.save(ignore_permissions=True)
        doc.reload()
        doc.webhook_ip_allowlist = "10.0.0.0/8\nnot-an-ip"
        with self.assertRaises(frappe.ValidationError):
            doc.save(ignore_permissions=True)
