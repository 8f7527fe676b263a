"""Caches for the standalone runtime: Redis when configured, else in process.

With Redis configured the runtime uses :class:`ResilientCache`: Redis while it
answers, the in-process cache (and database-backed counters) while it does not.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import redis

log = logging.getLogger("assistant_crm.cache")


class MemoryCache:
    """A thread-safe TTL cache for one process (development and small sites)."""

    def __init__(self, clock: Any = time.monotonic):
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()
        self._now = clock

    def _live(self, key: str) -> tuple[Any, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._now():
            del self._data[key]
            return None
        return item

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._live(key)
            return None if item is None else json.loads(item[0])

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        # Values go through JSON so both caches hand back equal, unshared copies.
        encoded = json.dumps(value, default=str)
        with self._lock:
            self._data[key] = (encoded, self._now() + ttl if ttl else None)
            if len(self._data) > 50_000:
                self._sweep()

    def set_many(self, items: dict[str, Any], ttl: int | None = None) -> None:
        for key, value in items.items():
            self.set(key, value, ttl)

    def get_pair(self, key: str, prefix: str) -> tuple[Any | None, Any | None]:
        """``get(key)`` and, when that is a string, ``get(prefix + it)`` (see RedisCache)."""
        first = self.get(key)
        return first, (self.get(prefix + first) if isinstance(first, str) and first else None)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        with self._lock:
            item = self._live(key)
            if item is None:
                value, expires = amount, (self._now() + ttl if ttl else None)
            else:
                value, expires = int(json.loads(item[0])) + amount, item[1]
            self._data[key] = (json.dumps(value), expires)
            return value

    def add(self, key: str, value: Any, ttl: int | None = None) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (json.dumps(value, default=str), self._now() + ttl if ttl else None)
            return True

    def release(self, key: str, token: Any, flag: str) -> bool:
        """Delete ``key`` if it still holds ``token``, then take ``flag`` down;
        True when the flag was up (see RedisCache.release)."""
        held = json.dumps(token, default=str)
        with self._lock:
            item = self._live(key)
            if item is not None and item[0] == held:
                del self._data[key]
            raised = self._live(flag)
            self._data.pop(flag, None)
            return raised is not None and bool(json.loads(raised[0]))

    def _sweep(self) -> None:
        now = self._now()
        for k in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[k]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# GET a key holding a JSON string, then GET ARGV[1] .. that string: one round trip
# for a lookup through an index entry (a visitor token -> the session's state).
_GET_PAIR_LUA = """
local first = redis.call('GET', KEYS[1])
if not first then return {false, false} end
local ok, name = pcall(cjson.decode, first)
if not ok or type(name) ~= 'string' or name == '' then return {first, false} end
return {first, redis.call('GET', ARGV[1] .. name)}
"""


# A lock let go by its holder and its "more waiting" flag read and taken down,
# in one round trip instead of three (GET, DEL, GET): the inbox does it once per
# message (services/delivery/inbox.py).
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local flag = redis.call('GET', KEYS[2])
if not flag then return 0 end
redis.call('DEL', KEYS[2])
local ok, value = pcall(cjson.decode, flag)
if ok and value and value ~= 0 and value ~= '' then return 1 end
return 0
"""


class RedisCache:
    """The same interface over Redis, with every key under ``prefix``."""

    def __init__(self, url: str, prefix: str = "assistant_crm|"):
        self.client = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
        )
        self.prefix = prefix
        self._get_pair = self.client.register_script(_GET_PAIR_LUA)
        self._release = self.client.register_script(_RELEASE_LUA)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def ping(self) -> bool:
        return bool(self.client.ping())

    def get(self, key: str) -> Any | None:
        raw = self.client.get(self._k(key))
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.client.set(self._k(key), json.dumps(value, default=str), ex=int(ttl) if ttl else None)

    def set_many(self, items: dict[str, Any], ttl: int | None = None) -> None:
        """Several ``set`` calls in one round trip (a pipeline, not a transaction)."""
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(self._k(key), json.dumps(value, default=str), ex=int(ttl) if ttl else None)
        pipe.execute()

    def get_pair(self, key: str, prefix: str) -> tuple[Any | None, Any | None]:
        """``get(key)`` and, when that is a string, ``get(prefix + it)``, in one round trip."""
        first, second = self._get_pair(keys=[self._k(key)], args=[self._k(prefix)])
        return (
            None if first is None else json.loads(first),
            None if second is None else json.loads(second),
        )

    def delete(self, key: str) -> None:
        self.client.delete(self._k(key))

    def release(self, key: str, token: Any, flag: str) -> bool:
        """Delete ``key`` if it still holds ``token`` (a lock let go by its
        holder, not one taken by another since it expired), then read and
        take down ``flag``: True when it was up. One round trip."""
        keys = [self._k(key), self._k(flag)]
        return bool(self._release(keys=keys, args=[json.dumps(token, default=str)]))

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        k = self._k(key)
        if not ttl:
            return int(self.client.incrby(k, amount))
        pipe = self.client.pipeline()
        pipe.incrby(k, amount)
        if ttl:
            pipe.expire(k, int(ttl), nx=True)
        return int(pipe.execute()[0])

    def add(self, key: str, value: Any, ttl: int | None = None) -> bool:
        return bool(
            self.client.set(
                self._k(key), json.dumps(value, default=str), ex=int(ttl) if ttl else None, nx=True
            )
        )

    def clear(self) -> None:
        for k in self.client.scan_iter(match=self.prefix + "*", count=500):
            self.client.delete(k)


