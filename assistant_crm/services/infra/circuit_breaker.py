"""A circuit breaker in front of an outside service (CoreBusiness, Gemini).

Closed -> open after ``threshold`` consecutive failures; after ``cooldown``
seconds one trial call goes through (half-open): success closes, failure
re-opens. While open, :meth:`CircuitBreaker.before_call` raises
:class:`CircuitOpen` at once, so a service that is down costs a turn nothing
and the caller falls back (CoreBusiness: "records unavailable"; Gemini: the
template answer). One breaker per service address in the process
(:class:`Breakers`). Each change of state is also written to the runtime
cache (Redis, shared by every process), so that the console's Health section
and ``assistant-crm doctor`` (another process) can show it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.circuit_breaker")

DEFAULT_THRESHOLD = 5
DEFAULT_COOLDOWN = 30.0
SHARED_TTL = 86400  # a state nobody has changed for a day is forgotten (closed)


class CircuitOpen(Exception):
    """Calls must not go out for a while (``retry_after`` seconds at least)."""

    def __init__(self, name: str, retry_after: float):
        super().__init__(f"{name} is failing; not calling it for a while")
        self.retry_after = retry_after


class CircuitBreaker:
    """Thread-safe breaker of one service; ``name`` is what the logs call it."""

    def __init__(
        self,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
        name: str = "service",
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.threshold = max(1, int(threshold))
        self.cooldown = float(cooldown)
        self.name = name
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self.state = "closed"
        self._opened_at = 0.0
        self._trial_in_flight = False

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` when calls must not go out."""
        with self._lock:
            if self.state == "closed":
                return
            before = self.state
            remaining = self._opened_at + self.cooldown - self._clock()
            if self.state == "open" and remaining <= 0:
                self.state = "half_open"
                self._trial_in_flight = False
            allowed = self.state == "half_open" and not self._trial_in_flight
            if allowed:  # the one trial call of the half-open state
                self._trial_in_flight = True
            changed = self._changed(before)
        self._tell(changed)
        if not allowed:
            raise CircuitOpen(self.name, max(1.0, remaining))

    def record_success(self) -> None:
        with self._lock:
            before = self.state
            if self.state != "closed":
                log.info("%s circuit closed", self.name)
            self.state = "closed"
            self.failures = 0
            self._trial_in_flight = False
            changed = self._changed(before)
        self._tell(changed)

    def record_failure(self) -> None:
        with self._lock:
            before = self.state
            self.failures += 1
            self._trial_in_flight = False
            if self.state == "half_open" or self.failures >= self.threshold:
                if self.state != "open":
                    log.warning("%s circuit opened after %s failures", self.name, self.failures)
                self.state = "open"
                self._opened_at = self._clock()
            changed = self._changed(before)
        self._tell(changed)

    def record_neutral(self) -> None:
        """A call that neither proves nor disproves health (a 404, our own bad key, a refused answer)."""
        with self._lock:
            before = self.state
            if self.state == "half_open":
                self.state = "closed"
                self.failures = 0
            self._trial_in_flight = False
            changed = self._changed(before)
        self._tell(changed)

    def snapshot(self) -> dict[str, Any]:
        """State and consecutive failures, as the Health section shows them."""
        with self._lock:
            return {"state": self.state, "failures": self.failures}

    def _changed(self, before: str) -> dict[str, Any] | None:
        """The new state to tell others (under the lock), or None when it did not change."""
        if self.state == before:
            return None
        return {"state": self.state, "failures": self.failures, "since": _now_iso()}

    def _tell(self, changed: dict[str, Any] | None) -> None:
        if changed is not None and self._on_change is not None:
            self._on_change(changed)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Breakers:
    """The process-wide breakers of one kind of service, one per address."""

    def __init__(
        self,
        name: str,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._by_key: dict[str, CircuitBreaker] = {}

    def get(self, key: str, threshold: int | None = None, cooldown: float | None = None) -> CircuitBreaker:
        """The breaker of ``key`` (an address), made on first use."""
        key = key.rstrip("/")
        with self._lock:
            breaker = self._by_key.get(key)
            if breaker is None:
                breaker = self._by_key[key] = CircuitBreaker(
                    self.threshold if threshold is None else threshold,
                    self.cooldown if cooldown is None else cooldown,
                    clock=self._clock,
                    name=self.name,
                    on_change=lambda state: self._publish(key, state),
                )
            return breaker

    def state(self, key: str) -> dict[str, Any]:
        """What the Health section and ``doctor`` show for ``key``: the last change any
        process published (state, failures, since), else this process's own breaker,
        else closed with no failures."""
        key = key.rstrip("/")
        with self._lock:
            local = self._by_key.get(key)
        mine = local.snapshot() if local is not None else None
        shared = self._read(key)
        if shared and isinstance(shared.get("state"), str):
            # Failures between two changes are counted here only: this process's
            # count when it sees the same state, else the count at the change.
            if mine is not None and mine["state"] == shared["state"]:
                return {**shared, **mine}
            return {"failures": 0, **shared}
        return mine or {"state": "closed", "failures": 0}

    def reset(self) -> None:
        with self._lock:
            self._by_key.clear()

    def _cache_key(self, key: str) -> str:
        return f"assistant_crm:circuit:{self.name}:{key}"

    def _publish(self, key: str, state: dict[str, Any]) -> None:
        try:
            get_runtime().cache.set(self._cache_key(key), state, ttl=SHARED_TTL)
        except Exception:  # noqa: BLE001 - no runtime or no cache: this process still knows
            log.debug("%s circuit state not shared", self.name, exc_info=True)

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            found = get_runtime().cache.get(self._cache_key(key))
        except Exception:  # noqa: BLE001 - no runtime or no cache
            return None
        return found if isinstance(found, dict) else None
