"""Fixed-window rate limits kept in the runtime cache (Redis or in-process).

A fixed window is enough here: the limits protect the bot and CoreBusiness from
floods, not a billing quota, and one atomic ``incr`` per hit keeps it cheap.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timezone

from assistant_crm.services.infra.errors import RateLimited
from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.rate_limit")


def _now_ts(rt) -> int:
    # The clock gives naive UTC; say so before taking a timestamp.
    return int(rt.clock.now().replace(tzinfo=timezone.utc).timestamp())


def _window_key(key: str, window_seconds: int, now_ts: int) -> tuple[str, int]:
    window = now_ts // window_seconds
    # Keys may carry an IP or a session token: hash them so the cache never
    # holds them in clear and key length stays bounded.
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    retry_after = (window + 1) * window_seconds - now_ts
    return f"acrm:rl:{digest}:{window_seconds}:{window}", max(1, retry_after)


def hit(key: str, limit: int, window_seconds: int = 60) -> None:
    """Count one hit on ``key``; raise :class:`RateLimited` once over ``limit`` in the window.

    A ``limit`` of 0 or less disables the check.
    """
    if limit <= 0 or window_seconds <= 0:
        return
    rt = get_runtime()
    now_ts = _now_ts(rt)
    cache_key, retry_after = _window_key(key, window_seconds, now_ts)
    count = rt.cache.incr(cache_key, 1, ttl=window_seconds + 1)
    if count > limit:
        log.warning("rate limit exceeded kind=%s count=%s limit=%s", key.split(":", 1)[0], count, limit)
        raise RateLimited(
            f"Too many messages; the limit is {limit} per {window_seconds} seconds. "
            f"Please wait {retry_after} seconds.",
            retry_after=retry_after,
        )


def remaining(key: str, limit: int, window_seconds: int = 60) -> int:
    """How many hits are left in the current window (for tests and headers)."""
    rt = get_runtime()
    now_ts = _now_ts(rt)
    cache_key, _ = _window_key(key, window_seconds, now_ts)
    used = int(rt.cache.get(cache_key) or 0)
    return max(0, limit - used)