# ---------------------------------------------------------------------- Redis down
# Errors that mean "Redis is not there" (as opposed to a bug in how we call it).
_DOWN_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
PROBE_SECONDS = 5.0  # how often a background thread looks for Redis while it is down
_TOUCHED_MAX = 100_000


class SQLCounters:
    """Counters with an expiry in a small table of the runtime's own database:
    rate limits and lockout counts stay shared between processes while Redis is
    down. Standalone infrastructure, like the cache itself (not a DocType)."""

    TABLE = "assistant_crm_counters"

    def __init__(self, engine: Any, clock: Any = time.time):
        import sqlalchemy as sa

        self._sa = sa
        self.engine = engine
        self._now = clock
        meta = sa.MetaData()
        self.table = sa.Table(
            self.TABLE,
            meta,
            sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("value", sa.BigInteger, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=True),
        )
        meta.create_all(engine, checkfirst=True)

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        sa, t = self._sa, self.table
        now = self._now()
        expires = now + ttl if ttl else None
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.c.value, t.c.expires_at).where(t.c.key == key)).first()
            if row is None or (row.expires_at is not None and row.expires_at <= now):
                if row is not None:
                    conn.execute(sa.delete(t).where(t.c.key == key))
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(t).values(key=key, value=amount, expires_at=expires))
                    return amount
                except sa.exc.IntegrityError:
                    pass  # another process created it first: count on top of theirs
            conn.execute(sa.update(t).where(t.c.key == key).values(value=t.c.value + amount))
            return int(conn.execute(sa.select(t.c.value).where(t.c.key == key)).scalar_one())

    def live(self, keys: list[str]) -> dict[str, tuple[int, float | None]]:
        """``{key: (value, seconds left or None)}`` of the unexpired ``keys``."""
        sa, t = self._sa, self.table
        now = self._now()
        out: dict[str, tuple[int, float | None]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                for row in conn.execute(sa.select(t).where(t.c.key.in_(keys[i : i + 500]))):
                    if row.expires_at is None or row.expires_at > now:
                        out[row.key] = (
                            int(row.value),
                            None if row.expires_at is None else row.expires_at - now,
                        )
        return out

    def sweep(self) -> None:
        sa, t = self._sa, self.table
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.expires_at <= self._now()))


