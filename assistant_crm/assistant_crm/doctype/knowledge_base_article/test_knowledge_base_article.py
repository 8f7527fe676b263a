# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


def make_article(**values):
    base = {
        "doctype": "Knowledge Base Article",
        "title": "Test Article",
        "source": "test",
        "body": "<p>Body</p>",
    }
    return frappe.get_doc({**base, **values}).insert(ignore_permissions=True)


class TestKnowledgeBaseArticle(FrappeTestCase):
    def test_slug_comes_from_the_title_and_names_the_article(self):
        doc = make_article(title="How Do I Claim? (Test)")
        self.assertEqual(doc.slug, "how-do-i-claim-test")
        self.assertEqual(doc.name, doc.slug)

    def test_slug_is_lowercased_and_checked(self):
        self.assertEqual(make_article(slug="Mixed-Case-Slug").name, "mixed-case-slug")
        with self.assertRaises(frappe.ValidationError):
            make_article(slug="bad slug!")

    def test_keywords_are_cleaned(self):
        doc = make_article(slug="kw-test", keywords="Pension, pension ,Claim")
        self.assertEqual(doc.keywords, "pension, claim")
