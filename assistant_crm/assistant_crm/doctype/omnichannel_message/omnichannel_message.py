# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now

# Only finished records are cleared; anything still to process or deliver stays.
FINISHED_STATUSES = ("processed", "sent", "delivered", "read")


class OmnichannelMessage(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        attempts: DF.Int
        direction: DF.Literal["inbound", "outbound"]
        event_type: DF.Literal["message", "status"]
        idempotency_key: DF.Data
        last_error: DF.SmallText | None
        next_attempt_at: DF.Datetime | None
        payload: DF.JSON | None
        platform: DF.Literal["web", "whatsapp", "telegram", "messenger", "instagram", "sms", "make_com"]
        platform_message_id: DF.Data | None
        recipient_id: DF.Data | None
        sequence: DF.Int
        session: DF.Link | None
        status: DF.Literal[
            "received",
            "processing",
            "waiting",
            "processed",
            "queued",
            "sending",
            "sent",
            "delivered",
            "read",
            "failed",
            "dead",
        ]
    # end: auto-generated types

    def validate(self):
        if (self.attempts or 0) < 0:
            frappe.throw(_("Attempts cannot be negative"))

    @frappe.whitelist()
    def retry(self):
        """Put a failed or dead outbound message back in the queue (desk button)."""
        frappe.only_for(["Assistant CRM Manager", "System Manager"])
        if self.direction != "outbound" or self.status not in ("failed", "dead"):
            frappe.throw(_("Only failed outbound messages can be retried"))
        self.db_set({"status": "queued", "next_attempt_at": frappe.utils.now_datetime(), "last_error": ""})
        from assistant_crm.runtime.frappe import call_engine

        call_engine(
            "assistant_crm.services.infra.audit.record", frappe.session.user, "outbound.retried", self.name
        )

    @staticmethod
    def clear_old_logs(days=90):
        table = frappe.qb.DocType("Omnichannel Message")
        frappe.db.delete(
            table,
            filters=(table.modified < (Now() - Interval(days=days))) & (table.status.isin(FINISHED_STATUSES)),
        )


def on_doctype_update():
    """Composite indexes for the engine's lookups (the same list the standalone schema uses)."""
    from assistant_crm.config.indexes import add_frappe_indexes

    add_frappe_indexes("Omnichannel Message")
