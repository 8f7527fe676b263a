"""Latency of a live-data chat turn against the CoreBusiness sandbox on loopback.

Run from the repository root::

    .venv/bin/python benchmarks/bench_live_data.py [--turns 300] [--mariadb]

A web session is verified the real way first (NRC + name, then the one-time
code read from a local Africa's Talking sink). Then each turn is
``reply.handle_message`` for "status of claim CLM-2026-00412" (normalise,
session, intent, gate, live data, template, history rows) without Gemini:

* cold: the person's live-data cache is emptied before every turn, so each
  turn makes its CoreBusiness calls (claims list + claim detail) over HTTP;
* warm: the 2-minute live-data cache holds the answers.

Prints one JSON object: p50/p95 turn ms (wall, and CPU of the turn's own
thread, which does not count waiting for CoreBusiness or for a busy machine)
and p50/p95 of the live_data stage, cold and warm. The live_data.read audit
entries are written by the background queue, drained after each phase. Targets: cold turn p95 <= 40 ms, warm turn p95 <= 15 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.sandbox import data as sandbox_data  # noqa: E402
from assistant_crm.services.models import InboundMessage  # noqa: E402

PERSON_ID = "P-000101"
CLAIM = "CLM-2026-00412"
TURN_TEXT = f"status of claim {CLAIM}"


class _SMSSink(BaseHTTPRequestHandler):
    """Africa's Talking's answer shape; keeps the last message per number."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    last: dict[str, str] = {}
    cond = threading.Condition()

    def do_POST(self) -> None:  # noqa: N802
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        with self.cond:
            self.last[form["to"][0]] = form["message"][0]
            self.cond.notify_all()
        body = json.dumps(
            {
                "SMSMessageData": {
                    "Message": "Sent to 1/1 Total Cost: ZMW 0.30",
                    "Recipients": [
                        {
                            "statusCode": 101,
                            "number": form["to"][0],
                            "status": "Success",
                            "cost": "ZMW 0.30",
                            "messageId": "ATXid_b",
                        }
                    ],
                }
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[k], 3)


def _start_sandbox_process(stack: ExitStack) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant_crm.sandbox", "--port", str(port), "--api-key", "bench-key"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the sandbox did not start")


def _serve(server) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def run(turns: int, use_mariadb: bool) -> dict:
    from assistant_crm.services.pipeline import intents, reply

    logging.getLogger("assistant_crm").setLevel(logging.ERROR)
    with ExitStack() as stack:
        # The sandbox runs in its own process, as CoreBusiness would: in this
        # process it would compete for the GIL with the turn being measured.
        sandbox_url = _start_sandbox_process(stack)
        sms = ThreadingHTTPServer(("127.0.0.1", 0), _SMSSink)
        sms.daemon_threads = True
        _serve(sms)
        stack.callback(sms.shutdown)
        settings = {
            "corebusiness_base_url": sandbox_url,
            "corebusiness_api_key": "bench-key",
            "sms_provider": "africastalking",
            "africastalking_base_url": f"http://127.0.0.1:{sms.server_address[1]}",
            "africastalking_username": "bench",
            "africastalking_api_key": "bench",
            "chat_rate_limit_per_minute": 100000,
        }
        if use_mariadb:
            from tests.support import REDIS_URL, throwaway_mariadb

            url = stack.enter_context(throwaway_mariadb())
            settings["redis_url"] = REDIS_URL
            backend = "mariadb+redis"
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url, backend = f"sqlite:///{tmp}/bench.sqlite3", "sqlite+memory-cache"
        rt = create_runtime(url, overrides=settings, environ={}, workers=1)
        stack.callback(shutdown, rt)
        intents.classify("hello")  # train the classifier: start-up is not a turn

        person = sandbox_data.PERSONS[PERSON_ID]
        sid = None
        for text in ("what is my claim status", f"{person['full_name']} {person['nrc']}"):
            sid = reply.handle_message(InboundMessage(channel="web", text=text, session_id=sid)).session_id
        with _SMSSink.cond:
            _SMSSink.cond.wait_for(lambda: person["phone"] in _SMSSink.last, timeout=15)
        code = re.search(r"\d{6}", _SMSSink.last[person["phone"]]).group(0)
        first = reply.handle_message(InboundMessage(channel="web", text=code, session_id=sid))
        if "CLM-" not in first.text:
            raise SystemExit(f"verification did not complete: {first.text[:120]}")

        keys = [
            f"acrm:live:{PERSON_ID}:{k}"
            for k in ("claims", f"claim:{CLAIM}", f"documents:{CLAIM}", "payments:12")
        ]
        results = {}
        for phase in ("cold", "warm"):
            totals, stage, cpu = [], [], []
            for _ in range(turns):
                if phase == "cold":
                    for k in keys:
                        rt.cache.delete(k)
                started, started_cpu = time.perf_counter(), time.thread_time()
                out = reply.handle_message(InboundMessage(channel="web", text=TURN_TEXT, session_id=sid))
                totals.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - started_cpu) * 1000)
                stage.append(float(out.metadata.get("stage_timings", {}).get("live_data", 0.0)))
                if CLAIM not in out.text:
                    raise SystemExit(f"unexpected answer: {out.text[:120]}")
            rt.queue.join(timeout=30)
            results[phase] = {
                "turn_p50_ms": percentile(totals, 50),
                "turn_p95_ms": percentile(totals, 95),
                "turn_cpu_p50_ms": percentile(cpu, 50),
                "turn_cpu_p95_ms": percentile(cpu, 95),
                "live_data_stage_p50_ms": percentile(stage, 50),
                "live_data_stage_p95_ms": percentile(stage, 95),
            }
        rt.queue.join(timeout=10)
    return {
        "benchmark": "live_data",
        "backend": backend,
        "turns_per_phase": turns,
        "cold": results["cold"],
        "warm": results["warm"],
        "targets": {"cold_turn_p95_ms": 40, "warm_turn_p95_ms": 15},
        "met": {
            "cold": results["cold"]["turn_p95_ms"] <= 40,
            "warm": results["warm"]["turn_p95_ms"] <= 15,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument(
        "--mariadb", action="store_true", help="MariaDB + Redis instead of SQLite + in-process cache"
    )
    args = parser.parse_args(argv)
    print(json.dumps(run(args.turns, args.mariadb)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
