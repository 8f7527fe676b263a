# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import re

import frappe
from frappe import _
from frappe.model.document import Document

from assistant_crm.assistant_crm.doctype.chat_session import transcript
from assistant_crm.services.infra.masking import mask_phone

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
TRANSCRIPT_LIMIT = 500
_CHANNEL_PEOPLE = {"web": "Web visitor", "telegram": "Telegram user", "messenger": "Messenger user"}


def visitor_label(channel: str | None, name: str | None, phone: str | None = None) -> str:
    """What the desk calls someone who gave no name: a masked phone, else "Web visitor 4f2a"
    (the same words as the staff console)."""
    if phone:
        return mask_phone(phone)
    return f"{_CHANNEL_PEOPLE.get(channel or '', 'Visitor')} {(name or '')[:4]}".strip()


def phone_problem(phone: str | None) -> str | None:
    """Why ``phone`` is not an E.164 number, or None when it is (or is empty)."""
    if not phone:
        return None
    if not E164.match(phone.strip()):
        return _("Phone must be in E.164 form, such as +260971234567")
    return None


class ChatSession(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        assigned_agent: DF.Link | None
        channel: DF.Literal["web", "whatsapp", "telegram", "messenger", "instagram", "sms"]
        context: DF.JSON | None
        csat: DF.Int
        csat_asked_at: DF.Datetime | None
        csat_at: DF.Datetime | None
        csat_comment: DF.SmallText | None
        display_name: DF.Data | None
        expiry: DF.Datetime | None
        handoff_out_of_hours: DF.Check
        handoff_reason: DF.Data | None
        handoff_stage: DF.Literal["", "waiting", "noted", "gave_up", "kept_waiting"]
        language: DF.Literal["en", "bem", "nya", "toi", "loz"]
        last_activity: DF.Datetime | None
        locked_intent: DF.Data | None
        message_count: DF.Int
        phone: DF.Data | None
        platform_sender_id: DF.Data | None
        status: DF.Literal["bot", "waiting_for_agent", "with_agent", "closed"]
        verified_at: DF.Datetime | None
        verified_person_id: DF.Data | None
        visitor_token: DF.Data | None
        waiting_since: DF.Datetime | None
    # end: auto-generated types

    def onload(self):
        """The transcript for the form's HTML field (chat_session.js renders it)."""
        self.set_onload("transcript", transcript_html(self.name))
        self.set_onload("status_label", transcript.status_label(self.status))

    def validate(self):
        if not self.display_name:
            # A list of hash names helps nobody: "Web visitor 4f2a" is the title.
            self.display_name = visitor_label(self.channel, self.name, self.phone)
        if self.flags.from_engine:
            # The engine's own writes are checked where they are made; refusing one
            # here would lose a person's message.
            return
        if self.phone:
            self.phone = self.phone.strip()
        problem = phone_problem(self.phone)
        if problem:
            frappe.throw(problem, title=_("Invalid Phone"))
        if self.status == "with_agent" and not self.assigned_agent:
            # An agent taking over from the desk: the session is theirs.
            self.assigned_agent = frappe.session.user

    def on_update(self):
        if self.flags.from_engine:
            return  # the engine keeps its own cache and audits its own actions
        # The engine keeps a cached copy of each session; a desk edit (take over,
        # hand back, close) must be seen by the next turn at once.
        from assistant_crm.runtime.frappe import call_engine

        call_engine("assistant_crm.services.pipeline.context.invalidate", self.name)
        if self.flags.in_insert:
            return
        if self.has_value_changed("status") or self.has_value_changed("assigned_agent"):
            call_engine(
                "assistant_crm.services.infra.audit.record",
                frappe.session.user,
                "session.updated",
                self.name,
                {"status": self.status, "assigned_agent": self.assigned_agent or ""},
            )

    def on_trash(self):
        from assistant_crm.runtime.frappe import call_engine

        call_engine("assistant_crm.services.pipeline.context.invalidate", self.name)
        call_engine(
            "assistant_crm.services.infra.audit.record", frappe.session.user, "session.deleted", self.name
        )


def transcript_html(name: str) -> str:
    rows = frappe.get_all(
        "Chat History",
        filters={"session": name},
        fields=[
            "name",
            "direction",
            "author",
            "agent",
            "text",
            "intent",
            "creation",
            "attachments",
            "quick_replies",
        ],
        order_by="creation desc",
        limit_page_length=TRANSCRIPT_LIMIT,
    )
    rows.reverse()
    return transcript.render(rows)


@frappe.whitelist()
def get_transcript(name: str) -> dict:
    """The transcript's HTML and the labelled status, for the form to refresh in place."""
    doc = frappe.get_doc("Chat Session", name)
    doc.check_permission("read")
    return {
        "html": transcript_html(doc.name),
        "status": doc.status,
        "status_label": transcript.status_label(doc.status),
        "assigned_agent": doc.assigned_agent or "",
    }


def on_doctype_update():
    """Composite indexes for the engine's lookups (the same list the standalone schema uses)."""
    from assistant_crm.config.indexes import add_frappe_indexes

    add_frappe_indexes("Chat Session")
