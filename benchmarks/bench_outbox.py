"""Outbox throughput: replies queued and delivered to a fake Telegram Bot API.

Run from the repository root::

    .venv/bin/python benchmarks/bench_outbox.py [--messages 2000] [--conversations 100]
        [--fail 200] [--db sqlite|mariadb]

Queues ``--messages`` replies spread over ``--conversations`` chats with
``outbox.enqueue_outbound`` (the background queue dispatches them, as in
production), while the fake platform answers 500 to the first ``--fail``
requests; then runs ``dispatch_due`` (the cron) until nothing is left.
Afterwards it checks what the fake received: every reply once, in order per
chat. Backoff is shortened (base 10 ms) so the failing spell costs little
wall time. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.services.delivery import outbox  # noqa: E402
from assistant_crm.services.models import OutboundMessage  # noqa: E402
from tests.fakes.platform_servers import FakeTelegram  # noqa: E402
from tests.support import REDIS_URL, throwaway_mariadb  # noqa: E402

DT = "Omnichannel Message"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--conversations", type=int, default=100)
    ap.add_argument("--fail", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--db", choices=("sqlite", "mariadb"), default="sqlite")
    args = ap.parse_args()

    with ExitStack() as stack:
        if args.db == "mariadb":
            url = stack.enter_context(throwaway_mariadb())
            extra = {"redis_url": REDIS_URL}
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url, extra = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", {}
        fake = stack.enter_context(FakeTelegram(token="1:bench"))
        rt = create_runtime(
            url,
            environ={},
            workers=args.workers,
            overrides={
                "telegram_api_base_url": fake.url,
                "telegram_bot_token": "1:bench",
                "outbound_backoff_base_seconds": 0.01,
                "outbound_backoff_max_seconds": 0.05,
                "outbound_max_attempts": 50,
                **extra,
            },
        )
        try:
            fake.fail(500, times=args.fail)
            expected: dict[str, list[str]] = {}
            started = time.perf_counter()
            for i in range(args.messages):
                chat = str(900000 + i % args.conversations)
                text = f"reply {i} to {chat} ✅"
                expected.setdefault(chat, []).append(text)
                outbox.enqueue_outbound(OutboundMessage(channel="telegram", recipient_id=chat, text=text))
            enqueued = time.perf_counter()
            rt.queue.join(timeout=600)
            rounds = 0
            while rt.store.count(DT, {"direction": "outbound", "status": ("in", ["queued", "sending"])}):
                rounds += 1
                past = rt.clock.now() - timedelta(seconds=1)
                rt.store.update_where(
                    DT, {"direction": "outbound", "status": "queued"}, {"next_attempt_at": past}
                )
                outbox.dispatch_due(limit=1000)
                if rounds > 10_000:
                    break
            done = time.perf_counter()
            lost = doubled = out_of_order = 0
            for chat, texts in expected.items():
                got = fake.texts(chat)
                lost += len(set(texts) - set(got))
                doubled += len(got) - len(set(got))
                out_of_order += int([t for t in got if t in set(texts)] != texts)
            figures = {
                "db": args.db,
                "messages": args.messages,
                "conversations": args.conversations,
                "injected_500s": fake.count("failed:500"),
                "enqueue_per_second": round(args.messages / (enqueued - started), 1),
                "delivered_per_second": round(len(fake.accepted) / (done - started), 1),
                "seconds_total": round(done - started, 2),
                "cron_rounds": rounds,
                "delivered": len(fake.accepted),
                "lost": lost,
                "doubled": doubled,
                "conversations_out_of_order": out_of_order,
                "dead": rt.store.count(DT, {"direction": "outbound", "status": "dead"}),
            }
        finally:
            rt.queue.join(timeout=30)
            shutdown(rt)
    print(json.dumps(figures))
    return 0 if figures["lost"] == figures["doubled"] == figures["conversations_out_of_order"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
