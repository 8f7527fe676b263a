"""One full channel message, in process and one at a time: CPU, SQL statements and cache calls per message.

What a message costs the server without any contention: the signed webhook
through the WSGI app (acknowledgement), the inbox job (claim + turn + outbox
record), the outbox job (claim, send to a fake platform over loopback HTTP,
record). Everything runs in this thread, in order (the background queue and
the send pool run their jobs inline), so ``time.thread_time`` and cProfile
see the whole message and nothing else; the fake platforms answer from their
own threads, which are not counted. HTTP parsing of the *request* by a web
server is left out (the WSGI app is called with a built environ).

    .venv/bin/python benchmarks/profile_message.py                     # SQLite + in-process cache
    .venv/bin/python benchmarks/profile_message.py --mariadb           # MariaDB + Redis (throwaway database)
    .venv/bin/python benchmarks/profile_message.py --profile out.prof  # cProfile of the measured messages
    .venv/bin/python benchmarks/profile_message.py --statements        # print each SQL statement of one message
    .venv/bin/python benchmarks/profile_message.py --threaded          # the real worker threads (see below)

``--threaded`` keeps the runtime's own worker threads, send pool and
activity-log writer, runs the fake platforms in a child process, and counts
the CPU of this whole process per message (``time.process_time``), still one
message at a time: what the hand-offs between threads add, without an HTTP
server and without contention.

Prints one JSON object: CPU ms per message (p50 and mean, split into ack /
inbox job / outbox job), SQL statements per message by kind, cache calls per
message. CPU time does not depend on the box's load the way wall time does,
so this is the figure to compare changes with.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import cProfile
import io
import json
import logging
import multiprocessing as mp
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.services.delivery import router  # noqa: E402
from assistant_crm.services.infra.ports import set_runtime  # noqa: E402
from assistant_crm.standalone.wsgi import create_app  # noqa: E402
from benchmarks.bench_e2e import (  # noqa: E402
    APP_SECRET,
    AT_KEY,
    AT_USER,
    SMS_TOKEN,
    TG_SECRET,
    TG_TOKEN,
    WA_PHONE_ID,
    WA_TOKEN,
    _request,
)
from tests.fakes.platform_servers import FakeAfricasTalking, FakeGraphAPI, FakeTelegram  # noqa: E402

# Instruction counts (load-independent): total Ir of the measured messages, divided by --messages:
#   valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \
#       .venv/bin/python benchmarks/profile_message.py --callgrind --messages 20 --warm 10
#   callgrind_annotate /tmp/cg.out | head
from tests.support import REDIS_URL, throwaway_mariadb  # noqa: E402


class InlineQueue:
    """Collects jobs; ``run_all`` runs them (and the jobs they queue) in this thread, in order."""

    in_process = True

    def __init__(self) -> None:
        self.jobs: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()

    def enqueue(self, method: str, **kwargs: Any) -> None:
        self.jobs.append((method, kwargs))

    def run_all(self, cpu: dict[str, float]) -> None:
        from assistant_crm.standalone.queue import resolve

        while self.jobs:
            method, kwargs = self.jobs.popleft()
            t0 = time.thread_time()
            resolve(method)(**kwargs)
            kind = method.rsplit(".", 2)[-2]
            cpu[kind] = cpu.get(kind, 0.0) + time.thread_time() - t0

    def join(self, timeout: float = 0) -> bool:
        return True

    def stop(self) -> None:
        pass


class InlineExecutor:
    """The send pool, run in the caller's thread (so its CPU is counted)."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as e:  # noqa: BLE001 - handed to the caller as the send's error
            fut.set_exception(e)
        return fut


def _fakes_process(conn: Any) -> None:
    """Child process: the fake platforms, so their CPU is not ours; sends back the URLs."""
    with ExitStack() as stack:
        graph = stack.enter_context(FakeGraphAPI(whatsapp_token=WA_TOKEN, phone_number_id=WA_PHONE_ID))
        tg = stack.enter_context(FakeTelegram(token=TG_TOKEN))
        at = stack.enter_context(FakeAfricasTalking(username=AT_USER, api_key=AT_KEY))
        conn.send((graph.url, tg.url, at.url))
        while conn.recv() == "count":
            conn.send(sum(len(f.accepted) for f in (graph, tg, at)))


