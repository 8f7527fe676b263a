"""Idle long-polling visitors cost no database query (issue 13 item 5), at 1,000 visitors.

``tests/test_long_poll.py`` checks the same with 30 visitors on every test
run; this runs the number the issue names, which is too heavy for the suite
(a thread per waiting visitor on each side). Run from the repository root::

    .venv/bin/python benchmarks/bench_long_poll.py                 # 1,000 visitors, SQLite
    .venv/bin/python benchmarks/bench_long_poll.py --visitors 300

Each visitor opens a web chat ("Hello"), then waits on ``chat.get_messages``
with ``timeout``. Once every one is registered as waiting, every statement
sent on the store's engines is counted (SQLAlchemy ``before_cursor_execute``)
for ``--quiet`` seconds; then an agent message wakes each visitor. Prints
one JSON object: visitors, waiting, statements while idle (should be 0),
woken with the agent's message.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.services.delivery.message_signals import EXTRAS_KEY  # noqa: E402
from assistant_crm.services.infra.ports import set_runtime  # noqa: E402
from assistant_crm.services.pipeline import context  # noqa: E402
from assistant_crm.standalone.wsgi import create_app  # noqa: E402
from tests.support import ServerThread  # noqa: E402
from tests.test_conversations import Visitor, session_name  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, default=1000)
    ap.add_argument("--quiet", type=float, default=5.0, help="seconds of counting while all wait")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    threading.stack_size(512 * 1024)  # 2 x visitors threads in this process
    tmp = tempfile.mkdtemp(prefix="acrm-lp-")
    os.environ.setdefault("ASSISTANT_CRM_FILES_DIR", str(Path(tmp) / "files"))
    # All visitors come from 127.0.0.1 here: the per-IP chat limit would stop the 151st.
    rt = create_runtime(
        f"sqlite:///{tmp}/lp.sqlite3", environ={}, workers=2, overrides={"chat_rate_limit_per_minute": 0}
    )
    server = ServerThread(create_app(rt)).start()
    signals = rt.extras[EXTRAS_KEY]
    try:
        visitors = []
        for _ in range(args.visitors):
            v = Visitor(server.url)
            visitors.append((v, v.send("Hello")["metadata"]["message_id"]))
        results: dict[int, dict] = {}

        def poll(i: int, v: Visitor, since: str) -> None:
            results[i] = v.messages(since=since, timeout=25 + args.quiet)

        threads = [
            threading.Thread(target=poll, args=(i, v, last), daemon=True)
            for i, (v, last) in enumerate(visitors)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while signals.waiting() < args.visitors and time.monotonic() < deadline:
            time.sleep(0.1)
        waiting = signals.waiting()
        counted: list[str] = []
        engines = [rt.store.engine] + ([rt.store._auto] if getattr(rt.store, "_auto", None) else [])

        def count(conn, cursor, statement, *a):  # noqa: ANN001 - SQLAlchemy event signature
            counted.append(statement)

        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", count)
        time.sleep(args.quiet)
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", count)
        answered_early = len(results)
        for v, _ in visitors:
            session = context.get_session(session_name(rt, v))
            context.append_history(session, "out", "agent", "An agent here.", agent="staff-agent")
        for t in threads:
            t.join(30)
        woken = sum(
            1 for r in results.values() if r["messages"] and r["messages"][-1]["text"] == "An agent here."
        )
        print(
            json.dumps(
                {
                    "visitors": args.visitors,
                    "waiting_when_counted": waiting,
                    "seconds_counted": args.quiet,
                    "statements_while_idle": len(counted),
                    "answered_before_the_agent_spoke": answered_early,
                    "woken_by_the_agent_message": woken,
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )
        )
    finally:
        server.stop()
        set_runtime(None)
        shutdown(rt)


if __name__ == "__main__":
    main()
