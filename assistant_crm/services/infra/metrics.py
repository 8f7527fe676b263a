"""Daily counters and a turn-latency histogram in the runtime cache.

Counters are atomic ``incr`` calls (Redis in production), one set per UTC
day, kept 8 days, buffered per process for a couple of seconds (see _Pending). The dashboard reads them back; nothing here is the truth for
conversations (the store is), so losing the cache only loses statistics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import date, datetime
from typing import Any

from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import CHANNELS, INTENTS

log = logging.getLogger("assistant_crm.metrics")

TTL = 8 * 24 * 3600
# Upper bounds (ms) of the latency buckets; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)
_OVERFLOW = "inf"


def _day(now: datetime | None = None) -> str:
    return (now or get_runtime().clock.now()).strftime("%Y%m%d")


def _key(day: str, *parts: str) -> str:
    return "acrm:m:" + day + ":" + ":".join(parts)


def _bucket(ms: float) -> str:
    for bound in LATENCY_BUCKETS_MS:
        if ms <= bound:
            return str(bound)
    return _OVERFLOW


def incr(name: str, amount: int = 1) -> None:
    """Add to a named counter of today (buffered like the turn counters)."""
    pending = _pending(get_runtime())
    with pending.lock:
        pending.counts[_key(_day(), name)] += amount


class _Pending:
    """Counter deltas of this process not yet added to the shared cache.

    A turn only adds to a local counter; the deltas go to the cache (one
    ``incr`` per changed counter) at most every ``FLUSH_SECONDS``, and before
    any read. That keeps cache round trips off almost every turn; a crash
    loses at most a couple of seconds of statistics, never a conversation.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.last_flush = time.monotonic()


FLUSH_SECONDS = 2.0


def _pending(rt: Any) -> _Pending:
    pending = rt.extras.get("metrics_pending")
    if pending is None:
        pending = rt.extras.setdefault("metrics_pending", _Pending())
    return pending


def flush() -> int:
    """Add this process's pending counts to the cache; returns how many counters changed."""
    rt = get_runtime()
    pending = _pending(rt)
    with pending.lock:
        counts, pending.counts = pending.counts, Counter()
        pending.last_flush = time.monotonic()
    failed: Counter[str] = Counter()
    for key, amount in counts.items():
        try:
            rt.cache.incr(key, amount, ttl=TTL)
        except Exception:  # statistics never break a conversation
            failed[key] += amount
    if failed:
        log.warning("metrics flush failed for %s counters; kept for the next flush", len(failed))
        with pending.lock:
            pending.counts.update(failed)
    return len(counts)


def record_turn(
    channel: str,
    intent: str,
    latency_ms: float,
    *,
    handoff: bool = False,
    low_confidence: bool = False,
    suppressed: bool = False,
) -> None:
    """Count one message turn: its channel, intent, latency and outcome."""
    rt = get_runtime()
    day = _day()
    keys = [_key(day, "msg", channel or "unknown")]
    if suppressed:
        keys.append(_key(day, "suppressed"))
    else:
        if intent:
            keys.append(_key(day, "intent", intent))
        if low_confidence:
            keys.append(_key(day, "low_confidence"))
        if handoff:
            keys.append(_key(day, "handoff"))
        keys.append(_key(day, "lat", _bucket(latency_ms)))
    pending = _pending(rt)
    with pending.lock:
        pending.counts.update(keys)
        due = time.monotonic() - pending.last_flush >= FLUSH_SECONDS
    if due:
        flush()


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def latency_histogram(day: str | None = None) -> dict[str, int]:
    """Bucket upper bound (ms, or "inf") -> number of turns."""
    rt = get_runtime()
    flush()
    day = day or _day()
    labels = [str(b) for b in LATENCY_BUCKETS_MS] + [_OVERFLOW]
    return {label: _int(rt.cache.get(_key(day, "lat", label))) for label in labels}


def histogram_of(latencies_ms: list[float]) -> dict[str, int]:
    """The same buckets as :func:`latency_histogram`, for latencies read elsewhere (the database)."""
    hist = dict.fromkeys([str(b) for b in LATENCY_BUCKETS_MS] + [_OVERFLOW], 0)
    for ms in latencies_ms:
        hist[_bucket(ms)] += 1
    return hist


def percentile_from_histogram(hist: dict[str, int], pct: float) -> float | None:
    """The bucket upper bound holding the ``pct`` percentile (None with no data)."""
    total = sum(hist.values())
    if not total:
        return None
    rank = pct / 100.0 * total
    seen = 0
    for label, count in hist.items():
        seen += count
        if seen >= rank and count:
            return float(LATENCY_BUCKETS_MS[-1] * 2) if label == _OVERFLOW else float(label)
    return None


def day_summary(day: date | str | None = None) -> dict[str, Any]:
    """Today's (or ``day``'s, YYYYMMDD) counters, for the dashboard."""
    rt = get_runtime()
    flush()
    if isinstance(day, date):
        day = day.strftime("%Y%m%d")
    day = day or _day()
    channels = {c: _int(rt.cache.get(_key(day, "msg", c))) for c in CHANNELS}
    intents = {i: _int(rt.cache.get(_key(day, "intent", i))) for i in INTENTS}
    hist = latency_histogram(day)
    return {
        "day": day,
        "messages_by_channel": channels,
        "messages_total": sum(channels.values()),
        "intents": intents,
        "handoffs": _int(rt.cache.get(_key(day, "handoff"))),
        "low_confidence": _int(rt.cache.get(_key(day, "low_confidence"))),
        "suppressed": _int(rt.cache.get(_key(day, "suppressed"))),
        "latency_histogram_ms": hist,
        "latency_p50_ms": percentile_from_histogram(hist, 50),
        "latency_p95_ms": percentile_from_histogram(hist, 95),
    }
