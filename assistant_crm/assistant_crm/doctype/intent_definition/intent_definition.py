# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import re

import frappe
from frappe import _
from frappe.model.document import Document

from assistant_crm.services.models import INTENTS

SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def clean_lines(text: str | None) -> str:
    """One example per line: trimmed, no blanks, no duplicates (order kept)."""
    seen: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and line not in seen:
            seen.append(line)
    return "\n".join(seen)


def intent_name_problem(name: str | None) -> str | None:
    if not name:
        return _("Intent Name is required")
    if name in INTENTS:
        return None
    if not SNAKE.match(name) or len(name) > 64:
        return _("Intent Name {0} must be one of the 12 standard intents or lowercase snake_case").format(
            frappe.bold(name)
        )
    return None


class IntentDefinition(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        description: DF.SmallText | None
        enabled: DF.Check
        escalate: DF.Check
        examples: DF.LongText | None
        intent_name: DF.Data
        keywords: DF.SmallText | None
        needs_live_data: DF.Check
        requires_auth: DF.Check
    # end: auto-generated types

    def before_insert(self):
        self.intent_name = (self.intent_name or "").strip()

    def validate(self):
        self.intent_name = (self.intent_name or "").strip()
        problem = intent_name_problem(self.intent_name)
        if problem:
            frappe.throw(problem, title=_("Invalid Intent Name"))
        self.examples = clean_lines(self.examples)
        if self.enabled and self.intent_name not in INTENTS and not self.examples:
            frappe.throw(_("A new intent needs example messages to be recognised"))

    def on_update(self):
        self.reload_engine()

    def on_trash(self):
        if self.intent_name in INTENTS:
            frappe.throw(
                _("{0} is a standard intent the assistant relies on; disable it instead").format(
                    frappe.bold(self.intent_name)
                )
            )
        self.reload_engine()

    def reload_engine(self):
        # The classifier is trained from these rows: retrain on the next message.
        from assistant_crm.runtime.frappe import call_engine

        call_engine("assistant_crm.services.pipeline.intents.reload")
