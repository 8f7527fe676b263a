"""Naive stored times <-> ISO 8601 with an offset, in the runtime's time zone.

The stores keep naive datetimes: UTC standalone, the site's time zone under
Frappe (``rt.clock.timezone``). Anything that leaves the server (the chat API,
the agent API) carries the offset, so a browser anywhere shows the right time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant_crm.services.infra.ports import DEFAULT_TIMEZONE, get_runtime

log = logging.getLogger("assistant_crm.times")


def store_zone() -> ZoneInfo | timezone:
    """The zone of the store's naive datetimes."""
    try:
        name = getattr(get_runtime().clock, "timezone", None) or DEFAULT_TIMEZONE
    except RuntimeError:  # no runtime installed (a script or a unit test)
        name = DEFAULT_TIMEZONE
    if name == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; times are given as UTC", name)
        return timezone.utc


def to_iso(value: datetime | None) -> str | None:
    """ISO 8601 with the offset (``2026-11-29T21:04:00+02:00``); naive values are in the store's zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=store_zone())
    return value.isoformat()


def to_store(value: datetime) -> datetime:
    """A datetime as the store keeps it: naive, in the store's zone (naive input is taken as is)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(store_zone()).replace(tzinfo=None)


def unix(value: datetime) -> float:
    """Unix seconds of a clock time (naive: in the store's zone, as ``rt.clock.now()`` gives it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=store_zone())
    return value.timestamp()


def utc_iso(value: datetime) -> str:
    """A clock time as UTC ISO 8601 with ``Z`` (``2026-11-29T19:04:00Z``)."""
    return datetime.fromtimestamp(unix(value), timezone.utc).replace(tzinfo=None).isoformat() + "Z"
