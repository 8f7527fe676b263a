"""bench commands of the app (none), and the RQ worker's preload.

``bench`` imports this module in every ``bench`` process, before the command runs
(``frappe.utils.bench_helper.get_app_commands``). For ``bench worker`` that is the
parent every job is forked from: importing the engine there once saves each job
the imports and the per-site caches (``runtime/worker_preload.py``). Other commands import nothing more.
"""

from __future__ import annotations

import sys

from assistant_crm.runtime import worker_preload

commands: list = []

if worker_preload.is_worker(sys.argv):
    worker_preload.preload()
    worker_preload.warm_sites()
