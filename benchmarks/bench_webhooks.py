"""Webhook acknowledgement under load: standalone, gunicorn with 2 workers, MariaDB + Redis.

Run from the repository root (MariaDB on 127.0.0.1:3306 as root and Redis on
127.0.0.1:6379, as the tests use; a throwaway database is created and dropped)::

    .venv/bin/python benchmarks/bench_webhooks.py [--seconds 60] [--rate 320]

It starts ``assistant-crm serve --workers 2`` on a fresh database, with the
replies going to a fake Graph API in this process, then drives a bounded
(paced, open-loop) load of correctly signed WhatsApp Cloud API and Make.com
webhooks from client processes (threads with keep-alive connections). One
request in ``--dup-every`` repeats an earlier one byte for byte (a platform
redelivery). Afterwards it counts the inbound rows in the database: every
acknowledged message must be there once (zero lost, zero doubled).

Prints one JSON object: acknowledgement p50/p95/p99/max ms, accepted per
second, status counts, rows, lost, doubled, and how many the background
workers had turned into replies by the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import webhook_payloads as wp  # noqa: E402
from tests.support import REDIS_URL, free_port, throwaway_mariadb  # noqa: E402

WA_PATH = "/api/method/assistant_crm.api.webhooks.whatsapp"
MAKE_PATH = "/api/method/assistant_crm.api.make_com_webhook.make_com_webhook"
APP_SECRET = "bench-app-secret"
MAKE_KEY = "bench-make-key"
MAKE_SECRET = "bench-make-secret"


class _HeldQueue:
    """``--ack-only``: jobs are not run in the web processes; accepted events
    wait, durable, in the inbox for a separate worker (``inbox.recover``)."""

    def enqueue(self, method: str, **kwargs: object) -> None:
        return None


def ack_only_app():  # noqa: ANN201 - gunicorn app factory
    """The standalone WSGI app with background work held back (see ``--ack-only``)."""
    from assistant_crm.runtime.standalone import create_runtime
    from assistant_crm.standalone.wsgi import create_app

    rt = create_runtime(workers=1, scheduler=False, seed=False)
    rt.queue.stop()
    rt.queue = _HeldQueue()
    return create_app(rt)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[k], 2)


def _request(i: int, client: int) -> tuple[str, bytes, dict[str, str], str]:
    """(path, body, headers, idempotency key) for the i-th request of a client."""
    sender = f"2609{(client * 7919 + i) % 100_000_000:08d}"[:12]
    if i % 2 == 0:
        mid = f"wamid.BENCH{client:02d}{i:08d}{uuid.uuid4().hex[:6]}"
        payload = wp.wa_webhook(
            wp.wa_value([wp.wa_text(f"Hello, what is my claim status? #{i}", wa_id=sender, mid=mid)])
        )
        body = wp.body_bytes(payload)
        return WA_PATH, body, wp.meta_headers(APP_SECRET, body), f"whatsapp:{mid}"
    mid = f"wamid.RELAY{client:02d}{i:08d}{uuid.uuid4().hex[:6]}"
    payload = wp.make_message(
        f"Muli shani, payment date? #{i}", platform="whatsapp", message_id=mid, sender_id=sender, phone=None
    )
    body = wp.body_bytes(payload)
    return MAKE_PATH, body, wp.make_headers(MAKE_KEY, body, secret=MAKE_SECRET), f"whatsapp:{mid}"


def _client(
    port: int,
    client: int,
    threads: int,
    per_thread_rate: float,
    seconds: float,
    dup_every: int,
    out: mp.Queue,
) -> None:
    import threading

    results: list[tuple[float, int, str, bool]] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[float, int, str, bool]] = []
        sent: list[tuple[str, bytes, dict[str, str], str]] = []
        interval = 1.0 / per_thread_rate
        start = time.perf_counter() + (t * interval / threads)
        i = 0
        while True:
            due = start + i * interval
            now = time.perf_counter()
            if due - start > seconds:
                break
            if due > now:
                time.sleep(due - now)
            dup = bool(sent) and dup_every > 0 and i % dup_every == dup_every - 1
            req = sent[-1] if dup else _request(i * threads + t, client)
            if not dup:
                sent.append(req)
                if len(sent) > 50:
                    sent.pop(0)
            path, body, headers, key = req
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if status == 200 and path == MAKE_PATH and b'"duplicate"' in data:
                    status = 208  # counted apart: a duplicate acknowledged
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append(((time.perf_counter() - t0) * 1000, status, key, dup))
            i += 1
        conn.close()
        with lock:
            results.extend(mine)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(results)


def _cpu_seconds(match) -> float:  # noqa: ANN001 - predicate on (pid, comm, pgrp)
    """User + system CPU seconds of the processes the predicate selects (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if match(int(entry), comm, int(fields[2])):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (a graceful stop lets the workers
    finish and write queued log rows); SIGKILL if it takes over 60 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/method/ping")
            first = conn.getresponse()
            first.read()
            if first.status == 200:
                # both workers: a few more pings so each has built its runtime
                for _ in range(6):
                    conn.request("GET", MAKE_PATH)
                    conn.getresponse().read()
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def _count(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT COUNT(*), COUNT(DISTINCT idempotency_key), SUM(status='processed'), SUM(status='dead') "
                "FROM `tabOmnichannel Message` WHERE direction='inbound'"
            )
        ).one()
        keys = {
            r[0]
            for r in conn.execute(
                sa.text("SELECT idempotency_key FROM `tabOmnichannel Message` WHERE direction='inbound'")
            )
        }
        latencies = [
            float(r[0])
            for r in conn.execute(
                sa.text("SELECT latency_ms FROM `tabWebhook Activity Log` WHERE status_code = 200")
            )
        ]
        logs = conn.execute(sa.text("SELECT COUNT(*) FROM `tabWebhook Activity Log`")).scalar_one()
    engine.dispose()
    return {
        "rows": int(row[0]),
        "distinct": int(row[1]),
        "processed": int(row[2] or 0),
        "dead": int(row[3] or 0),
        "log_rows": int(logs),
        "keys": keys,
        "in_app_ms": latencies,
    }


