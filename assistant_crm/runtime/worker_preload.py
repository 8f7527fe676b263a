"""Import the engine and the Frappe modules a job needs in the RQ worker's parent process.

``bench worker`` runs each job in a work horse forked from an idle parent that has
imported little beyond Frappe's core. Every channel message is two jobs
(``inbox.process``, then ``outbox.dispatch``), and each work horse imported ~880
modules again: the engine, NumPy, phonenumbers, and the Frappe modules behind
``Document.insert`` (notifications, assignment rules, versions, energy points...).
Measured on the bench (2026-11-30, load ~9): 0.85-1.25 s per ``inbox.process`` job,
0.25-0.37 s with the modules imported in the parent, which the forks then share.

The per-site caches are warmed there too (:func:`warm_sites`): the settings (one
read and the passwords' decryption, ~0.3 s), the knowledge index (~0.2 s), the
intent model and the templates. Each fork starts with them; they stay correct because
every one is a ``VersionedCache`` that checks its shared version stamp (and
fingerprint) before use, so a fork rebuilds only what changed since.

Frappe gives an app no hook in the worker's parent, but ``bench`` imports every
app's ``commands`` module there before starting the worker (``bench_helper``);
``assistant_crm/commands.py`` calls :func:`preload` and :func:`warm_sites` when the
command is a worker. Frappe's own ``worker-pool`` preloads its modules the same way.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Sequence

log = logging.getLogger("assistant_crm.worker_preload")

WORKER_COMMANDS = frozenset({"worker", "worker-pool"})

# bench options that take a value (``bench --site S worker`` is not used, but is harmless).
_OPTIONS_WITH_VALUE = frozenset({"--site"})

# What a job's first Document.insert and its hooks import in Frappe v15 (found by
# diffing sys.modules before and after a turn in a forked worker). Each import is
# tried on its own: a module missing from another Frappe version is skipped.
FRAPPE_MODULES = (
    "frappe.model.document",
    "frappe.model.create_new",
    "frappe.model.db_query",
    "frappe.database.mariadb.database",
    "frappe.database.query",
    "frappe.desk.form.load",
    "frappe.desk.form.utils",
    "frappe.desk.form.assign_to",
    "frappe.desk.notifications",
    "frappe.deferred_insert",
    "frappe.realtime",
    "frappe.utils.safe_exec",
    "frappe.utils.nestedset",
    "frappe.utils.redis_wrapper",
    "frappe.core.doctype.user.user",
    "frappe.core.doctype.version.version",
    "frappe.core.doctype.system_settings.system_settings",
    "frappe.core.doctype.docfield.docfield",
    "frappe.core.doctype.docperm.docperm",
    "frappe.core.doctype.has_role.has_role",
    "frappe.email.doctype.notification.notification",
    "frappe.email.doctype.email_template.email_template",
    "frappe.automation.doctype.assignment_rule.assignment_rule",
    "frappe.automation.doctype.milestone_tracker.milestone_tracker",
    "frappe.social.doctype.energy_point_rule.energy_point_rule",
    "frappe.workflow.doctype.workflow_action.workflow_action",
)

# The app's packages whose modules jobs run (not the standalone server, the sandbox or tests).
APP_PACKAGES = (
    "assistant_crm.services",
    "assistant_crm.runtime",
    "assistant_crm.api",
    "assistant_crm.assistant_crm",
)


def command_of(argv: Sequence[str]) -> str | None:
    """The bench command in ``argv`` of ``python -m frappe.utils.bench_helper frappe <command> ...``
    (None when it is not a frappe command line)."""
    args = list(argv[1:])
    if "frappe" not in args:
        return None
    rest = args[args.index("frappe") + 1 :]
    skip = False
    for arg in rest:
        if skip:
            skip = False
        elif arg in _OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def is_worker(argv: Sequence[str]) -> bool:
    return command_of(argv) in WORKER_COMMANDS


def _modules_of(package: str) -> list[str]:
    try:
        pkg = importlib.import_module(package)
    except Exception as exc:  # noqa: BLE001 - a preload must never stop the worker
        log.debug("worker preload: skipped %s (%s)", package, exc)
        return []
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("test_") or leaf == "tests":
            continue  # FrappeTestCase modules pull in Frappe's test tooling
        names.append(info.name)
    return names


def preload(frappe_modules: Sequence[str] = FRAPPE_MODULES, packages: Sequence[str] = APP_PACKAGES) -> int:
    """Import ``frappe_modules`` and every module of ``packages``; returns how many imported.
    Failures are logged and skipped: a job imports what it needs anyway."""
    done = 0
    names = list(frappe_modules)
    for package in packages:
        names.extend(_modules_of(package))
    for name in names:
        try:
            importlib.import_module(name)
            done += 1
        except Exception as exc:  # noqa: BLE001 - see above
            log.debug("worker preload: skipped %s (%s)", name, exc)
    return done


def warm_sites() -> list[str]:
    """Build the engine's per-site caches in this process for every site of the bench
    with the app installed; returns those sites. Runs before the worker starts (cwd is
    ``sites/``); a site that fails is logged and skipped."""
    try:
        import frappe
        from frappe.utils import get_sites
    except ImportError:  # not under a bench
        return []

    warmed = []
    for site in get_sites():
        try:
            frappe.init(site=site)
            frappe.connect()
            if "assistant_crm" in frappe.get_installed_apps():
                _warm_site()
                warmed.append(site)
        except Exception:  # noqa: BLE001 - a warm-up must never stop the worker
            log.warning("worker preload: site %s not warmed", site, exc_info=True)
        finally:
            frappe.destroy()  # closes the database connection: forks open their own
    return warmed


def _warm_site() -> None:
    from assistant_crm.runtime.frappe import install
    from assistant_crm.services.infra.ports import get_runtime
    from assistant_crm.services.pipeline import templates
    from assistant_crm.services.pipeline.warm_up import warm_message_path

    install()
    get_runtime().settings.raw("chat_rate_limit_per_minute")  # reads (and decrypts) all settings
    warm_message_path()
    templates.render("fallback")
