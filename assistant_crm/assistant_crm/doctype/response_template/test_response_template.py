# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


def make_template(**values):
    base = {"doctype": "Response Template", "template_key": "test_key", "language": "en", "channel": "sms"}
    return frappe.get_doc({**base, **values}).insert(ignore_permissions=True)


class TestResponseTemplate(FrappeTestCase):
    def test_unbalanced_or_unsafe_placeholders_are_refused(self):
        for body in ("Hello {first_name", "Hello first_name}", "Hi {0.__class__}", "Hi {a[0]}"):
            with self.assertRaises(frappe.ValidationError, msg=body):
                make_template(body=body, enabled=0)

    def test_good_template_and_duplicate_variant(self):
        make_template(body="Hello {first_name}, {{literal}}")
        with self.assertRaises(frappe.ValidationError):
            make_template(body="Another")