def run(
    seconds: float,
    rate: float,
    clients: int,
    threads: int,
    dup_every: int,
    drain: float,
    ack_only: bool = False,
) -> dict:
    from assistant_crm.runtime.standalone import create_runtime, shutdown
    from tests.fakes.platform_servers import FakeGraphAPI

    with ExitStack() as stack:
        url = stack.enter_context(throwaway_mariadb())
        # Create and seed the schema once, before the workers start.
        rt = create_runtime(url, overrides={"redis_url": REDIS_URL}, environ={}, workers=1)
        shutdown(rt)
        graph = stack.enter_context(FakeGraphAPI(whatsapp_token="wa-token", phone_number_id="1065550001"))
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ASSISTANT_CRM_REDIS_URL": REDIS_URL,
            "ASSISTANT_CRM_WHATSAPP_APP_SECRET": APP_SECRET,
            "ASSISTANT_CRM_WHATSAPP_ACCESS_TOKEN": "wa-token",
            "ASSISTANT_CRM_WHATSAPP_PHONE_NUMBER_ID": "1065550001",
            "ASSISTANT_CRM_GRAPH_API_BASE_URL": graph.url,
            "ASSISTANT_CRM_MAKE_COM_API_KEY": MAKE_KEY,
            "ASSISTANT_CRM_MAKE_COM_WEBHOOK_SECRET": MAKE_SECRET,
            "ASSISTANT_CRM_WEBHOOK_RATE_LIMIT_PER_MINUTE": "0",
            "ASSISTANT_CRM_DATABASE_URL": url,
        }
        if ack_only:
            server_cmd = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "8"]
            server_cmd += ["-b", f"127.0.0.1:{port}", "benchmarks.bench_webhooks:ack_only_app()"]
            drain = 0
        else:
            server_cmd = [sys.executable, "-m", "assistant_crm.standalone.cli", "serve", "--workers", "2"]
            server_cmd += ["--port", str(port), "--db", url]
        proc = subprocess.Popen(
            server_cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        stack.callback(_stop, proc)
        _wait_ready(port, proc)

        out: mp.Queue = mp.Queue()
        per_thread = rate / (clients * threads)
        procs = [
            mp.Process(target=_client, args=(port, c, threads, per_thread, seconds, dup_every, out))
            for c in range(clients)
        ]
        server_group = proc.pid

        def server_cpu() -> float:
            return _cpu_seconds(lambda pid, comm, pgrp: pgrp == server_group)

        def db_cpu() -> float:
            return _cpu_seconds(lambda pid, comm, pgrp: comm in ("mariadbd", "mysqld", "redis-server"))

        cpu0, db0 = server_cpu(), db_cpu()
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        results: list[tuple[float, int, str, bool]] = []
        for _ in procs:
            results.extend(out.get())
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
        server_cpu_s, db_cpu_s = server_cpu() - cpu0, db_cpu() - db0
        load1 = os.getloadavg()[0]

        counts = _count(url)
        # Activity-log rows of accepted requests are written by each worker's
        # background writer: give it time to catch up before counting.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and counts["log_rows"] < len(results):
            time.sleep(1)
            counts = _count(url)
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and counts["processed"] + counts["dead"] < counts["rows"]:
            time.sleep(2)
            counts = _count(url)

    latencies = [r[0] for r in results]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r[1])] = statuses.get(str(r[1]), 0) + 1
    acked_keys = {r[2] for r in results if r[1] in (200, 208)}
    accepted_first = sum(1 for r in results if r[1] == 200 and not r[3])
    lost = len(acked_keys - counts["keys"])
    return {
        "setup": (
            "gunicorn 2 workers x 8 threads, acknowledgement only (processing held for a separate worker)"
            if ack_only
            else "assistant-crm serve --workers 2 (gunicorn gthread, background processing in the same processes)"
        )
        + f", MariaDB + Redis, {os.cpu_count()} CPUs shared with the load generator",
        "seconds": round(elapsed, 1),
        "offered_rate_per_s": rate,
        "requests": len(results),
        "redeliveries": sum(1 for r in results if r[3]),
        "status_counts": statuses,
        "ack_ms_p50": percentile(latencies, 50),
        "ack_ms_p95": percentile(latencies, 95),
        "ack_ms_p99": percentile(latencies, 99),
        "ack_ms_max": round(max(latencies), 2) if latencies else 0.0,
        "accepted_per_s": round(accepted_first / elapsed, 1),
        # The app's own time per accepted request (endpoint start to answer, from the
        # activity log): without the wait for a gunicorn thread and the CPU.
        "in_app_ms_p50": percentile(counts["in_app_ms"], 50),
        "in_app_ms_p99": percentile(counts["in_app_ms"], 99),
        "server_cpu_ms_per_request": round(server_cpu_s * 1000 / max(1, len(results)), 2),
        "mariadb_redis_cpu_ms_per_request": round(db_cpu_s * 1000 / max(1, len(results)), 2),
        "load_average_before_after": [round(load0, 1), round(load1, 1)],
        "rows_in_db": counts["rows"],
        "unique_messages_acknowledged": len(acked_keys),
        "lost": lost,
        "doubled": counts["rows"] - counts["distinct"],
        "activity_log_rows": counts["log_rows"],
        "processed_by_end": counts["processed"],
        "dead": counts["dead"],
        "replies_received_by_fake_platforms": graph.count("accepted"),
        "target_ack_p99_ms": 50,
        "target_accepted_per_s": 300,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=320, help="offered requests per second")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--threads", type=int, default=16, help="threads (connections) per client process")
    ap.add_argument("--dup-every", type=int, default=20, help="one request in N is a redelivery (0: none)")
    ap.add_argument(
        "--drain", type=float, default=20, help="seconds to wait for background processing afterwards"
    )
    ap.add_argument(
        "--ack-only",
        action="store_true",
        help="hold background processing: measure the acknowledgement path alone",
    )
    args = ap.parse_args()
    print(
        json.dumps(
            run(
                args.seconds, args.rate, args.clients, args.threads, args.dup_every, args.drain, args.ack_only
            )
        )
    )


if __name__ == "__main__":
    main()
