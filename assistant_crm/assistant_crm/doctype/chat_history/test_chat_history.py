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

    def test_engine_insert_keeps_the_pinned_creation_in_one_insert(self):
        """FrappeStore.insert: the arrival time survives Frappe's own stamp (doc_events
        before_insert), with no UPDATE after the INSERT."""
        from assistant_crm.runtime.frappe import FrappeStore, install

        install()
        arrived = add_days(now_datetime(), -1).replace(microsecond=123456)
        name = FrappeStore().insert(
            "Chat History",
            {
                "session": self.session.name,
                "direction": "in",
                "author": "user",
                "text": "hi",
                "creation": arrived,
            },
        )
        self.assertEqual(frappe.db.get_value("Chat History", name, "creation"), arrived)
        self.assertNotEqual(frappe.db.get_value("Chat History", name, "modified"), arrived)

    def test_after_commit_uses_frappes_callback_queue(self):
        """FrappeStore.after_commit dedupes through CallbackManager._functions (Frappe v15)."""
        from assistant_crm.runtime.frappe import FrappeStore

        ran = []
        store = FrappeStore()
        store.after_commit(lambda: ran.append(1), key=("test", self.session.name))
        store.after_commit(lambda: ran.append(2), key=("test", self.session.name))
        self.assertTrue(hasattr(frappe.db.after_commit, "_functions"))
        frappe.db.after_commit.run()
        self.assertEqual(ran, [1])
