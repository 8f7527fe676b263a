"""Give conversations stored before display names existed a readable one
("Web visitor 4f2a", a masked phone), so the desk's list shows no hash ids."""

import frappe

from assistant_crm.assistant_crm.doctype.chat_session.chat_session import visitor_label


def execute():
    rows = frappe.get_all(
        "Chat Session",
        filters={"display_name": ("is", "not set")},  # NULL or empty
        fields=["name", "channel", "phone"],
        limit_page_length=0,
    )
    for row in rows:
        label = visitor_label(row.channel, row.name, row.phone)
        frappe.db.set_value("Chat Session", row.name, "display_name", label, update_modified=False)
