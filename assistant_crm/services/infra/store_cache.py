"""In-process caches built from one store's table, kept fresh two ways.

The knowledge index and the response templates each keep one entry per store
(a Frappe process may serve several sites) and rebuild it when it is stale:
older than its TTL, behind the version stamp other processes bump in the shared
cache (read at most every ``version_check`` seconds, since a cache round trip
per call would cost more than the call), or with a changed fingerprint of the
table (re-read at most every ``fingerprint_check`` seconds).

An entry is any object with the attributes ``fingerprint``, ``version``,
``store``, ``built_at``, ``checked_at`` and ``version_checked_at``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

E = TypeVar("E")


def is_stale(
    entry: Any,
    rt: Any,
    now: float,
    *,
    ttl: float,
    version_check: float,
    fingerprint_check: float,
    shared_version: Callable[[Any], object],
    fingerprint_changed: Callable[[Any, Any], bool],
) -> tuple[bool, object]:
    """(stale?, shared version) for ``entry`` under runtime ``rt``."""
    if entry is None or entry.store is not rt.store or now - entry.built_at > ttl:
        return True, shared_version(rt)
    version = entry.version
    if now - entry.version_checked_at > version_check:
        entry.version_checked_at = now
        version = shared_version(rt)
        if version != entry.version:
            return True, version
    if now - entry.checked_at > fingerprint_check:
        entry.checked_at = now
        return fingerprint_changed(entry, rt), version
    return False, version


class PerStore(Generic[E]):
    """One entry per store, rebuilt under a lock when stale (at most ``max_entries``)."""

    def __init__(self, max_entries: int = 16):
        self.lock = threading.Lock()
        self.entries: dict[int, E] = {}
        self.max_entries = max_entries

    def get(
        self,
        rt: Any,
        stale: Callable[[E | None, Any, float], tuple[bool, object]],
        build: Callable[[Any, object], E],
    ) -> E:
        key = id(rt.store)
        entry = self.entries.get(key)
        is_stale_now, version = stale(entry, rt, time.monotonic())
        if is_stale_now:
            with self.lock:
                if self.entries.get(key) is entry:  # else another thread rebuilt it meanwhile
                    if len(self.entries) >= self.max_entries:
                        self.entries.clear()
                    self.entries[key] = build(rt.store, version)
                entry = self.entries[key]
        return entry

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
