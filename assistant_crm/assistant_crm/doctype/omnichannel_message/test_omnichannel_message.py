# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, now_datetime

from assistant_crm.assistant_crm.doctype.omnichannel_message.omnichannel_message import OmnichannelMessage


def make_message(key, status):
    return frappe.get_doc(
        {
            "doctype": "Omnichannel Message",
            "platform": "sms",
            "direction": "outbound",
            "idempotency_key": key,
            "status": status,
        }
    ).insert(ignore_permissions=True)


class TestOmnichannelMessage(FrappeTestCase):
    def test_idempotency_key_is_unique(self):
        make_message("test-dup-key", "queued")
        # a unique field (not the name) clashing is Frappe's UniqueValidationError
        with self.assertRaises(frappe.UniqueValidationError):
            make_message("test-dup-key", "queued")

    def test_clear_old_logs_keeps_unfinished_messages(self):
        done, pending = make_message("test-old-sent", "sent"), make_message("test-old-queued", "queued")
        for doc in (done, pending):
            frappe.db.set_value(
                doc.doctype, doc.name, "modified", add_days(now_datetime(), -200), update_modified=False
            )
        OmnichannelMessage.clear_old_logs(days=90)
        self.assertFalse(frappe.db.exists("Omnichannel Message", done.name))
        self.assertTrue(frappe.db.exists("Omnichannel Message", pending.name))
