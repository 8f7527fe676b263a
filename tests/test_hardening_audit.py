"""Issue 12.10: the audit chain's head is anchored apart from the table, a
command verifies it, and a daily check alerts the managers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from assistant_crm.runtime.standalone import create_runtime, shutdown
from assistant_crm.services.infra import audit
from assistant_crm.services.infra.ports import set_runtime
from tests.support import REDIS_URL, redis_available, unavailable

DT = audit.AUDIT_DOCTYPE
CLI = [sys.executable, "-m", "assistant_crm.standalone.cli"]


def _names(rt) -> list[str]:
    return [r["name"] for r in rt.store.list(DT, fields=["name"], order_by="sequence asc")]


def test_deleting_the_last_rows_is_detected_naming_the_new_head(rt):
    names = [audit.record("bot", "data.read", f"s-{i}") for i in range(5)]
    assert audit.verify().ok and audit.verify_chain() == []
    rt.store.delete(DT, names[4])
    rt.store.delete(DT, names[3])
    report = audit.verify()
    assert not report.ok
    assert audit.verify_chain()
    assert any(names[2] in p and "2 last row(s) were deleted" in p for p in report.problems), report.problems


def test_a_rewritten_chain_is_caught_by_the_days_checkpoint(rt):
    """A forger who rewrites a row and recomputes every later hash keeps the
    chain linked; the checkpoint row still holds the old head."""
    for i in range(3):
        audit.record("bot", "data.read", f"s-{i}")
    audit.daily_check()
    audit.record("bot", "data.read", "s-after")
    rt.cache.delete(audit.ANCHOR_KEY)  # the cache lost its anchor (a restart)
    rows = rt.store.list(DT, order_by="sequence asc")
    prev = rows[0]["hash"]
    for row in rows[1:]:
        details = audit.serialise_details({"forged": True}) if row["sequence"] == 2 else row["details"]
        new = audit.compute_hash(
            prev, row["sequence"], row["actor"], row["action"], row["subject"], details, row["creation"]
        )
        rt.store.update(DT, row["name"], {"details": details, "previous_hash": prev, "hash": new})
        prev = new
    report = audit.verify()
    assert not report.ok
    third = rows[2]["name"]
    assert any(f"row {third} (sequence 3) differs from checkpoint" in p for p in report.problems), (
        report.problems
    )


def test_daily_check_alerts_the_managers_once_broken(rt):
    alerts: list[tuple[str, str]] = []
    rt.extras["alert_managers"] = lambda subject, message: alerts.append((subject, message))
    names = [audit.record("bot", "data.read", f"s-{i}") for i in range(3)]
    assert audit.daily_check().ok and alerts == []
    checkpoint = rt.store.list(DT, filters={"action": audit.CHECKPOINT_ACTION})
    assert len(checkpoint) == 1
    rt.store.update(DT, names[1], {"subject": "edited"})
    assert not audit.daily_check().ok
    assert len(alerts) == 1 and names[1] in alerts[0][1]
    assert rt.store.count(DT, {"action": "audit.chain_broken"}) == 1


@pytest.fixture
def redis_rt(tmp_path, seeded_sqlite):
    reason = redis_available()
    if reason:
        unavailable(reason)
    db = tmp_path / "audit.sqlite3"
    shutil.copyfile(seeded_sqlite, db)
    url = f"sqlite:///{db}"
    runtime = create_runtime(url, overrides={"redis_url": REDIS_URL}, environ={}, workers=1)
    runtime.cache.delete(audit.ANCHOR_KEY)
    yield runtime, url
    runtime.cache.delete(audit.ANCHOR_KEY)
    shutdown(runtime)
    set_runtime(None)


def _verify_cli(url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    env["ASSISTANT_CRM_REDIS_URL"] = REDIS_URL
    return subprocess.run(
        CLI + ["audit", "verify", "--db", url], capture_output=True, text=True, timeout=120, env=env
    )


def test_audit_verify_command(redis_rt):
    rt, url = redis_rt
    names = [audit.record("bot", "data.read", f"s-{i}") for i in range(4)]
    ok = _verify_cli(url)
    assert ok.returncode == 0 and "audit chain intact: 4 rows" in ok.stdout, ok.stdout + ok.stderr
    rt.store.delete(DT, names[3])
    cut = _verify_cli(url)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert names[2] in cut.stdout and "last row(s) were deleted" in cut.stdout
    rt.store.update(DT, names[1], {"action": "edited"})
    edited = _verify_cli(url)
    assert edited.returncode == 1 and f"row {names[1]} (sequence 2) was edited" in edited.stdout
    assert "Traceback" not in edited.stderr


@pytest.fixture
def no_redis_db(tmp_path, seeded_sqlite):
    """A standalone runtime with no Redis (in-process cache) and its database URL."""
    db = tmp_path / "audit-noredis.sqlite3"
    shutil.copyfile(seeded_sqlite, db)
    url = f"sqlite:///{db}"
    runtime = create_runtime(url, overrides={"redis_url": ""}, environ={}, workers=1)
    yield runtime, url
    shutdown(runtime)
    set_runtime(None)


def _verify_cli_without_redis(url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    return subprocess.run(
        CLI + ["audit", "verify", "--db", url], capture_output=True, text=True, timeout=120, env=env
    )


def test_the_anchor_is_kept_in_the_database_and_survives_a_restart_without_redis(no_redis_db):
    rt, url = no_redis_db
    names = [audit.record("bot", "data.read", f"s-{i}") for i in range(5)]
    anchor = rt.store.get(audit.ANCHOR_DOCTYPE, audit.ANCHOR_ROW)
    assert int(anchor["sequence"]) == 5 and anchor["hash"] == rt.store.get(DT, names[4])["hash"]
    # The last two rows go; the server restarts (its in-process cache, with the
    # cache anchor, is gone): a fresh process's `audit verify` still sees the cut.
    rt.store.delete(DT, names[4])
    rt.store.delete(DT, names[3])
    rt.cache.delete(audit.ANCHOR_KEY)
    cut = _verify_cli_without_redis(url)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert names[2] in cut.stdout and "2 last row(s) were deleted" in cut.stdout
    assert "anchor row kept in the database" in cut.stdout
    # Verifying does not move the database anchor back to the shortened head.
    assert int(rt.store.get(audit.ANCHOR_DOCTYPE, audit.ANCHOR_ROW)["sequence"]) == 5
    assert _verify_cli_without_redis(url).returncode == 1


def test_the_database_anchor_only_moves_forward(rt):
    audit.record("bot", "data.read", "a")
    audit.record("bot", "data.read", "b")
    audit._store_anchor(1, "old")  # a late writer with an older head changes nothing
    anchor = rt.store.get(audit.ANCHOR_DOCTYPE, audit.ANCHOR_ROW)
    assert int(anchor["sequence"]) == 2 and anchor["hash"] != "old"
    assert audit.verify().ok
