"""Install and migrate steps for a Frappe bench (hooks ``after_install`` and
``after_migrate``). Both are idempotent."""

from __future__ import annotations

import logging

import frappe

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER

log = logging.getLogger("assistant_crm.install")

ROLES = (
    (ROLE_MANAGER, "Configures the assistant and sees everything, including the audit log"),
    (ROLE_AGENT, "Reads and replies to conversations handed over by the assistant"),
)


def ensure_roles() -> list[str]:
    """Create the app's roles (desk users); returns the names created."""
    created = []
    for role_name, _description in ROLES:
        if frappe.db.exists("Role", role_name):
            continue
        frappe.get_doc({"doctype": "Role", "role_name": role_name, "desk_access": 1}).insert(
            ignore_permissions=True
        )
        created.append(role_name)
    return created


def ensure_indexes() -> None:
    """Composite indexes (``on_doctype_update`` runs only when a DocType JSON changes)."""
    from assistant_crm.config.indexes import COMPOSITE_INDEXES, add_frappe_indexes

    for doctype in COMPOSITE_INDEXES:
        add_frappe_indexes(doctype)


def compile_app() -> None:
    """Write the app's bytecode now. A web worker imports the engine on its first
    request; without ``.pyc`` files (an editable install after an update) it
    compiles ~200 modules there, about 0.6 s of a visitor's first message."""
    import compileall
    from pathlib import Path

    import assistant_crm

    compileall.compile_dir(str(Path(assistant_crm.__file__).parent), quiet=1, workers=1)


# Frappe DocTypes whose Meta a visitor's first ``send_message`` builds besides ours:
# ``Document.insert`` and its hooks read them (user, roles, versions, webhooks,
# notifications, server scripts, naming and assignment rules). Found on Frappe 15.55
# by listing the ``doctype_meta`` hash in Redis after the first request following a
# ``clear-cache``. A name missing from another Frappe version is skipped.
FRAPPE_DOCTYPES_ON_SEND = (
    "User",
    "Has Role",
    "User Type",
    "System Settings",
    "Version",
    "Webhook",
    "Notification",
    "Notification Settings",
    "Server Script",
    "Assignment Rule",
    "Document Naming Rule",
    "Energy Point Settings",
    "Milestone Tracker",
)


def warm_meta() -> list[str]:
    """Build the Meta of the app's DocTypes (and the Frappe ones a message needs)
    into Frappe's Redis cache; returns the names warmed.

    ``bench migrate`` and ``clear-cache`` empty that cache, and the first request
    after them rebuilt every Meta from the database: about a third of a visitor's
    first ``send_message`` (1.2 s after migrate, 0.9-1.65 s after clear-cache,
    against ~0.5 s after a plain restart). ``get_meta`` stores what it builds in
    Redis, shared by every worker. Best effort: a failure is logged, never raised,
    so it cannot break ``migrate`` or ``clear-cache``."""
    warmed = []
    try:
        ours = frappe.get_all("DocType", filters={"module": "Assistant CRM"}, pluck="name")
    except Exception:  # noqa: BLE001 - a warm-up must never break migrate or clear-cache
        log.warning("warm_meta: could not list the app's DocTypes", exc_info=True)
        return warmed
    for doctype in (*sorted(ours), *FRAPPE_DOCTYPES_ON_SEND):
        try:
            frappe.get_meta(doctype)
        except frappe.DoesNotExistError:
            continue
        except Exception:  # noqa: BLE001 - same: skip this one, warm the rest
            log.warning("warm_meta: %s not warmed", doctype, exc_info=True)
            continue
        warmed.append(doctype)
    return warmed


def on_clear_cache() -> None:
    """Hook ``clear_cache``: Frappe calls it after a full ``frappe.clear_cache()``
    (``bench clear-cache``, the start of ``migrate``) has deleted the site's keys.
    Some callers clear the cache with no database connected: nothing to read then."""
    if getattr(frappe.local, "db", None) is None:
        return
    warm_meta()


def after_install() -> None:
    created = ensure_roles()
    ensure_indexes()
    from assistant_crm.runtime.frappe import call_engine, install

    install()
    call_engine(
        "assistant_crm.services.infra.audit.record",
        frappe.session.user or "Administrator",
        "app.installed",
        "assistant_crm",
    )
    if created:
        log.info("created roles: %s", ", ".join(created))
    frappe.db.commit()


def after_migrate() -> None:
    ensure_roles()
    ensure_indexes()
    from assistant_crm.runtime.frappe import call_engine, install

    install()
    # Fixtures may have changed intents, articles and templates under the engine.
    for dotted in (
        "assistant_crm.services.pipeline.intents.reload",
        "assistant_crm.services.pipeline.knowledge.invalidate",
        "assistant_crm.services.pipeline.templates.invalidate",
    ):
        call_engine(dotted)
    # Build the intent model for the new content now (saved to the model cache), so
    # no worker trains it on a visitor's first message: each one only loads it.
    call_engine("assistant_crm.services.pipeline.intents.warm_up")
    call_engine("assistant_crm.install.compile_app")
    # Last: migrate cleared Frappe's cache at its start and synced the DocTypes since
    # (each sync drops that DocType's Meta); its tearDown clears no Meta after this.
    warm_meta()
