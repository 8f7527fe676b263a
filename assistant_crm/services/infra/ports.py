"""The small interfaces the engine talks to the world through.

The engine (everything in ``assistant_crm.services``) never imports ``frappe``.
A runtime (``assistant_crm.runtime.frappe`` or ``assistant_crm.runtime.standalone``)
builds a :class:`Runtime` filled with implementations of these ports and installs
it with :func:`set_runtime`; engine code reaches it with :func:`get_runtime`.

Rows crossing the store port are plain ``dict`` objects keyed by DocType field
names (as Frappe's ``frappe.db.get_value(..., as_dict=True)`` gives), because the
store is a thin mapping onto DocType tables; the pipeline turns them into
dataclasses as soon as it reads them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

Row = dict[str, Any]


@runtime_checkable
class Store(Protocol):
    """DocType-shaped persistence. ``name`` is the primary key of every row."""

    def insert(self, doctype: str, values: Row) -> str:
        """Insert one row; fills ``name`` (random hash unless given), ``creation``,
        ``modified``. Raises :class:`~assistant_crm.services.infra.errors.DuplicateError`
        when a unique field clashes. Returns the name."""

    def get(self, doctype: str, name: str) -> Row | None: ...

    def get_by(self, doctype: str, filters: Row, order_by: str | None = None) -> Row | None:
        """First row matching all equality filters, or None."""

    def list(
        self,
        doctype: str,
        filters: Row | None = None,
        *,
        fields: Iterable[str] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Row]:
        """Rows matching filters. A filter value may be a tuple ``(op, value)`` with
        op in ``= != < <= > >= in not in like is``; ``order_by`` is ``"field asc|desc"``."""

    def count(self, doctype: str, filters: Row | None = None) -> int: ...

    def update(self, doctype: str, name: str, values: Row) -> None:
        """Update given fields of one row (and ``modified``)."""

    def update_where(self, doctype: str, filters: Row, values: Row) -> int:
        """Conditional update (compare-and-set); returns the number of rows changed."""

    def delete(self, doctype: str, name: str) -> None: ...

    def get_single(self, doctype: str) -> Row:
        """Values of a Single DocType as a dict (missing fields absent)."""

    def set_single(self, doctype: str, values: Row) -> None: ...

    def commit(self) -> None:
        """Make the work so far durable (no-op where each call autocommits)."""


@runtime_checkable
class Cache(Protocol):
    """Key/value cache with TTLs; values are JSON-serialisable."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: int | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        """Atomically add to an integer counter; ``ttl`` applies when the key is created."""

    def add(self, key: str, value: Any, ttl: int | None = None) -> bool:
        """Set only if absent (a lock or a once-only marker); True if set."""


@runtime_checkable
class Queue(Protocol):
    """Background work. ``method`` is a dotted path to a function taking kwargs."""

    def enqueue(self, method: str, **kwargs: Any) -> None: ...


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Current time as a naive datetime in the clock's ``timezone`` (the store keeps naive datetimes)."""


# The zone a clock's naive datetimes are in, when the clock does not say
# (``clock.timezone``): standalone stores UTC, Frappe the site's time zone.
DEFAULT_TIMEZONE = "UTC"


@runtime_checkable
class SettingsSource(Protocol):
    def get(self, fieldname: str) -> Any | None:
        """A setting's value (secrets decrypted) or None when unset."""


class SystemClock:
    timezone = "UTC"

    def now(self) -> datetime:
        return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class Runtime:
    """Everything the engine may touch outside itself."""

    store: Store
    cache: Cache
    queue: Queue
    settings: Any  # assistant_crm.services.infra.settings.Settings
    clock: Clock = field(default_factory=SystemClock)
    name: str = "standalone"
    extras: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_runtime: Runtime | None = None
_factory: Callable[[], Runtime] | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    with _lock:
        _runtime = runtime


def set_runtime_factory(factory: Callable[[], Runtime] | None) -> None:
    """Under Frappe the runtime is built per site on first use."""
    global _factory
    with _lock:
        _factory = factory


def get_runtime() -> Runtime:
    if _runtime is not None:
        return _runtime
    if _factory is not None:
        return _factory()
    raise RuntimeError("No Assistant CRM runtime is installed (call set_runtime or start a runtime).")
