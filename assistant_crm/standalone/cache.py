"""Caches for the standalone runtime: Redis when configured, else in process."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis


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


class RedisCache:
    """The same interface over Redis, with every key under ``prefix``."""

    def __init__(self, url: str, prefix: str = "assistant_crm|"):
        self.client = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
        )
        self.prefix = prefix
        self._get_pair = self.client.register_script(_GET_PAIR_LUA)

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

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        k = self._k(key)
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
