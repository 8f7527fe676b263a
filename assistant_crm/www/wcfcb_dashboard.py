"""Page context of /wcfcb_dashboard under Frappe: staff only.

A guest is sent to Frappe's login page and comes back here after logging in;
a logged-in user without an Assistant CRM role gets Frappe's 403 page. The
standalone server applies the same rule (assistant_crm/standalone/staff_web.py).
The HTML is a full document, so Frappe renders it as it is and puts the
session's CSRF token where the page says ``<!-- csrf_token -->``.
"""

import frappe

STAFF_ROLES = ("Assistant CRM Agent", "Assistant CRM Manager", "System Manager")

no_cache = 1


def get_context(context):
    if frappe.session.user == "Guest":
        frappe.local.flags.redirect_location = "/login?redirect-to=/wcfcb_dashboard"
        # 302, not Frappe's default 301: a permanent redirect is remembered by the
        # browser, which would keep sending a logged-in agent to /login.
        raise frappe.Redirect(302)
    if not set(STAFF_ROLES) & set(frappe.get_roles()):
        raise frappe.PermissionError("The staff console is for Assistant CRM agents and managers")
    context.no_cache = 1
    context.title = "WCFCB staff console"
    return context
