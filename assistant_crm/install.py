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
