# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import re

import frappe
from frappe import _
from frappe.model.document import Document

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(text: str) -> str:
    """``"How do I claim?"`` -> ``"how-do-i-claim"``."""
    return re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:140]


def clean_keywords(keywords: str | None) -> str:
    """Comma-separated, lowercase, trimmed, without duplicates (order kept)."""
    seen: list[str] = []
    for word in (keywords or "").replace("\n", ",").split(","):
        word = word.strip().lower()
        if word and word not in seen:
            seen.append(word)
    return ", ".join(seen)


class KnowledgeBaseArticle(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        body: DF.TextEditor
        category: DF.Literal[
            "General",
            "Employers",
            "Claims",
            "Benefits",
            "Pensions",
            "Contributions",
            "Identity",
            "Contact",
            "Prevention",
        ]
        keywords: DF.SmallText | None
        language: DF.Literal["en", "bem", "nya", "toi", "loz"]
        published: DF.Check
        slug: DF.Data
        source: DF.SmallText
        title: DF.Data
    # end: auto-generated types

    def before_insert(self):
        # autoname is field:slug, and naming runs before validate: settle the slug here.
        self.slug = (self.slug or "").strip().lower() or slugify(self.title)

    def validate(self):
        self.slug = (self.slug or "").strip()
        if not SLUG.match(self.slug or ""):
            frappe.throw(
                _("Slug {0} must be lowercase letters, digits and single hyphens").format(
                    frappe.bold(self.slug)
                ),
                title=_("Invalid Slug"),
            )
        if not self.is_new() and self.slug != self.name:
            frappe.throw(_("The slug is the article's name and cannot change; create a new article instead"))
        self.keywords = clean_keywords(self.keywords)
        if not frappe.utils.strip_html(self.body or "").strip():
            frappe.throw(_("The article body is empty"))

    def on_update(self):
        self.invalidate_engine()

    def on_trash(self):
        self.invalidate_engine()

    def invalidate_engine(self):
        # The engine's search index is cached per process; rebuild it now.
        from assistant_crm.runtime.frappe import call_engine

        call_engine("assistant_crm.services.pipeline.knowledge.invalidate")
