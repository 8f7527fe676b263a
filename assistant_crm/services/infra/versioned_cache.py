"""A value built from the store, kept in process and rebuilt when it goes stale.

The knowledge index, the response templates and the intent classifier are each
expensive to build and cheap to use. :class:`VersionedCache` keeps one built
value per store (a Frappe process may serve several sites) and rebuilds it when

- it is older than ``ttl`` seconds (if a ttl is given);
- the version stamp in the shared cache changed: another process called
  :meth:`VersionedCache.invalidate` (read at most every ``version_check``
  seconds, since a cache round trip per call would cost more than the call);
- the table's fingerprint changed (when a ``fingerprint`` function is given;
  read at most every ``fingerprint_check`` seconds): an edit that reached the
  database without an invalidate.

Without a runtime (a CLI or a bench with no database) the value is built once
with ``store=None`` and follows nothing. ``per_store=False`` keeps one value
for the process whatever the store (the classifier: its build picks its own
source).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.versioned_cache")

V = TypeVar("V")
# How long a version stamp lives in the shared cache; when it expires every
# process rebuilds once, which is harmless.
STAMP_TTL_SECONDS = 24 * 3600


@dataclass
class _Entry(Generic[V]):
    value: V
    store: Any
    version: object
    fingerprint: object
    built_at: float
    checked_at: float
    version_checked_at: float


class VersionedCache(Generic[V]):
    """One built value per store, rebuilt under a lock when stale (see the module doc)."""

    def __init__(
        self,
        build: Callable[[Any], V],
        *,
        version_key: str,
        fingerprint: Callable[[Any], object] | None = None,
        ttl: float | None = None,
        version_check: float = 1.0,
        fingerprint_check: float = 30.0,
        max_stores: int = 16,
        per_store: bool = True,
    ):
        self.build = build
        self.version_key = version_key
        self.fingerprint = fingerprint
        self.ttl = ttl
        self.version_check = version_check
        self.fingerprint_check = fingerprint_check
        self.max_stores = max_stores
        self.per_store = per_store
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry[V]] = {}

    def get(self) -> V:
        """The current value, rebuilt first when stale. A failing build raises."""
        rt = _runtime()
        store = rt.store if rt is not None else None
        key = self._key(store)
        entry = self._entries.get(key)
        stale, version = self._stale(entry, rt, store, time.monotonic())
        if stale:
            with self._lock:
                if self._entries.get(key) is entry:  # else another thread rebuilt it meanwhile
                    if len(self._entries) >= self.max_stores:
                        self._entries.clear()
                    fingerprint = self._fingerprint(store) if self.fingerprint and store is not None else None
                    value = self.build(store)
                    now = time.monotonic()
                    self._entries[key] = _Entry(value, store, version, fingerprint, now, now, now)
                entry = self._entries[key]
        assert entry is not None
        return entry.value

    def version(self) -> object:
        """The shared version stamp the current value was built under (None: none yet)."""
        rt = _runtime()
        entry = self._entries.get(self._key(rt.store if rt is not None else None))
        return entry.version if entry is not None else None

    def invalidate(self) -> None:
        """Drop the value here, and stamp a new version so other processes rebuild too."""
        with self._lock:
            self._entries.clear()
        rt = _runtime()
        if rt is None:
            return
        try:
            rt.cache.set(self.version_key, uuid.uuid4().hex, ttl=STAMP_TTL_SECONDS)
        except Exception:  # the local drop is what matters here
            log.warning("could not publish a new version for %s", self.version_key, exc_info=True)

    # ----------------------------------------------------------------- staleness

    def _stale(self, entry: _Entry[V] | None, rt: Any, store: Any, now: float) -> tuple[bool, object]:
        """(stale?, shared version)."""
        if entry is None or (self.per_store and entry.store is not store):
            return True, self._shared_version(rt)
        if self.ttl is not None and now - entry.built_at > self.ttl:
            return True, self._shared_version(rt)
        version = entry.version
        if rt is not None and now - entry.version_checked_at >= self.version_check:
            entry.version_checked_at = now
            version = self._shared_version(rt)
            if version != entry.version:
                return True, version
        if self.fingerprint and store is not None and now - entry.checked_at >= self.fingerprint_check:
            entry.checked_at = now
            try:
                return self._fingerprint(store) != entry.fingerprint, version
            except Exception:  # keep serving the value we have
                log.warning("could not read the fingerprint for %s", self.version_key, exc_info=True)
        return False, version

    def _key(self, store: Any) -> int:
        return id(store) if self.per_store else 0

    def _shared_version(self, rt: Any) -> object:
        if rt is None:
            return None
        try:
            value = rt.cache.get(self.version_key)
        except Exception:  # a cache outage must not stop answers
            log.warning("could not read the version of %s", self.version_key, exc_info=True)
            return None
        return None if value is None else str(value)

    def _fingerprint(self, store: Any) -> object:
        assert self.fingerprint is not None
        return self.fingerprint(store)


def _runtime() -> Any:
    try:
        return get_runtime()
    except RuntimeError:
        return None
