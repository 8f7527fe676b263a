"""The whole path under load: signed webhook in → reply at the platform, against ``assistant-crm serve``.

Run from the repository root (MariaDB on 127.0.0.1:3306 as root and Redis on
127.0.0.1:6379 for the MariaDB run; a throwaway database is created and
dropped; the SQLite run uses a temporary file)::

    .venv/bin/python benchmarks/bench_e2e.py                        # both set-ups below
    .venv/bin/python benchmarks/bench_e2e.py --backend sqlite       # default serve (SQLite, in-process cache)
    .venv/bin/python benchmarks/bench_e2e.py --backend mariadb      # serve --workers 2, MariaDB + Redis

It starts ``assistant-crm serve`` as a subprocess (its own process group)
with the platform APIs pointing at fake WhatsApp Graph, Telegram and Africa's
Talking servers in this process, then offers correctly signed WhatsApp,
Telegram and SMS webhooks (a third each), every one from a new sender, at a
fixed rate (open loop: a late answer does not slow the offer) from a client
process, over loopback only. Each sender's reply is timed where the fake
platform receives it. Bounded: the load lasts ``--seconds``, then at most
``--drain`` seconds are given for the remaining replies.

Prints one JSON object per set-up: webhook → reply p50/p95/p99, replies per
second, the server's CPU per message (user + system time of every process
in the server's process group, from /proc; with MariaDB also the CPU of
the mariadbd and redis-server processes, which other work on the box shares),
the backlog (inbound events not
yet answered, outbound parts not yet sent) when the load stopped and at the
end, and lost (acknowledged, no reply) and doubled (a reply part received
twice, or an event stored twice).
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
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_webhooks import _cpu_seconds, _stop, percentile  # noqa: E402
from tests.fakes import webhook_payloads as wp  # noqa: E402
from tests.fakes.platform_servers import FakeAfricasTalking, FakeGraphAPI, FakeTelegram  # noqa: E402
from tests.support import REDIS_URL, free_port, throwaway_mariadb  # noqa: E402

API = "/api/method/assistant_crm.api.webhooks."
APP_SECRET = "e2e-app-secret"
TG_SECRET = "e2e-telegram-secret"
TG_TOKEN = "777000:E2E-token"
SMS_TOKEN = "e2e-sms-token"
AT_USER, AT_KEY = "e2e", "e2e-at-key"
WA_TOKEN, WA_PHONE_ID = "e2e-wa-token", "1065550001"
QUESTIONS = [
    "Hello",
    "How do I report a workplace injury?",
    "What documents do I need to claim?",
    "When are pensions paid?",
    "How long does a claim take?",
    "Where is your office in Kitwe?",
]


# -- the fake platforms: stamp the arrival time of each reply ------------------------
class _Stamped:
    """Mixin for a fake platform: each accepted message gets its arrival time."""

    def accept(self, req: Any) -> tuple[Any, dict[str, Any] | None]:
        reply, message = super().accept(req)  # type: ignore[misc]
        if message is not None:
            message["at"] = time.monotonic()
        return reply, message


class _Graph(_Stamped, FakeGraphAPI):
    pass


class _Telegram(_Stamped, FakeTelegram):
    pass


class _AT(_Stamped, FakeAfricasTalking):
    pass


def _reply_key(platform: str, recipient: Any) -> str:
    return f"{platform}:{str(recipient).lstrip('+')}"


# -- the load generator ----------------------------------------------------------------
def _request(n: int, run_tag: int) -> tuple[str, bytes, dict[str, str], str]:
    """(path, body, headers, reply key) of the n-th message: a new sender each time."""
    text = QUESTIONS[n % len(QUESTIONS)]
    kind = n % 3
    if kind == 0:
        sender = f"2609{run_tag:02d}{n:06d}"
        payload = wp.wa_webhook(
            wp.wa_value([wp.wa_text(text, wa_id=sender, mid=f"wamid.E2E{run_tag}{n:08d}")])
        )
        body = wp.body_bytes(payload)
        return API + "whatsapp", body, wp.meta_headers(APP_SECRET, body), _reply_key("whatsapp", sender)
    if kind == 1:
        chat_id = 7_000_000_000 + run_tag * 1_000_000 + n
        payload = wp.tg_update(
            text, chat_id=chat_id, message_id=n + 1, update_id=run_tag * 10_000_000 + n + 1
        )
        body = wp.body_bytes(payload)
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        return API + "telegram", body, headers, _reply_key("telegram", chat_id)
    sender = f"+26097{run_tag:02d}{n:05d}"  # a valid Zambian mobile number (SMS senders are checked)
    form = wp.at_form(text, sender=sender, msg_id=f"ATXid_e2e{run_tag}_{n}")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    path = API + "sms?" + urllib.parse.urlencode({"token": SMS_TOKEN})
    return path, wp.form_body(form), headers, _reply_key("sms", sender)


def _client(
    port: int, first: int, count: int, rate: float, threads: int, run_tag: int, out: mp.Queue
) -> None:
    """Offer ``count`` messages at ``rate`` per second from ``threads`` keep-alive
    connections; put (sent at, acknowledged at, status, reply key) for each."""
    results: list[tuple[float, float, int, str]] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2
    interval = 1.0 / rate

    def worker(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for n in range(first + t, first + count, threads):
            due = start + (n - first) * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            path, body, headers, key = _request(n, run_tag)
            t0 = time.monotonic()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append((t0, time.monotonic(), status, key))
        conn.close()
        with lock:
            results.extend(mine)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(results)


# -- the server --------------------------------------------------------------------------
def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/method/ping")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def _backlog(url: str) -> dict[str, int]:
    """Inbound events not answered yet and outbound parts not sent yet."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT direction, status, COUNT(*) FROM `tabOmnichannel Message` GROUP BY direction, status"
                )
            ).all()
            inbound = conn.execute(
                sa.text(
                    "SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM `tabOmnichannel Message` "
                    "WHERE direction='inbound'"
                )
            ).one()
    finally:
        engine.dispose()
    by = {(d, s): int(c) for d, s, c in rows}
    return {
        "inbound_waiting": sum(
            c for (d, s), c in by.items() if d == "inbound" and s in ("received", "processing")
        ),
        "outbound_waiting": sum(
            c for (d, s), c in by.items() if d == "outbound" and s in ("queued", "sending")
        ),
        "inbound_dead": by.get(("inbound", "dead"), 0),
        "outbound_dead": by.get(("outbound", "dead"), 0),
        "inbound_rows": int(inbound[0]),
        "inbound_distinct": int(inbound[1]),
    }


