"""Helpers shared by the tests: services, ports, servers in threads."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
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


# -- fakes the engine talks to, with the runtime's settings pointing at them ------------
STUB_API_KEY = "stub-key"


@contextmanager
def running_corebusiness(rt: Any, timeout_seconds: float = 1) -> Iterator[Any]:
    """The independent CoreBusiness stub, started with fresh clients and breakers,
    and the runtime's settings pointing at it; stopped afterwards."""
    from assistant_crm.services.integrations.corebusiness import clear_clients, reset_breakers
    from tests.fakes.corebusiness_stub import CoreBusinessStub

    reset_breakers()
    clear_clients()
    stub = CoreBusinessStub(api_key=STUB_API_KEY).start()
    set_settings(
        rt,
        corebusiness_base_url=stub.url,
        corebusiness_api_key=STUB_API_KEY,
        corebusiness_timeout_seconds=timeout_seconds,
    )
    try:
        yield stub
    finally:
        stub.stop()
        clear_clients()


@contextmanager
def running_corebusiness_and_sms(rt: Any) -> Iterator[tuple[Any, Any]]:
    """:func:`running_corebusiness` plus a fake Africa's Talking endpoint for the
    one-time codes; the runtime's queue is drained before both stop."""
    from tests.fakes.sms_server import FakeSMSServer

    with running_corebusiness(rt) as cb:
        sms = FakeSMSServer(api_key="at-key", username="wcfcb").start()
        set_settings(
            rt,
            sms_provider="africastalking",
            africastalking_base_url=sms.url,
            africastalking_username="wcfcb",
            africastalking_api_key="at-key",
        )
        try:
            yield cb, sms
        finally:
            rt.queue.join(timeout=10)
            sms.stop()


def stub_identifiers() -> list[str]:
    """Every NRC and phone number of the CoreBusiness stub's people (never to be logged)."""
    from tests.fakes.corebusiness_stub import PEOPLE

    return [p["nrc"] for p in PEOPLE.values()] + [p["phone"] for p in PEOPLE.values()]


def others_data(person_id: str, phones: bool = True) -> list[str]:
    """Strings of the CoreBusiness stub that belong to people other than ``person_id``."""
    from tests.fakes.corebusiness_stub import CLAIMS, PEOPLE

    out = []
    for number, c in CLAIMS.items():
        if c["person_id"] != person_id:
            out += [number, c["employer_name"]]
    for pid, p in PEOPLE.items():
        if pid != person_id:
            out += [p["full_name"], p["nrc"]] + ([p["phone"]] if phones else [])
    return out


@contextmanager
def fake_whatsapp_graph(rt: Any, **settings: Any) -> Iterator[Any]:
    """A fake Graph API the WhatsApp replies go to, and the runtime's settings
    pointing at it (``settings``: more fields to set alongside)."""
    from tests.fakes.platform_servers import FakeGraphAPI

    with FakeGraphAPI(whatsapp_token="wa-token", phone_number_id="1065550001") as fake:
        set_settings(
            rt,
            graph_api_base_url=fake.url,
            whatsapp_access_token="wa-token",
            whatsapp_phone_number_id="1065550001",
            **settings,
        )
        yield fake


def concurrently(n: int, call: Any) -> list[Any]:
    """``call()`` from ``n`` threads released at once; their results, in finishing order."""
    barrier = threading.Barrier(n)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# Messages that may leave the classifier torn between two intents (issue 11.4: a
# clarifying question only then). Which of them are close depends on the model
# of the day, so tests take the ones the live classifier finds close.
UNCLEAR_CANDIDATES = (
    "the thing",
    "about the money",
    "hmm the thing",
    "asdf qwer",
    "that stuff",
    "the other one again",
    "it is about that",
    "hmm",
    "ok so",
    "the paper thing",
    "the matter",
    "something else",
    "the issue",
    "ehh",
    "the one",
    "erm",
    "uhm",
    "err the thing",
)


def unclear_messages(n: int) -> list[str]:
    """``n`` messages the classifier finds close between its top two intents (no KB answer)."""
    from assistant_crm.services.dialogue import policy
    from assistant_crm.services.pipeline import intents, knowledge

    found = [
        text
        for text in UNCLEAR_CANDIDATES
        if policy.is_close(intents.classify(text)) and knowledge.best(text) is None
    ]
    assert len(found) >= n, f"only {found} are unclear to today's classifier"
    return found[:n]


class ShiftedClock:
    """The runtime's clock moved forward by ``offset`` (expiry and rate-window tests, no sleeping)."""

    def __init__(self, base: Any):
        self.base = base
        self.offset = timedelta()

    def now(self):
        return self.base.now() + self.offset
