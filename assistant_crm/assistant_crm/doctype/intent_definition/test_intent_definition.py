# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


class TestIntentDefinition(FrappeTestCase):
    def test_name_must_be_snake_case(self):
        with self.assertRaises(frappe.ValidationError):
            frappe.get_doc(
                {"doctype": "Intent Definition", "intent_name": "Claim Status!", "examples": "x"}
            ).insert()

    def test_custom_intent_needs_examples_and_dedupes_them(self):
        with self.assertRaises(frappe.ValidationError):
            frappe.get_doc({"doctype": "Intent Definition", "intent_name": "test_custom_intent"}).insert()
        doc = frappe.get_doc(
            {"doctype": "Intent Definition", "intent_name": "test_custom_intent", "examples": "a\n\na\n b "}
        ).insert()
        self.assertEqual(doc.examples, "a\nb")

    def test_standard_intent_cannot_be_deleted(self):
        if not frappe.db.exists("Intent Definition", "greeting"):
            frappe.get_doc(
                {"doctype": "Intent Definition", "intent_name": "greeting", "examples": "hi"}
            ).insert()
        with self.assertRaises(frappe.ValidationError):
            frappe.delete_doc("Intent Definition", "greeting")
