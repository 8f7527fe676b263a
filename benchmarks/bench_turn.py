"""Latency of a whole chat turn without Gemini, in process, on MariaDB + Redis.

Run from the repository root (MariaDB on 127.0.0.1:3306 as root and Redis on
127.0.0.1:6379, as the tests use; a throwaway database is created and dropped)::

    .venv/bin/python benchmarks/bench_turn.py [--turns 600] [--sqlite]

Each turn is ``reply.handle_message`` for a web message: normalise, session
load and save, intent, gate, knowledge/templates, history rows, metrics. The
visitors are many short conversations (greeting, a few questions, goodbye),
so session creation and cached-session turns are both measured. Prints one
JSON object: p50/p95/p99/mean turn ms (wall clock), the CPU time of the turn
(our own cost, without waiting on MariaDB/Redis), p50/p95 per stage, and the
machine's load average (wall-clock figures mean little on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.services.models import InboundMessage  # noqa: E402
from tests.support import REDIS_URL, throwaway_mariadb  # noqa: E402

CONVERSATION = [
    "Hello",
    "How do I report an accident at work?",
    "What is the minimum monthly pension?",
    "When are employer assessments due?",
    "which documents do I need for a death claim",
    "Who won the football yesterday?",
    "Thank you, bye",
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[k], 3)


def run(turns: int, use_sqlite: bool) -> dict:
    from assistant_crm.services.pipeline import intents, knowledge, reply

    logging.getLogger("assistant_crm").setLevel(logging.WARNING)
    with ExitStack() as stack:
        if use_sqlite:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url, overrides, backend = f"sqlite:///{tmp}/bench.sqlite3", {}, "sqlite+memory-cache"
        else:
            url = stack.enter_context(throwaway_mariadb())
            overrides, backend = {"redis_url": REDIS_URL}, "mariadb+redis"
        rt = create_runtime(url, overrides=overrides, environ={}, workers=1)
        try:
            # Warm the classifier, the KB index and the templates first: start-up is not a turn.
            intents.classify("hello")
            knowledge.best("pension")
            session_id = None
            for text in CONVERSATION:
                session_id = reply.handle_message(
                    InboundMessage(channel="web", text=text, session_id=session_id)
                ).session_id

            totals: list[float] = []
            cpu: list[float] = []  # this thread's CPU time: our own cost, without I/O waits
            stages: dict[str, list[float]] = {}
            session_id = None
            for i in range(turns):
                text = CONVERSATION[i % len(CONVERSATION)]
                if i % len(CONVERSATION) == 0:
                    session_id = None  # a new visitor
                t0, c0 = time.perf_counter(), time.thread_time()
                r = reply.handle_message(InboundMessage(channel="web", text=text, session_id=session_id))
                totals.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
                session_id = r.session_id
                for stage, ms in r.metadata.get("stage_timings", {}).items():
                    stages.setdefault(stage, []).append(ms)
            if hasattr(rt.cache, "clear"):
                rt.cache.clear()
        finally:
            shutdown(rt)
    return {
        "backend": backend,
        "turns": turns,
        "turn_ms_p50": percentile(totals, 50),
        "turn_ms_p95": percentile(totals, 95),
        "turn_ms_p99": percentile(totals, 99),
        "turn_ms_mean": round(statistics.fmean(totals), 3),
        "turn_cpu_ms_p50": percentile(cpu, 50),
        "turn_cpu_ms_p95": percentile(cpu, 95),
        "target_p95_ms": 20,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "stages_ms": {
            name: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for name, v in sorted(stages.items())
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=700)
    ap.add_argument("--sqlite", action="store_true", help="SQLite and the in-process cache instead")
    args = ap.parse_args()
    print(json.dumps(run(args.turns, args.sqlite)))


if __name__ == "__main__":
    main()
