"""Helpers shared by the tests: services, ports, servers in threads."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

MARIADB_HOST = os.environ.get("ASSISTANT_CRM_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("ASSISTANT_CRM_TEST_MARIADB_PORT", "3306"))
REDIS_URL = os.environ.get("ASSISTANT_CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_services() -> bool:
    return os.environ.get("ASSISTANT_CRM_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip, or fail in CI where the services must be there."""
    if require_services():
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_settings(rt: Any, **fields: Any) -> None:
    """Change settings on a standalone runtime (as if set in the environment)."""
    rt.extras["settings_source"].set(**fields)
    for hook in rt.extras.get("on_settings_change", []):
        hook()


def mariadb_available() -> str | None:
    """None when reachable, else the reason."""
    try:
        import pymysql

        conn = pymysql.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", connect_timeout=3
        )
        conn.close()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means "not available"
        return f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT} unavailable: {e}"


def redis_available() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as e:  # noqa: BLE001
        return f"Redis at {REDIS_URL} unavailable: {e}"


@contextmanager
def throwaway_mariadb() -> Iterator[str]:
    """A new MariaDB database for this test run, dropped afterwards; yields its URL."""
    import pymysql

    reason = mariadb_available()
    if reason:
        unavailable(reason)
    name = f"acrm_test_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        yield f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


class ServerThread:
    """A WSGI app on 127.0.0.1:<port> in a thread, stoppable."""

    def __init__(self, app: Any, port: int | None = None):
        from werkzeug.serving import make_server

        self.port = port or free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
