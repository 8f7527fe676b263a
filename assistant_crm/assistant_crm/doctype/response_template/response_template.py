# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import re
import string

import frappe
from frappe import _
from frappe.model.document import Document

KEY = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def placeholder_problems(body: str | None) -> list[str]:
    """What is wrong with the ``{placeholders}`` of a template body.

    Braces must balance (``{{``/``}}`` for literal braces) and every
    placeholder must be a plain name: the engine's formatter never evaluates
    ``{0}``, ``{a.b}`` or ``{a[0]}``, so such a template would show a blank."""
    problems: list[str] = []
    try:
        parts = list(string.Formatter().parse(body or ""))
    except ValueError as e:
        return [_("Unbalanced braces in the body: {0}").format(str(e))]
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if not PLACEHOLDER.match(field):
            problems.append(_("{{{0}}} is not a plain placeholder name").format(field))
        elif conversion:
            problems.append(_("{{{0}}} must not use a !conversion").format(field))
        elif spec and ("{" in spec or "}" in spec):
            problems.append(_("{{{0}}} has a nested placeholder").format(field))
    return problems


class ResponseTemplate(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        body: DF.LongText
        channel: DF.Literal["all", "web", "whatsapp", "telegram", "messenger", "instagram", "sms"]
        enabled: DF.Check
        intent: DF.Link | None
        language: DF.Literal["en", "bem", "nya", "toi", "loz"]
        quick_replies: DF.SmallText | None
        template_key: DF.Data
    # end: auto-generated types

    def validate(self):
        self.template_key = (self.template_key or "").strip()
        if not KEY.match(self.template_key):
            frappe.throw(_("Template Key must be lowercase snake_case, such as claim_status"))
        problems = placeholder_problems(self.body)
        if problems:
            frappe.throw("<br>".join(problems), title=_("Invalid Placeholders"))
        self.quick_replies = "\n".join(
            q.strip() for q in (self.quick_replies or "").splitlines() if q.strip()
        )
        if self.enabled:
            self.validate_unique_variant()

    def validate_unique_variant(self):
        # Two enabled templates for one key, language and channel would make the
        # pick arbitrary.
        clash = frappe.db.exists(
            "Response Template",
            {
                "template_key": self.template_key,
                "language": self.language,
                "channel": self.channel,
                "enabled": 1,
                "name": ("!=", self.name),
            },
        )
        if clash:
            frappe.throw(
                _("An enabled template for {0} / {1} / {2} already exists: {3}").format(
                    self.template_key, self.language, self.channel, frappe.bold(clash)
                )
            )

    def on_update(self):
        self.invalidate_engine()

    def on_trash(self):
        self.invalidate_engine()

    def invalidate_engine(self):
        from assistant_crm.runtime.frappe import call_engine

        call_engine("assistant_crm.services.pipeline.templates.invalidate")
