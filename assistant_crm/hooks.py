"""Frappe hooks for the Assistant CRM app (read by Frappe v15; see docs/frappe.md).

This module only holds data: it must import without Frappe, so the standalone
runtime and the tests can read it too.
"""

app_name = "assistant_crm"
app_title = "Assistant CRM"
app_publisher = "Workers' Compensation Fund Control Board"
app_description = "WCFCB AI customer-service assistant and omnichannel CRM"
app_email = "ict@workers.com.zm"
app_license = "mit"
app_icon = "octicon octicon-comment-discussion"
app_color = "#0b5d3b"

# No required_apps: Frappe is always there, and listing "frappe" makes
# install-app look it up on GitHub (installer.parse_app_name).

# The chat bubble on every website page (the assets are in public/).
web_include_js = ["/assets/assistant_crm/js/chat_bubble.js"]
web_include_css = ["/assets/assistant_crm/css/chat_bubble.css"]

# The chat PWA's service worker at /sw.js (scope "/"): Frappe serves no .js
# from www/, so a page renderer answers that one path (website/service_worker.py).
page_renderer = ["assistant_crm.website.service_worker.ServiceWorkerPage"]

# Roles, and the configuration records the assistant ships with. Frappe
# imports every file in fixtures/ on install and migrate; this list is what
# `bench export-fixtures` writes back.
_ASSISTANT_ROLES = ["Assistant CRM Manager", "Assistant CRM Agent"]
fixtures = [
    {"dt": "Role", "filters": [["role_name", "in", _ASSISTANT_ROLES]]},
    "Intent Definition",
    "Knowledge Base Article",
    "Response Template",
    "Canned Response",
]

# Install: roles exist before anything refers to them, and the runtime is set.
after_install = "assistant_crm.install.after_install"
after_migrate = ["assistant_crm.install.after_migrate"]
# After a full cache clear, build our DocTypes' Meta again at once, not on a
# visitor's first message.
clear_cache = "assistant_crm.install.on_clear_cache"

# The engine reaches Frappe through assistant_crm.runtime.frappe; make
# get_runtime() answer this site's runtime in web requests and in jobs
# (scheduled jobs run as background jobs, so before_job covers them too).
before_request = ["assistant_crm.runtime.frappe.install"]
before_job = ["assistant_crm.runtime.frappe.install"]

# Every minute: process inbound events left behind (a worker died, a deploy)
# and send outbound messages that are due (retries with backoff).
# scheduler_events["all"] would run only every 4 minutes.
scheduler_events = {
    "cron": {
        "* * * * *": [
            "assistant_crm.services.delivery.inbox.recover",
            "assistant_crm.services.delivery.outbox.dispatch_due",
            # Hand-off: one "still waiting" note, then the give-up offer.
            "assistant_crm.services.dialogue.handoff.sweep",
        ],
    },
    "daily": [
        # Verifies the audit chain and its anchors, alerts the managers on a
        # break, and appends the day's checkpoint (the head anchor).
        "assistant_crm.assistant_crm.doctype.assistant_audit_log.assistant_audit_log.daily_check",
    ],
}

# Log Settings clears these after the given days. The audit log is never cleared.
default_log_clearing_doctypes = {
    "Webhook Activity Log": 30,
    "Omnichannel Message": 90,  # only finished messages (see its clear_old_logs)
    "Chat History": 365,
}

# The engine pins the creation time of the rows it writes for a reason (a message's
# arrival, the audit chain's hash): restore it after Frappe stamps "now" on insert,
# instead of a second UPDATE per row (runtime/frappe.py, FrappeStore.insert).
doc_events = {
    doctype: {"before_insert": "assistant_crm.runtime.frappe.pin_creation"}
    for doctype in ("Chat History", "Assistant Audit Log")
}

# Cache invalidation on change of Intent Definition, Knowledge Base Article and
# Response Template is done in their controllers (on_update / on_trash), not
# in doc_events, so it also runs when fixtures are synced.

export_python_type_annotations = True