def run(
    backend: str,
    rate: float,
    seconds: float,
    drain: float,
    workers: int,
    threads: int,
    py_spy: str = "",
    serve_args: list[str] | None = None,
) -> dict[str, Any]:
    serve_args = serve_args or []
    run_tag = int(time.time()) % 90 + 10
    with ExitStack() as stack:
        if backend == "mariadb":
            url = stack.enter_context(throwaway_mariadb())
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="acrm-e2e-"))
            url = f"sqlite:///{tmp}/e2e.sqlite3"
        graph = stack.enter_context(_Graph(whatsapp_token=WA_TOKEN, phone_number_id=WA_PHONE_ID))
        tg = stack.enter_context(_Telegram(token=TG_TOKEN))
        at = stack.enter_context(_AT(username=AT_USER, api_key=AT_KEY))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")} | {
            "PYTHONPATH": str(ROOT),
            "ASSISTANT_CRM_WHATSAPP_APP_SECRET": APP_SECRET,
            "ASSISTANT_CRM_WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
            "ASSISTANT_CRM_WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_ID,
            "ASSISTANT_CRM_GRAPH_API_BASE_URL": graph.url,
            "ASSISTANT_CRM_TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "ASSISTANT_CRM_TELEGRAM_SECRET_TOKEN": TG_SECRET,
            "ASSISTANT_CRM_TELEGRAM_API_BASE_URL": tg.url,
            "ASSISTANT_CRM_SMS_PROVIDER": "africastalking",
            "ASSISTANT_CRM_SMS_CALLBACK_TOKEN": SMS_TOKEN,
            "ASSISTANT_CRM_AFRICASTALKING_BASE_URL": at.url,
            "ASSISTANT_CRM_AFRICASTALKING_USERNAME": AT_USER,
            "ASSISTANT_CRM_AFRICASTALKING_API_KEY": AT_KEY,
            "ASSISTANT_CRM_WEBHOOK_RATE_LIMIT_PER_MINUTE": "0",
        }
        if backend == "mariadb":
            env["ASSISTANT_CRM_REDIS_URL"] = REDIS_URL
        cmd = [
            sys.executable,
            "-m",
            "assistant_crm.standalone.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            url,
        ]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        cmd += serve_args
        proc = subprocess.Popen(
            cmd,
            cwd=tempfile.gettempdir(),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        stack.callback(_stop, proc)
        _wait_ready(port, proc)

        def replies() -> dict[str, list[dict[str, Any]]]:
            out: dict[str, list[dict[str, Any]]] = {}
            for fake, platform in ((graph, "whatsapp"), (tg, "telegram"), (at, "sms")):
                with fake._lock:
                    accepted = list(fake.accepted)
                for m in accepted:
                    out.setdefault(_reply_key(platform, m["recipient"]), []).append(m)
            return out

        # Warm-up: a few messages through every worker and channel, answered before the clock starts.
        warm = 12
        q: mp.Queue = mp.Queue()
        _client(port, 0, warm, 20, 6, run_tag, q)
        warm_keys = {r[3] for r in q.get()}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not warm_keys <= set(replies()):
            time.sleep(0.2)

        server_group = proc.pid

        def server_cpu() -> float:
            return _cpu_seconds(lambda pid, comm, pgrp: pgrp == server_group)

        def db_cpu() -> float:
            # MariaDB and Redis are shared with anything else on the box: an upper bound.
            return _cpu_seconds(lambda pid, comm, pgrp: comm in ("mariadbd", "mysqld", "redis-server"))

        count = int(rate * seconds)
        spy = None
        if py_spy:
            # Sampling profile of every server process (py-spy from PyPI: pip install py-spy).
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--subprocesses",
                    "--format",
                    "raw",
                    "--rate",
                    "100",
                    "--gil",
                    "--nonblocking",
                    "-o",
                    py_spy,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        cpu0, db0 = server_cpu(), db_cpu()
        load0 = os.getloadavg()[0]
        client = mp.Process(target=_client, args=(port, warm, count, rate, max(4, threads), run_tag, q))
        t0 = time.monotonic()
        client.start()
        sent = q.get()
        client.join()
        load_end = time.monotonic()
        backlog_at_load_end = _backlog(url)
        acked = {r[3]: r for r in sent if r[2] == 200}
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            got = replies()
            if all(k in got for k in acked):
                break
            time.sleep(0.1)
        done = time.monotonic()
        cpu1, db1 = server_cpu(), db_cpu()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        load1 = os.getloadavg()[0]
        got = replies()
        backlog_end = _backlog(url)

    latencies, ack_ms, last_reply = [], [], t0
    doubled_parts = 0
    for key, (sent_at, acked_at, _status, _) in acked.items():
        ack_ms.append((acked_at - sent_at) * 1000)
        msgs = got.get(key)
        if msgs:
            first_at = min(m["at"] for m in msgs)
            latencies.append((first_at - sent_at) * 1000)
            last_reply = max(last_reply, max(m["at"] for m in msgs))
            texts = [m["text"] for m in msgs]
            doubled_parts += len(texts) - len(set(texts))
    unanswered = sum(1 for k in acked if k not in got)
    # Unanswered but still waiting (inbound not processed, or its reply not yet
    # sent) is late, not lost; lost is what is neither answered nor waiting.
    waiting = backlog_end["inbound_waiting"] + backlog_end["outbound_waiting"]
    lost = max(0, unanswered - waiting)
    statuses: dict[str, int] = {}
    for r in sent:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    answered = len(latencies)
    return {
        "setup": (
            f"assistant-crm serve{' --workers ' + str(workers) if workers > 1 else ''} {' '.join(serve_args)}, "
            + ("MariaDB + Redis" if backend == "mariadb" else "SQLite + in-process cache")
            + f", {os.cpu_count()} CPUs shared with this load generator and the fake platforms"
        ),
        "offered_rate_per_s": rate,
        "offered": count,
        "load_seconds": round(load_end - t0, 1),
        "status_counts": statuses,
        "acknowledged": len(acked),
        "replied": answered,
        "reply_ms_p50": percentile(latencies, 50),
        "reply_ms_p95": percentile(latencies, 95),
        "reply_ms_p99": percentile(latencies, 99),
        "reply_ms_max": round(max(latencies), 1) if latencies else 0.0,
        "ack_ms_p50": percentile(ack_ms, 50),
        "ack_ms_p95": percentile(ack_ms, 95),
        "replies_per_s": round(answered / max(1e-9, last_reply - t0), 1),
        "server_cpu_ms_per_message": round((cpu1 - cpu0) * 1000 / max(1, len(acked)), 2),
        "server_cpu_seconds": round(cpu1 - cpu0, 2),
        "mariadb_redis_cpu_ms_per_message": (
            round((db1 - db0) * 1000 / max(1, len(acked)), 2) if backend == "mariadb" else None
        ),
        "wall_seconds_to_last_reply": round(done - t0, 1),
        "backlog_at_load_end": {k: backlog_at_load_end[k] for k in ("inbound_waiting", "outbound_waiting")},
        "backlog_at_end": {k: backlog_end[k] for k in ("inbound_waiting", "outbound_waiting")},
        "dead": {"inbound": backlog_end["inbound_dead"], "outbound": backlog_end["outbound_dead"]},
        "unanswered_at_end": unanswered,
        "lost": lost,
        "doubled": doubled_parts + backlog_end["inbound_rows"] - backlog_end["inbound_distinct"],
        "load_average_before_after": [round(load0, 1), round(load1, 1)],
        "target": "all replied, reply p95 <= 1000 ms, 0 lost, 0 doubled, <= 8 ms server CPU per message",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("sqlite", "mariadb", "both"), default="both")
    ap.add_argument("--rate", type=float, default=100, help="offered messages per second")
    ap.add_argument("--seconds", type=float, default=10, help="how long the load lasts")
    ap.add_argument("--drain", type=float, default=60, help="at most this long to wait for the last replies")
    ap.add_argument("--workers", type=int, default=0, help="serve --workers (default: 1 SQLite, 2 MariaDB)")
    ap.add_argument("--threads", type=int, default=16, help="client connections")
    ap.add_argument("--serve-args", default="", help="more arguments for serve, e.g. '--threads 4'")
    ap.add_argument(
        "--py-spy", default="", help="write a py-spy profile (collapsed stacks) of the server here"
    )
    args = ap.parse_args()
    backends = ("sqlite", "mariadb") if args.backend == "both" else (args.backend,)
    report = {}
    for backend in backends:
        workers = args.workers or (2 if backend == "mariadb" else 1)
        report[backend] = run(
            backend,
            args.rate,
            args.seconds,
            args.drain,
            workers,
            args.threads,
            args.py_spy,
            args.serve_args.split(),
        )
        print(f"{backend}: {json.dumps(report[backend])}", file=sys.stderr, flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
