"""Composite indexes beyond what the DocType JSON can say (``unique`` and
``search_index`` cover single columns). Both runtimes read this: the standalone
schema creates them, and the Frappe controllers add them in ``on_doctype_update``."""

COMPOSITE_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "Chat Session": [("channel", "platform_sender_id", "status")],
    "Chat History": [("session", "creation")],
    "Omnichannel Message": [
        ("status", "next_attempt_at"),
        ("session", "sequence"),
        ("recipient_id", "creation"),
        # A sender's waiting events (inbox._waiting): without it the status
        # index was used and every look scanned the whole backlog.
        ("recipient_id", "status", "sequence"),
    ],
    "Webhook Activity Log": [("platform", "creation")],
    "Assistant Audit Log": [("action", "creation")],
}


def add_frappe_indexes(doctype: str) -> None:
    """Create the composite indexes under Frappe (called from each controller's ``on_doctype_update``)."""
    import frappe

    for combo in COMPOSITE_INDEXES.get(doctype, []):
        frappe.db.add_index(doctype, list(combo))
