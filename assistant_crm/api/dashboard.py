"""Figures for the managers' dashboard (today's activity and the queue)."""

from __future__ import annotations

from typing import Any

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER, endpoint
from assistant_crm.services.infra import metrics
from assistant_crm.services.infra.ports import get_runtime

SESSION = "Chat Session"
OUTBOX = "Omnichannel Message"


@endpoint(roles=(ROLE_MANAGER, ROLE_AGENT), methods=("GET",))
def get_summary() -> dict[str, Any]:
    """Open and waiting conversations, today's messages per channel and intents,
    hand-offs, p50/p95 turn latency (from the histogram buckets) and failed deliveries."""
    rt = get_runtime()
    store = rt.store
    day = metrics.day_summary()
    return {
        "open_conversations": store.count(SESSION, {"status": ("!=", "closed")}),
        "waiting_for_agent": store.count(SESSION, {"status": "waiting_for_agent"}),
        "with_agent": store.count(SESSION, {"status": "with_agent"}),
        "messages_today": day["messages_total"],
        "messages_by_channel": day["messages_by_channel"],
        "intents_today": day["intents"],
        "handoffs_today": day["handoffs"],
        "low_confidence_today": day["low_confidence"],
        "latency_p50_ms": day["latency_p50_ms"],
        "latency_p95_ms": day["latency_p95_ms"],
        "latency_histogram_ms": day["latency_histogram_ms"],
        "failed_deliveries": store.count(
            OUTBOX, {"direction": "outbound", "status": ("in", ["failed", "dead"])}
        ),
        "day": day["day"],
    }
