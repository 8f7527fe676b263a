"""Build, before the first visitor, what the first message would otherwise build.

One warm-up for both runtimes: ``serve`` runs it at start (standalone/cli.py) and,
under Frappe, the RQ worker's parent runs it for each site before it forks jobs
(runtime/worker_preload.py), so no visitor waits for an import, a training or an
index.
"""

from __future__ import annotations

import importlib
import logging

from assistant_crm.services.pipeline import intents, knowledge

log = logging.getLogger("assistant_crm.warm_up")

# The modules a channel message goes through: imported at start, so that no
# worker pays for them (google-genai alone is ~1 s of CPU) on its first message
# - under gunicorn a worker that got none of the first messages used to import
# them in the middle of a burst.
MESSAGE_PATH_MODULES = (
    "assistant_crm.services.delivery.inbox",
    "assistant_crm.services.pipeline.reply",
    "assistant_crm.services.delivery.outbox",
    "assistant_crm.services.delivery.router",
)


def warm_message_path() -> None:
    """Import the message path, train or load the intent classifier, build the
    knowledge index (a failure there is logged: the first question builds it)."""
    for module in MESSAGE_PATH_MODULES:
        importlib.import_module(module)
    intents.warm_up()
    try:
        knowledge.current_index()
    except Exception:  # the knowledge base is a help, never a reason not to start
        log.exception("knowledge index not built at start; the first question will build it")