class Counter:
    """SQL statements (by first word and table) and cache calls."""

    def __init__(self, rt: Any) -> None:
        self.statements: list[str] = []
        self.cache_calls: list[str] = []
        self.on = False
        engines = [rt.store.engine] + ([rt.store._auto] if getattr(rt.store, "_auto", None) else [])
        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", self._sql)
        cache = rt.cache
        for name in ("get", "set", "set_many", "get_pair", "delete", "incr", "add", "release"):
            original = getattr(cache, name, None)
            if original is None:
                continue
            setattr(cache, name, self._wrap(name, original))

    def _sql(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.statements.append(statement)

    def _wrap(self, name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.on:
                key = str(args[0]) if args else ""
                self.cache_calls.append(f"{name} {key.split(':')[0:3]}")
            return fn(*args, **kwargs)

        return call


def _kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = ""
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in (w.upper() for w in words):
            idx = [w.upper() for w in words].index(marker)
            if idx + 1 < len(words):
                table = words[idx + 1].strip('`"')
                break
    return f"{verb} {table}".strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=300, help="measured messages (after the warm-up)")
    ap.add_argument("--warm", type=int, default=30, help="warm-up messages, not measured")
    ap.add_argument("--mariadb", action="store_true", help="MariaDB + Redis instead of SQLite")
    ap.add_argument("--profile", default="", help="write a cProfile of the measured messages here")
    ap.add_argument("--top", type=int, default=0, help="print the top N functions by own time")
    ap.add_argument("--statements", action="store_true", help="print the SQL of one measured message")
    ap.add_argument("--threaded", action="store_true", help="real worker threads; whole-process CPU")
    ap.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --tool=callgrind --instr-atstart=no: instrument the measured messages only",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with ExitStack() as stack:
        # The fake platforms answer from a child process: their CPU is not ours.
        here, there = mp.Pipe()
        child = mp.Process(target=_fakes_process, args=(there,), daemon=True)
        child.start()
        graph_url, tg_url, at_url = here.recv()

        def replies_received() -> int:
            here.send("count")
            return int(here.recv())

        if args.mariadb:
            url = stack.enter_context(throwaway_mariadb())
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="acrm-prof-"))
            url = f"sqlite:///{tmp}/prof.sqlite3"
        overrides: dict[str, Any] = {
            "whatsapp_app_secret": APP_SECRET,
            "whatsapp_access_token": WA_TOKEN,
            "whatsapp_phone_number_id": WA_PHONE_ID,
            "graph_api_base_url": graph_url,
            "telegram_bot_token": TG_TOKEN,
            "telegram_secret_token": TG_SECRET,
            "telegram_api_base_url": tg_url,
            "sms_provider": "africastalking",
            "sms_callback_token": SMS_TOKEN,
            "africastalking_base_url": at_url,
            "africastalking_username": AT_USER,
            "africastalking_api_key": AT_KEY,
            "webhook_rate_limit_per_minute": 0,
        }
        if args.mariadb:
            overrides["redis_url"] = REDIS_URL
        os.environ.setdefault("ASSISTANT_CRM_FILES_DIR", tempfile.mkdtemp(prefix="acrm-prof-files-"))
        rt = create_runtime(url, overrides=overrides, environ={}, workers=8 if args.threaded else 1)
        if args.threaded:
            from assistant_crm.services.delivery import webhook_log

            queue: Any = rt.queue
            clock = time.process_time

            def settle(cpu: dict[str, float]) -> None:
                queue.join(30)
                webhook_log.flush()
        else:
            rt.queue.stop()
            queue = InlineQueue()
            rt.queue = queue
            router._pool = InlineExecutor()  # type: ignore[assignment]
            clock = time.thread_time

            def settle(cpu: dict[str, float]) -> None:
                queue.run_all(cpu)

        from assistant_crm.services.pipeline.intents import warm_up

        warm_up()
        app = create_app(rt)
        counter = Counter(rt)
        run_tag = int(time.time()) % 90 + 10

        def environ(n: int) -> dict[str, Any]:
            path, body, headers, _key = _request(n, run_tag)
            p, _, q = path.partition("?")
            builder = EnvironBuilder(path=p, query_string=q, method="POST", data=body, headers=headers)
            env = builder.get_environ()
            env["REMOTE_ADDR"] = "127.0.0.1"
            return env

        def one(n: int, cpu: dict[str, float]) -> None:
            env = environ(n)
            status: list[str] = []
            t0 = clock()
            body = b"".join(app(env, lambda s, h, *a: status.append(s)))
            t1 = clock()
            cpu["ack"] = cpu.get("ack", 0.0) + t1 - t0
            if not status or not status[0].startswith("200"):
                raise RuntimeError(f"webhook {n} refused: {status} {body[:200]!r}")
            settle(cpu)
            if args.threaded:
                cpu["background"] = clock() - t1

        for n in range(args.warm):
            one(n, {})
        if not args.threaded and replies_received() < args.warm:
            raise RuntimeError(f"warm-up: {replies_received()} replies for {args.warm} messages")

        per_msg: list[dict[str, float]] = []
        statements_per_msg: list[int] = []
        cache_per_msg: list[int] = []
        kinds: collections.Counter[str] = collections.Counter()
        cache_kinds: collections.Counter[str] = collections.Counter()
        sample: list[str] = []
        # CPU time, not wall time: waiting for the fake platform or the database is not our cost.
        prof = (
            cProfile.Profile(
                time.thread_time if os.environ.get("PROFILE_CPU", "1") == "1" else time.perf_counter
            )
            if (args.profile or args.top)
            else None
        )
        if args.callgrind:
            subprocess.run(
                ["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True
            )
        for i in range(args.messages):
            n = args.warm + i
            cpu: dict[str, float] = {}
            counter.statements.clear()
            counter.cache_calls.clear()
            counter.on = True
            if prof:
                prof.enable()
            one(n, cpu)
            if prof:
                prof.disable()
            counter.on = False
            per_msg.append(cpu)
            statements_per_msg.append(len(counter.statements))
            cache_per_msg.append(len(counter.cache_calls))
            kinds.update(_kind(s) for s in counter.statements)
            cache_kinds.update(counter.cache_calls)
            if i == 3:
                sample = list(counter.statements)
        if args.callgrind:
            subprocess.run(
                ["callgrind_control", "-i", "off", str(os.getpid())], check=True, capture_output=True
            )
        total = replies_received()
        here.send("stop")
        expected = args.warm + args.messages
        set_runtime(None)
        shutdown(rt)

    def ms(values: list[float]) -> dict[str, float]:
        return {
            "p50": round(statistics.median(values) * 1000, 2),
            "mean": round(statistics.fmean(values) * 1000, 2),
        }

    totals = [sum(c.values()) for c in per_msg]
    parts = sorted({k for c in per_msg for k in c})
    m = args.messages
    report = {
        "setup": ("MariaDB + Redis" if args.mariadb else "SQLite + in-process cache")
        + (", worker threads (process CPU)" if args.threaded else ", inline (thread CPU)"),
        "messages": m,
        "replies_received": f"{total} / {expected}",
        "cpu_ms_per_message": ms(totals),
        "cpu_ms_by_part": {p: ms([c.get(p, 0.0) for c in per_msg]) for p in parts},
        "sql_statements_per_message": round(sum(statements_per_msg) / m, 2),
        "sql_by_kind_per_message": {k: round(v / m, 2) for k, v in kinds.most_common()},
        "cache_calls_per_message": round(sum(cache_per_msg) / m, 2),
        "cache_by_kind_per_message": {k: round(v / m, 2) for k, v in cache_kinds.most_common(12)},
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(report, indent=1))
    if args.statements:
        print("\n-- SQL of one message --")
        for s in sample:
            print(" ".join(s.split())[:220])
    if prof:
        if args.profile:
            prof.dump_stats(args.profile)
        if args.top:
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
