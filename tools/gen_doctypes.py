"""One-off generator for the initial DocType JSON files (kept for reference; the JSON is the source)."""

import json
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent / "assistant_crm" / "assistant_crm" / "doctype"
STAMP = "2026-11-25 00:00:00.000000"
MGR = "Assistant CRM Manager"
AGT = "Assistant CRM Agent"


def perm(role, write=1, create=1, delete=1, read=1):
    return {
        "role": role,
        "read": read,
        "write": write,
        "create": create,
        "delete": delete,
        "email": 1,
        "export": 1,
        "print": 1,
        "report": 1,
        "share": 1,
    }


def f(name, ftype="Data", label=None, **kw):
    d = {"fieldname": name, "fieldtype": ftype, "label": label or name.replace("_", " ").title()}
    d.update(kw)
    return d


def doctype(name, fields, perms, autoname="hash", title_field=None, sort_field="creation", extra=None):
    doc = {
        "actions": [],
        "allow_rename": 0,
        "autoname": autoname,
        "creation": STAMP,
        "doctype": "DocType",
        "engine": "InnoDB",
        "field_order": [x["fieldname"] for x in fields],
        "fields": fields,
        "index_web_pages_for_search": 0,
        "links": [],
        "modified": STAMP,
        "modified_by": "Administrator",
        "module": "Assistant CRM",
        "name": name,
        "naming_rule": "Random"
        if autoname == "hash"
        else ("By fieldname" if autoname.startswith("field:") else "Expression"),
        "owner": "Administrator",
        "permissions": perms,
        "sort_field": sort_field,
        "sort_order": "DESC",
        "states": [],
    }
    if title_field:
        doc["title_field"] = title_field
        doc["show_title_field_in_link"] = 0
    if extra:
        doc.update(extra)
    folder = BASE / name.lower().replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{folder.name}.json").write_text(json.dumps(doc, indent=1) + "\n")


CHANNEL_OPTS = "web\nwhatsapp\ntelegram\nmessenger\ninstagram\nsms"

doctype(
    "Chat Session",
    [
        f(
            "channel",
            "Select",
            options=CHANNEL_OPTS,
            reqd=1,
            in_list_view=1,
            in_standard_filter=1,
            default="web",
        ),
        f("platform_sender_id", "Data", label="Platform Sender ID", search_index=1),
        f("display_name", "Data", in_list_view=1),
        f("phone", "Data", options="Phone", description="E.164"),
        f(
            "status",
            "Select",
            options="bot\nwaiting_for_agent\nwith_agent\nclosed",
            default="bot",
            in_list_view=1,
            in_standard_filter=1,
            search_index=1,
        ),
        f("assigned_agent", "Link", options="User", in_standard_filter=1),
        f("column_break_1", "Column Break", label=""),
        f("language", "Select", options="en\nbem\nnya\ntoi\nloz", default="en"),
        f("verified_person_id", "Data", label="Verified Person ID", read_only=1),
        f("verified_at", "Datetime", read_only=1),
        f("locked_intent", "Data", read_only=1),
        f("last_activity", "Datetime", in_list_view=1, search_index=1),
        f("expiry", "Datetime"),
        f("message_count", "Int", default="0", read_only=1),
        f("section_context", "Section Break", label="Context", collapsible=1),
        f("context", "JSON", description="Slots and conversation state kept by the engine"),
        f(
            "visitor_token",
            "Data",
            hidden=1,
            read_only=1,
            unique=1,
            description="Unguessable token for realtime to one web visitor",
        ),
    ],
    [perm(MGR), perm(AGT, create=0, delete=0)],
    title_field="display_name",
    sort_field="modified",
    extra={"track_changes": 1},
)

doctype(
    "Chat History",
    [
        f("session", "Link", options="Chat Session", reqd=1, in_list_view=1, search_index=1),
        f("direction", "Select", options="in\nout", reqd=1, in_list_view=1),
        f("author", "Select", options="user\nbot\nagent\nsystem", reqd=1, in_list_view=1),
        f("agent", "Link", options="User"),
        f("text", "Long Text"),
        f("column_break_1", "Column Break", label=""),
        f("intent", "Data", in_list_view=1),
        f("confidence", "Float", precision="4"),
        f("channel", "Data"),
        f("channel_message_id", "Data", label="Channel Message ID"),
        f("section_more", "Section Break", label="Details", collapsible=1),
        f("attachments", "JSON"),
        f("quick_replies", "JSON"),
        f("stage_timings", "JSON", description="Milliseconds per pipeline stage"),
    ],
    [perm(MGR), perm(AGT, write=0, delete=0)],
    sort_field="creation",
)

