"""The RQ worker's preload (``assistant_crm/commands.py``, ``runtime/worker_preload.py``):
only ``bench worker`` imports the engine up front, and the engine's modules are then loaded.

Each case runs in a new interpreter, since what matters is what the import of
``assistant_crm.commands`` leaves in ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from assistant_crm.runtime import worker_preload

HELPER = "/bench/env/lib/python3.11/site-packages/frappe/utils/bench_helper.py"


@pytest.mark.parametrize(
    "argv, command",
    [
        ([HELPER, "frappe", "worker"], "worker"),
        ([HELPER, "frappe", "worker", "--queue", "short,default"], "worker"),
        ([HELPER, "frappe", "worker-pool", "--num-workers", "2"], "worker-pool"),
        ([HELPER, "frappe", "--site", "worker", "migrate"], "migrate"),  # a site named "worker"
        ([HELPER, "frappe", "--verbose", "--site", "acrm.localhost", "execute", "worker"], "execute"),
        ([HELPER, "frappe", "serve", "--port", "8000"], "serve"),
        ([HELPER, "frappe"], None),
        (["gunicorn", "-w", "2", "frappe.app:application", "worker"], None),
    ],
)
def test_the_command_is_read_from_the_bench_command_line(argv, command):
    assert worker_preload.command_of(argv) == command
    assert worker_preload.is_worker(argv) == (command in ("worker", "worker-pool"))


PROBE = """
import json, sys
sys.argv = {argv!r}
import assistant_crm.commands as c
print(json.dumps({{
    "commands": c.commands,
    "engine": [m for m in ("assistant_crm.services.pipeline.reply", "assistant_crm.services.delivery.inbox",
                           "assistant_crm.services.delivery.outbox", "assistant_crm.api.webhooks", "numpy")
               if m in sys.modules],
}}))
"""


def _probe(argv: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bench_worker_imports_the_engine_before_forking():
    result = _probe([HELPER, "frappe", "worker"])
    assert result["commands"] == []
    assert result["engine"] == [
        "assistant_crm.services.pipeline.reply",
        "assistant_crm.services.delivery.inbox",
        "assistant_crm.services.delivery.outbox",
        "assistant_crm.api.webhooks",
        "numpy",
    ]


def test_other_bench_commands_import_nothing_more():
    # bench imports commands.py for every command (migrate, console, ...): they must stay quick.
    assert _probe([HELPER, "frappe", "--site", "worker", "migrate"]) == {"commands": [], "engine": []}


def test_a_module_that_fails_to_import_is_skipped():
    done = worker_preload.preload(
        frappe_modules=("frappe_v99_only.module", "json"), packages=("assistant_crm.no_such_package",)
    )
    assert done == 1  # json; the rest logged and skipped, nothing raised


def test_without_frappe_no_site_is_warmed():
    try:
        import frappe  # noqa: F401
    except ImportError:
        assert worker_preload.warm_sites() == []
    else:
        pytest.skip("Frappe is installed here: the bench measures the warm-up (docs/performance.md)")
