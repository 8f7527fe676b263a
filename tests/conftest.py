"""Shared fixtures: a fresh runtime per test, the standalone server, MariaDB and Redis."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant_crm.runtime.standalone import create_runtime, shutdown
from assistant_crm.services.infra.ports import Runtime, set_runtime
from assistant_crm.services.pipeline import gemini
from tests.support import REDIS_URL, ServerThread, redis_available, throwaway_mariadb, unavailable

# Tests never read settings from the developer's environment.
# (Paths to the team's shared data files are not settings: see tests/shared_data.py.)
_KEEP = ("ASSISTANT_CRM_REQUIRE_SERVICES", "ASSISTANT_CRM_DEV_SET", "ASSISTANT_CRM_FACTS")
for _k in [k for k in os.environ if k.startswith("ASSISTANT_CRM_") and k not in _KEEP]:
    if not _k.startswith("ASSISTANT_CRM_TEST_"):
        os.environ.pop(_k)


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory) -> Path:
    """A SQLite database with the starter data, built once and copied for each test."""
    from assistant_crm.services.infra.seed import seed
    from assistant_crm.standalone.store import SQLStore

    path = tmp_path_factory.mktemp("template") / "seeded.sqlite3"
    store = SQLStore(f"sqlite:///{path}")
    seed(store)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


def _make_rt(database_url: str, tmp_path: Any, **overrides: Any) -> Runtime:
    os.environ["ASSISTANT_CRM_FILES_DIR"] = str(tmp_path / "files")
    # A Gemini breaker opened by one test's failures must not answer for the next.
    gemini.BREAKERS.reset()
    return create_runtime(database_url, overrides=overrides or None, environ={}, workers=2)


@pytest.fixture
def rt(tmp_path, seeded_sqlite) -> Iterator[Runtime]:
    """A fresh standalone runtime on its own SQLite file (a copy of the seeded one), installed as current."""
    db = tmp_path / "test.sqlite3"
    shutil.copyfile(seeded_sqlite, db)
    runtime = _make_rt(f"sqlite:///{db}", tmp_path)
    yield runtime
    runtime.queue.join(timeout=10)
    shutdown(runtime)
    set_runtime(None)


@pytest.fixture
def mariadb_rt(tmp_path) -> Iterator[Runtime]:
    """The same on a throwaway MariaDB database with the Redis cache."""
    reason = redis_available()
    if reason:
        unavailable(reason)
    with throwaway_mariadb() as url:
        runtime = _make_rt(url, tmp_path, redis_url=REDIS_URL)
        yield runtime
        runtime.queue.join(timeout=10)
        runtime.cache.clear()
        shutdown(runtime)
        set_runtime(None)


@pytest.fixture
def server(rt) -> Iterator[str]:
    """The standalone WSGI app for ``rt`` on a free port; yields the base URL."""
    from assistant_crm.standalone.wsgi import create_app

    srv = ServerThread(create_app(rt)).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def mariadb_server(mariadb_rt) -> Iterator[str]:
    from assistant_crm.standalone.wsgi import create_app

    srv = ServerThread(create_app(mariadb_rt)).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level(logging.INFO, logger="assistant_crm")
    yield
