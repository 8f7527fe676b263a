# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import json

import frappe
from frappe.tests.utils import FrappeTestCase

from assistant_crm.runtime.frappe import install
from assistant_crm.services.infra import audit


class TestAssistantAuditLog(FrappeTestCase):
    def setUp(self):
        install()

    def test_engine_appends_and_the_chain_verifies(self):
        name = audit.record("bot", "test.action", "subject", {"nrc": "123456/78/1"})
        row = frappe.get_doc("Assistant Audit Log", name)
        self.assertNotIn("123456", row.details)
        self.assertEqual(json.loads(row.details)["nrc"], "******/**/1")
        self.assertEqual(audit.verify_chain(), [])

    def test_rows_cannot_be_created_edited_or_deleted_from_the_desk(self):
        with self.assertRaises(frappe.PermissionError):
            frappe.get_doc({"doctype": "Assistant Audit Log", "actor": "x", "action": "forged"}).insert(
                ignore_permissions=True
            )
        doc = frappe.get_doc("Assistant Audit Log", audit.record("bot", "test.action"))
        doc.subject = "edited"
        with self.assertRaises(frappe.PermissionError):
            doc.save(ignore_permissions=True)
        with self.assertRaises(frappe.PermissionError):
            doc.db_set("subject", "edited")
        with self.assertRaises(frappe.PermissionError):
            frappe.delete_doc("Assistant Audit Log", doc.name, ignore_permissions=True)

    def test_tampering_is_detected(self):
        name = audit.record("bot", "test.action", "s", {"n": 1})
        frappe.db.set_value("Assistant Audit Log", name, "details", '{"n": 2}', update_modified=False)
        self.assertIn(name, audit.verify_chain())

    def test_never_cleared_by_log_settings(self):
        self.assertNotIn("Assistant Audit Log", frappe.get_hooks("default_log_clearing_doctypes"))