doctype(
    "Knowledge Base Article",
    [
        f("title", "Data", reqd=1, in_list_view=1),
        f("slug", "Data", reqd=1, unique=1),
        f(
            "category",
            "Select",
            options="General\nEmployers\nClaims\nBenefits\nPensions\nContributions\nIdentity\nContact\nPrevention",
            default="General",
            in_list_view=1,
            in_standard_filter=1,
        ),
        f("language", "Select", options="en\nbem\nnya\ntoi\nloz", default="en", in_standard_filter=1),
        f("published", "Check", default="1", in_list_view=1, in_standard_filter=1),
        f("column_break_1", "Column Break", label=""),
        f("keywords", "Small Text", description="Comma-separated words that help retrieval"),
        f("source", "Small Text", reqd=1, description="Where the facts come from"),
        f("section_body", "Section Break", label="Body"),
        f("body", "Text Editor", reqd=1),
    ],
    [perm(MGR), perm(AGT, write=0, create=0, delete=0)],
    autoname="field:slug",
    title_field="title",
    sort_field="modified",
)

doctype(
    "Intent Definition",
    [
        f("intent_name", "Data", reqd=1, unique=1, in_list_view=1),
        f("description", "Small Text"),
        f("requires_auth", "Check", default="0", in_list_view=1, label="Requires Authentication"),
        f("needs_live_data", "Check", default="0", in_list_view=1),
        f("escalate", "Check", default="0", in_list_view=1),
        f("enabled", "Check", default="1"),
        f("section_examples", "Section Break", label="Training"),
        f("examples", "Long Text", description="One example message per line"),
        f("keywords", "Small Text", description="Comma-separated"),
    ],
    [perm(MGR), perm(AGT, write=0, create=0, delete=0)],
    autoname="field:intent_name",
    title_field="intent_name",
    sort_field="modified",
)

doctype(
    "Response Template",
    [
        f(
            "template_key",
            "Data",
            reqd=1,
            in_list_view=1,
            description="Usually the intent name; other keys: verify_ask, otp_sent, clarify, fallback ...",
        ),
        f("intent", "Link", options="Intent Definition", in_standard_filter=1),
        f(
            "language",
            "Select",
            options="en\nbem\nnya\ntoi\nloz",
            default="en",
            in_list_view=1,
            in_standard_filter=1,
        ),
        f("channel", "Select", options="all\n" + CHANNEL_OPTS, default="all", in_list_view=1),
        f("enabled", "Check", default="1"),
        f("section_body", "Section Break", label="Body"),
        f("body", "Long Text", reqd=1, description="Placeholders in {braces}"),
        f("quick_replies", "Small Text", description="One per line"),
    ],
    [perm(MGR), perm(AGT, write=0, create=0, delete=0)],
    title_field="template_key",
    sort_field="modified",
)

doctype(
    "Omnichannel Message",
    [
        f(
            "platform",
            "Select",
            options="web\nwhatsapp\ntelegram\nmessenger\ninstagram\nsms\nmake_com",
            reqd=1,
            in_list_view=1,
            in_standard_filter=1,
        ),
        f("direction", "Select", options="inbound\noutbound", reqd=1, in_list_view=1, in_standard_filter=1),
        f("event_type", "Select", options="message\nstatus", default="message"),
        f("session", "Link", options="Chat Session", search_index=1),
        f("recipient_id", "Data", label="Recipient ID"),
        f("platform_message_id", "Data", label="Platform Message ID", search_index=1),
        f("idempotency_key", "Data", reqd=1, unique=1),
        f("column_break_1", "Column Break", label=""),
        f(
            "status",
            "Select",
            options="received\nprocessing\nprocessed\nqueued\nsending\nsent\ndelivered\nread\nfailed\ndead",
            default="received",
            in_list_view=1,
            in_standard_filter=1,
            search_index=1,
        ),
        f("attempts", "Int", default="0"),
        f("next_attempt_at", "Datetime", search_index=1),
        f("sequence", "Int", default="0", description="Order within the conversation"),
        f("last_error", "Small Text"),
        f("section_payload", "Section Break", label="Payload", collapsible=1),
        f("payload", "JSON"),
    ],
    [perm(MGR), perm(AGT, write=0, create=0, delete=0)],
    sort_field="creation",
)

doctype(
    "Webhook Activity Log",
    [
        f("platform", "Data", in_list_view=1, in_standard_filter=1),
        f("path", "Data"),
        f("method", "Data"),
        f("signature_valid", "Check", in_list_view=1),
        f("status_code", "Int", in_list_view=1),
        f("latency_ms", "Float", label="Latency (ms)"),
        f("remote_ip", "Data", label="Remote IP"),
        f("idempotency_key", "Data", search_index=1),
        f("error", "Small Text"),
    ],
    [perm(MGR, write=0, create=0), perm(AGT, write=0, create=0, delete=0)],
    sort_field="creation",
)

doctype(
    "Assistant Audit Log",
    [
        f("actor", "Data", reqd=1, in_list_view=1),
        f("action", "Data", reqd=1, in_list_view=1, in_standard_filter=1),
        f("subject", "Data", in_list_view=1),
        f("details", "Long Text", description="Masked: no full NRC or phone number"),
        f("previous_hash", "Data", read_only=1),
        f("hash", "Data", read_only=1, unique=1),
        f("sequence", "Int", read_only=1, unique=1),
    ],
    [perm(MGR, write=0, create=0, delete=0), perm("System Manager", write=0, create=0, delete=0)],
    sort_field="creation",
    extra={"in_create": 1},
)
print("ok")
