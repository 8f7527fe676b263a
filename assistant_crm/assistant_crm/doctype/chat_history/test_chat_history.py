# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, now_datetime

from assistant_crm.assistant_crm.doctype.chat_history.chat_history import ChatHistory


class TestChatHistory(FrappeTestCase):
    def setUp(self):
        self.session = frappe.get_doc({"doctype": "Chat Session", "channel": "web"}).insert(
            ignore_permissions=True
        )

    def add(self, **values):
        return frappe.get_doc(
            {
                "doctype": "Chat History",
                "session": self.session.name,
                "direction": "in",
                "author": "user",
                **values,
            }
        ).insert(ignore_permissions=True)

    def test_empty_message_is_refused(self):
        with self.assertRaises(frappe.ValidationError):
            self.add(text="   ")

    def test_clear_old_logs_keeps_recent_rows(self):
        old, new = self.add(text="old"), self.add(text="new")
        frappe.db.set_value(
            "Chat History", old.name, "creation", add_days(now_datetime(), -400), update_modified=False
        )
        ChatHistory.clear_old_logs(days=365)
        self.assertFalse(frappe.db.exists("Chat History", old.name))
        self.assertTrue(frappe.db.exists("Chat History", new.name))
