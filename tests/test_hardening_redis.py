"""Issue 12.5: Redis down at start or mid-run: every endpoint keeps answering,
rate limits move to the database, and the cache goes back to Redis when it returns.

Redis "goes away" through a TCP forwarder in front of the shared Redis server.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from assistant_crm.runtime.standalone import create_runtime, shutdown
from assistant_crm.services.infra.ports import set_runtime
from assistant_crm.standalone import cache as cache_mod
from assistant_crm.standalone.wsgi import create_app
from tests.fakes import webhook_payloads as wp
from tests.fakes.tcp_proxy import TCPProxy
from tests.support import redis_available, unavailable

SEND = "/api/method/assistant_crm.api.chat.send_message"
TG = "/api/method/assistant_crm.api.webhooks.telegram"
LIVE = "/api/method/assistant_crm.api.live_data.get_claims"


@pytest.fixture
def proxy():
    reason = redis_available()
    if reason:
        unavailable(reason)
    p = TCPProxy(("127.0.0.1", 6379))
    yield p
    p.stop()


@pytest.fixture
def degraded_rt(tmp_path, seeded_sqlite, proxy, monkeypatch, caplog):
    monkeypatch.setattr(cache_mod, "PROBE_SECONDS", 0.1)
    db = tmp_path / "redis-down.sqlite3"
    shutil.copyfile(seeded_sqlite, db)
    caplog.set_level(logging.INFO, logger="assistant_crm")
    runtime = create_runtime(
        f"sqlite:///{db}",
        overrides={
            "redis_url": proxy.url,
            "chat_rate_limit_per_minute": 4,
            "telegram_secret_token": "tg-secret",
        },
        environ={},
        workers=1,
    )
    yield runtime
    runtime.queue.join(timeout=10)
    if not runtime.cache.degraded:
        runtime.cache.clear()
    shutdown(runtime)
    set_runtime(None)


def _tg(client: Client, text: str):
    body = wp.body_bytes(wp.tg_update(text))
    return client.post(
        TG,
        data=body,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "tg-secret"},
    )


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _down_lines(caplog) -> list[logging.LogRecord]:
    records = caplog.get_records("setup") + caplog.records
    return [r for r in records if "redis unreachable" in r.getMessage()]


def _counter_rows(runtime) -> int:
    with runtime.store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM assistant_crm_counters")).scalar_one()


def test_redis_down_at_start_then_back_then_down_again(degraded_rt, proxy, caplog):
    rt = degraded_rt
    assert rt.cache.degraded
    warnings = _down_lines(caplog)
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING

    client = Client(create_app(rt))
    first = client.post(SEND, json={"message": "hello"})
    assert first.status_code == 200, first.get_data(as_text=True)
    sid = first.get_json()["message"]["session_id"]
    assert _tg(client, "hello from telegram").status_code == 200
    live = client.post(LIVE, json={"session_id": "not-a-session"})
    assert live.status_code in (400, 401), live.get_data(as_text=True)

    # Rate limits still hold, counted in the database.
    codes = []
    while 429 not in codes and len(codes) < 12:  # 4 a minute (a window may roll over once)
        codes.append(client.post(SEND, json={"message": "hi", "session_id": sid}).status_code)
    assert codes[-1] == 429 and 200 in codes
    assert _counter_rows(rt) > 0
    assert len(_down_lines(caplog)) == 1

    # Redis returns: the cache goes back to it, carrying the counts over.
    proxy.start()
    assert _wait_for(lambda: not rt.cache.degraded)
    assert client.post(SEND, json={"message": "hi", "session_id": sid}).status_code == 429
    fresh = client.post(SEND, json={"message": "hello again"})
    assert fresh.status_code == 200
    assert rt.cache.redis.get("probe-key") is None
    rt.cache.set("probe-key", 1, ttl=30)
    assert rt.cache.redis.get("probe-key") == 1  # written to Redis itself, not the fallback

    # And goes away mid-run: still answering.
    proxy.stop()
    again = client.post(SEND, json={"message": "are you there"})
    assert again.status_code == 200, again.get_data(as_text=True)
    assert rt.cache.degraded
    assert _tg(client, "still there?").status_code == 200


def test_a_value_changed_during_the_outage_is_never_served_stale(degraded_rt, proxy):
    rt = degraded_rt
    proxy.start()
    assert _wait_for(lambda: not rt.cache.degraded)
    rt.cache.set("session-state", {"verified": True}, ttl=600)
    proxy.stop()
    rt.cache.set("session-state", {"verified": False}, ttl=600)  # e.g. "logout" during the outage
    rt.cache.delete("deleted-key")
    assert rt.cache.degraded and rt.cache.get("session-state") == {"verified": False}
    proxy.start()
    assert _wait_for(lambda: not rt.cache.degraded)
    assert rt.cache.get("session-state") == {"verified": False}


def test_serve_and_doctor_with_redis_unreachable(tmp_path, proxy):
    env_extra = {"ASSISTANT_CRM_REDIS_URL": proxy.url}  # the proxy is not started: nothing listens
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")} | env_extra
    db = f"sqlite:///{tmp_path / 'doctor.sqlite3'}"
    cli = [sys.executable, "-m", "assistant_crm.standalone.cli"]
    out = subprocess.run(cli + ["doctor", "--db", db], capture_output=True, text=True, timeout=120, env=env)
    assert "cache: DEGRADED" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