class ResilientCache:
    """Redis with a way down: while Redis cannot be reached every call goes to
    an in-process :class:`MemoryCache` (counters to :class:`SQLCounters` in the
    database), with one warning line; a background probe notices when Redis is
    back and the cache returns to it, first writing there what changed meanwhile
    (so Redis never serves a value older than the outage) (issue 12.5)."""

    def __init__(
        self,
        url: str,
        prefix: str = "assistant_crm|",
        *,
        engine: Any = None,
        probe_seconds: float | None = None,
    ):
        self.redis = RedisCache(url, prefix=prefix)
        self.memory = MemoryCache()
        self.prefix = prefix
        self.probe_seconds = PROBE_SECONDS if probe_seconds is None else probe_seconds
        self._engine = engine
        self._counters: SQLCounters | None = None
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._touched: dict[str, str] = {}  # key -> "value" | "counter", written while down
        self._overflow = False
        self._probe_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.ping()

    # -- state
    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and the fallback answers."""
        return self._down_since is not None

    def describe(self) -> str:
        if self.degraded:
            return "DEGRADED: Redis unreachable; in-process cache and database-backed rate limits"
        return "ok Redis"

    def ping(self) -> bool:
        """True when Redis answers; otherwise switch to the fallback (never raises)."""
        try:
            ok = self.redis.ping()
        except _DOWN_ERRORS as e:
            self._went_down(e)
            return False
        return bool(ok)

    def _went_down(self, error: BaseException) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            log.warning(
                "redis unreachable (%s); using the in-process cache and database-backed rate limits "
                "until it returns",
                type(error).__name__,
            )
            self._stop.clear()
            self._probe_thread = threading.Thread(
                target=self._probe, name="assistant-crm-redis-probe", daemon=True
            )
            self._probe_thread.start()

    def _probe(self) -> None:
        while not self._stop.wait(self.probe_seconds):
            try:
                self.redis.ping()
                self._catch_up()
            except _DOWN_ERRORS:
                continue
            with self._lock:
                self._down_since = None
                self._touched.clear()
                self._overflow = False
            # What the fallback held is in Redis now; a later outage starts empty.
            self.memory.clear()
            log.warning("redis reachable again; back to Redis")
            return

    def _catch_up(self) -> None:
        """Write to Redis what changed while it was away (raises if it goes again)."""
        with self._lock:
            touched = dict(self._touched)
            overflow = self._overflow
        if overflow:
            self.redis.clear()
            return
        counters = (
            self._sql().live([k for k, kind in touched.items() if kind == "counter"]) if touched else {}
        )
        for key, kind in touched.items():
            if kind == "counter":
                value, left = counters.get(key, (None, None))
            else:
                item = self.memory._live(key)
                value = None if item is None else json.loads(item[0])
                left = None if item is None or item[1] is None else item[1] - self.memory._now()
            if value is None:
                self.redis.delete(key)
            else:
                self.redis.set(key, value, ttl=max(1, int(left + 0.999)) if left is not None else None)

    def close(self) -> None:
        self._stop.set()

    def _sql(self) -> SQLCounters:
        if self._counters is None:
            engine = self._engine
            if engine is None:
                from assistant_crm.services.infra.ports import get_runtime

                engine = get_runtime().store.engine
            self._counters = SQLCounters(engine)
        return self._counters

    def _touch(self, key: str, kind: str) -> None:
        with self._lock:
            if len(self._touched) >= _TOUCHED_MAX and key not in self._touched:
                self._overflow = True
                return
            self._touched[key] = kind

    def _call(self, redis_call: Any, fallback_call: Any, key: str | None = None, kind: str = "value") -> Any:
        if not self.degraded:
            try:
                return redis_call()
            except _DOWN_ERRORS as e:
                self._went_down(e)
        if key is not None and kind:
            self._touch(key, kind)
        return fallback_call()

    # -- the cache interface
    def get(self, key: str) -> Any | None:
        return self._call(lambda: self.redis.get(key), lambda: self._fallback_get(key), None)

    def _fallback_get(self, key: str) -> Any | None:
        if self._touched.get(key) == "counter":
            try:
                found = self._sql().live([key]).get(key)
            except Exception:  # noqa: BLE001 - the database failing too
                found = None
            if found is not None:
                return found[0]
        return self.memory.get(key)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self._call(lambda: self.redis.set(key, value, ttl), lambda: self.memory.set(key, value, ttl), key)

    def set_many(self, items: dict[str, Any], ttl: int | None = None) -> None:
        if not self.degraded:
            try:
                return self.redis.set_many(items, ttl)
            except _DOWN_ERRORS as e:
                self._went_down(e)
        for key, value in items.items():
            self.set(key, value, ttl)

    def get_pair(self, key: str, prefix: str) -> tuple[Any | None, Any | None]:
        return self._call(lambda: self.redis.get_pair(key, prefix), lambda: self.memory.get_pair(key, prefix))

    def delete(self, key: str) -> None:
        self._call(lambda: self.redis.delete(key), lambda: self.memory.delete(key), key)

    def release(self, key: str, token: Any, flag: str) -> bool:
        def fallback() -> bool:
            self._touch(flag, "value")
            return self.memory.release(key, token, flag)

        return self._call(lambda: self.redis.release(key, token, flag), fallback, key)

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        return self._call(
            lambda: self.redis.incr(key, amount, ttl),
            lambda: self._fallback_incr(key, amount, ttl),
            key,
            "counter",
        )

    def _fallback_incr(self, key: str, amount: int, ttl: int | None) -> int:
        try:
            return self._sql().incr(key, amount, ttl)
        except Exception:  # noqa: BLE001 - the database failing too: count in process rather than fail
            log.warning("database-backed counter failed; counting in process")
            return self.memory.incr(key, amount, ttl)

    def add(self, key: str, value: Any, ttl: int | None = None) -> bool:
        return self._call(
            lambda: self.redis.add(key, value, ttl), lambda: self.memory.add(key, value, ttl), key
        )

    def clear(self) -> None:
        self.memory.clear()
        self._call(lambda: self.redis.clear(), lambda: None)

    @property
    def client(self) -> Any:
        return self.redis.client
