# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now


class WebhookActivityLog(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        error: DF.SmallText | None
        idempotency_key: DF.Data | None
        latency_ms: DF.Float
        method: DF.Data | None
        path: DF.Data | None
        platform: DF.Data | None
        remote_ip: DF.Data | None
        signature_valid: DF.Check
        status_code: DF.Int
    # end: auto-generated types

    @staticmethod
    def clear_old_logs(days=30):
        table = frappe.qb.DocType("Webhook Activity Log")
        frappe.db.delete(table, filters=(table.creation < (Now() - Interval(days=days))))


def on_doctype_update():
    """Composite indexes for the engine's lookups (the same list the standalone schema uses)."""
    from assistant_crm.config.indexes import add_frappe_indexes

    add_frappe_indexes("Webhook Activity Log")
