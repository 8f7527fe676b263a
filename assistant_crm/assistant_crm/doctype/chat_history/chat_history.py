# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now


class ChatHistory(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        agent: DF.Link | None
        attachments: DF.JSON | None
        author: DF.Literal["user", "bot", "agent", "system"]
        channel: DF.Data | None
        channel_message_id: DF.Data | None
        confidence: DF.Float
        direction: DF.Literal["in", "out"]
        intent: DF.Data | None
        personal: DF.Check
        quick_replies: DF.JSON | None
        session: DF.Link
        stage_timings: DF.JSON | None
        text: DF.LongText | None
    # end: auto-generated types

    def validate(self):
        if self.flags.from_engine:
            return  # a person's message is stored whatever it holds (a sticker, a location)
        if not (self.text or "").strip() and not self.attachments:
            frappe.throw(_("A message needs text or an attachment"))
        if self.author == "agent" and not self.agent:
            self.agent = frappe.session.user

    @staticmethod
    def clear_old_logs(days=365):
        """Log Settings retention: messages older than ``days`` go."""
        table = frappe.qb.DocType("Chat History")
        frappe.db.delete(table, filters=(table.creation < (Now() - Interval(days=days))))


def on_doctype_update():
    """Composite indexes for the engine's lookups (the same list the standalone schema uses)."""
    from assistant_crm.config.indexes import add_frappe_indexes

    add_frappe_indexes("Chat History")
