"""The standalone runtime: fills the engine's ports without Frappe.

Settings come from (highest first) values set in code (tests), the environment
(``ASSISTANT_CRM_<FIELDNAME>``), a JSON file given with ``--config``, and the
defaults in the Settings DocType JSON.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from assistant_crm.services.delivery import message_signals
from assistant_crm.services.infra.ports import Runtime, SystemClock, set_runtime
from assistant_crm.services.infra.settings import Settings, settings_fields
from assistant_crm.standalone.cache import MemoryCache, ResilientCache
from assistant_crm.standalone.queue import Scheduler, ThreadQueue
from assistant_crm.standalone.store import SQLStore

log = logging.getLogger("assistant_crm.runtime")

DEFAULT_DATABASE_URL = "sqlite:///assistant_crm.sqlite3"
ENV_PREFIX = "ASSISTANT_CRM_"

# Periodic jobs of the standalone worker (Frappe's scheduler runs the same paths by cron).
SCHEDULED_JOBS: list[tuple[str, float]] = [
    ("assistant_crm.services.delivery.outbox.dispatch_due", 2.0),
    ("assistant_crm.services.delivery.inbox.recover", 30.0),
    ("assistant_crm.services.dialogue.handoff.sweep", 30.0),  # still-waiting notes, give-up offers
    ("assistant_crm.services.infra.audit.daily_check", 86400.0),  # chain check + the day's checkpoint
]


class ConfigError(Exception):
    """The configuration file is missing or not valid JSON."""


class StandaloneSettingsSource:
    """Overrides > environment > JSON file; unknown keys in the file are refused."""

    def __init__(self, config_file: str | os.PathLike | None = None, environ: dict[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.file_values: dict[str, Any] = {}
        self.overrides: dict[str, Any] = {}
        if config_file:
            path = Path(config_file)
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:
                raise ConfigError(f"config file not found: {path}") from None
            except ValueError as e:
                raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"config file {path} must hold a JSON object")
            unknown = sorted(set(data) - set(settings_fields()))
            if unknown:
                raise ConfigError(f"config file {path} has unknown settings: {', '.join(unknown)}")
            self.file_values = data

    def get(self, fieldname: str) -> Any | None:
        if fieldname in self.overrides:
            return self.overrides[fieldname]
        env = self.environ.get(ENV_PREFIX + fieldname.upper())
        if env not in (None, ""):
            return env
        return self.file_values.get(fieldname)

    def set(self, **values: Any) -> None:
        unknown = set(values) - set(settings_fields())
        if unknown:
            raise KeyError(f"unknown settings: {', '.join(sorted(unknown))}")
        self.overrides.update(values)


def create_runtime(
    database_url: str | None = None,
    *,
    config_file: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    workers: int = 2,
    install: bool = True,
    scheduler: bool = False,
    seed: bool = True,
    shared_jobs: bool = False,
) -> Runtime:
    """Build (and by default install) a standalone runtime.

    Raises :class:`~assistant_crm.standalone.store.DatabaseUnavailable` when the
    database cannot be reached. Redis unreachable is a degraded start (the
    in-process cache answers until Redis returns), never a refusal.
    """
    source = StandaloneSettingsSource(config_file, environ)
    if overrides:
        source.set(**overrides)
    settings = Settings(source)
    url = database_url or settings.str("database_url") or DEFAULT_DATABASE_URL
    clock = SystemClock()
    store = SQLStore(url, clock=clock)
    redis_url = settings.str("redis_url")
    if redis_url:
        # Redis down at start is a degraded start, not a refusal (issue 12.5).
        cache: Any = ResilientCache(redis_url, prefix=f"assistant_crm|{_db_tag(url)}|", engine=store.engine)
    else:
        cache = MemoryCache()
    # A server's turns may run in any process serving the same database (Redis
    # list per database): no process idles while another has a backlog.
    shared = (redis_url, f"assistant_crm|{_db_tag(url)}|jobs") if shared_jobs and redis_url else None
    queue = ThreadQueue(workers=workers, shared=shared)
    rt = Runtime(store=store, cache=cache, queue=queue, settings=settings, clock=clock, name="standalone")
    rt.extras["settings_source"] = source
    rt.extras["database_url"] = url
    # Long-polling visitors wait on these instead of polling the database; with
    # Redis, processes sharing the database wake each other's visitors.
    rt.extras[message_signals.EXTRAS_KEY] = message_signals.MessageSignals(
        redis_url, channel=f"assistant_crm|{_db_tag(url)}|chat-messages"
    )
    if install:
        set_runtime(rt)
    if seed and install:
        _seed(rt)
    if scheduler:
        rt.extras["scheduler"] = Scheduler(SCHEDULED_JOBS).start()
    return rt


def _seed(rt: Runtime) -> None:
    try:
        from assistant_crm.services.infra.seed import ensure_seeded
    except ImportError:
        return
    ensure_seeded()


def shutdown(rt: Runtime) -> None:
    sched = rt.extras.get("scheduler")
    if sched:
        sched.stop()
    if hasattr(rt.queue, "stop"):
        rt.queue.stop()
    signals = rt.extras.get(message_signals.EXTRAS_KEY)
    if signals is not None:
        signals.close()
    if hasattr(rt.cache, "close"):
        rt.cache.close()
    if hasattr(rt.store, "close"):
        rt.store.close()


def _db_tag(url: str) -> str:
    """Separates cache keys of different databases sharing one Redis."""
    import hashlib

    return hashlib.sha1(url.encode()).hexdigest()[:8]  # noqa: S324 - a namespace tag, not security
