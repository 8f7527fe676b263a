# Bench test (``bench run-tests --app assistant_crm``): needs a site, so it lives in the
# app's module folder, where Frappe's test runner finds it (a test_*.py at the package
# root is imported as the package itself); the repo's pytest reads tests/ only.

import frappe
from frappe.tests.utils import FrappeTestCase

from assistant_crm.install import FRAPPE_DOCTYPES_ON_SEND, warm_meta


def _ours() -> list[str]:
    return frappe.get_all("DocType", filters={"module": "Assistant CRM"}, pluck="name")


def _in_redis(doctype: str) -> bool:
    # hexists asks Redis itself; hget would answer from this process's local copy.
    return bool(frappe.cache.hexists("doctype_meta", doctype))


class TestWarmMeta(FrappeTestCase):
    def test_clear_cache_leaves_our_meta_in_redis(self):
        frappe.clear_cache()  # deletes every key of the site, then runs the hook
        missing = [d for d in _ours() if not _in_redis(d)]
        self.assertEqual(missing, [])
        self.assertTrue(_in_redis("Version"))

    def test_warm_meta_builds_what_was_deleted(self):
        frappe.cache.delete_value("doctype_meta")
        self.assertFalse(_in_redis("Chat History"))
        warmed = warm_meta()
        ours = _ours()
        self.assertGreaterEqual(len(ours), 14)
        self.assertTrue(set(ours) <= set(warmed))
        self.assertTrue(all(_in_redis(d) for d in warmed))
        self.assertIn("User", warmed)
        self.assertLessEqual(len(warmed), len(ours) + len(FRAPPE_DOCTYPES_ON_SEND))
