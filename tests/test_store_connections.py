"""The MariaDB store's connection handling: no pre-ping and no rollback round
trip per call, yet a killed connection or a MariaDB restart costs no failed
single call, and no pooled connection keeps a transaction (a REPEATABLE READ
snapshot) open."""

from __future__ import annotations

import collections

import pymysql
import pytest

from assistant_crm.standalone.store import SQLStore
from tests.support import MARIADB_HOST, MARIADB_PORT, throwaway_mariadb

DOCTYPE = "Webhook Activity Log"


def _row(i: int) -> dict:
    return {"platform": "test", "path": f"/p/{i}", "method": "POST", "status_code": 200}


@pytest.fixture
def mstore():
    with throwaway_mariadb() as url:
        s = SQLStore(url)
        yield s, url.rsplit("/", 1)[1]
        s.close()


def _admin() -> pymysql.connections.Connection:
    return pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)


def _kill_all(db: str) -> int:
    """KILL every connection the store holds to its database (from another connection)."""
    admin = _admin()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s", (db,))
            ids = [r[0] for r in cur.fetchall() if r[0] != admin.thread_id()]
            for cid in ids:
                cur.execute(f"KILL {int(cid)}")
        return len(ids)
    finally:
        admin.close()


def _warm(store: SQLStore) -> None:
    """Put pooled connections in both engines (single calls and a transaction)."""
    store.insert(DOCTYPE, _row(0))
    with store.transaction():
        store.insert(DOCTYPE, _row(1))
    assert store.count(DOCTYPE) == 2


def test_single_calls_survive_killed_connections(mstore):
    store, db = mstore
    _warm(store)
    assert _kill_all(db) >= 2
    # Every kind of single call works at once: the dead connection is retried once.
    name = store.insert(DOCTYPE, _row(2))
    assert store.get(DOCTYPE, name)["path"] == "/p/2"
    assert store.count(DOCTYPE) == 3
    assert _kill_all(db) >= 1
    assert store.update_where(DOCTYPE, {"name": name}, {"status_code": 201}) == 1
    assert _kill_all(db) >= 1
    assert [r["status_code"] for r in store.list(DOCTYPE, {"name": name})] == [201]
    # The transaction engine learnt of the loss and pings its older connections.
    with store.transaction():
        store.insert(DOCTYPE, _row(3))
    assert store.count(DOCTYPE) == 4


def test_a_transaction_on_a_killed_connection_fails_once_then_works(mstore):
    store, db = mstore
    _warm(store)
    _kill_all(db)
    failures = 0
    for i in range(3):
        try:
            with store.transaction():
                store.insert(DOCTYPE, _row(10 + i))
                store.insert(DOCTYPE, _row(20 + i))
        except Exception:
            failures += 1
    assert failures <= 1
    assert store.count(DOCTYPE) == 2 + 2 * (3 - failures)


def test_no_snapshot_is_kept_between_calls(mstore):
    """Rows committed elsewhere are seen by the next call (no REPEATABLE READ
    snapshot left open on a pooled connection), in and out of transactions."""
    store, db = mstore
    _warm(store)
    other = _admin()
    try:
        with other.cursor() as cur:
            for i in range(3):
                before = store.count(DOCTYPE)
                with store.transaction():
                    assert store.count(DOCTYPE) == before
                cur.execute(
                    f"INSERT INTO `{db}`.`tabWebhook Activity Log` (name, platform, status_code) "
                    "VALUES (%s, 'other', 200)",
                    (f"other-{i}",),
                )
                assert store.count(DOCTYPE) == before + 1
                with store.transaction():
                    assert store.count(DOCTYPE) == before + 1
    finally:
        other.close()


def test_a_connection_returned_mid_transaction_is_rolled_back(mstore):
    store, db = mstore
    _warm(store)
    raw = store.engine.raw_connection()  # a pooled connection used without SQLAlchemy's Connection
    with raw.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.`tabWebhook Activity Log`")
        assert cur.fetchone()[0] == 2
        cur.execute(f"UPDATE `{db}`.`tabWebhook Activity Log` SET status_code = 500")
    raw.close()  # back to the pool with a snapshot and an uncommitted write
    assert store.count(DOCTYPE, {"status_code": 500}) == 0  # the write was rolled back
    store.insert(DOCTYPE, _row(5))
    with store.engine.connect() as conn:  # the same pooled connection: no stale snapshot
        import sqlalchemy as sa

        n = conn.execute(sa.text(f"SELECT COUNT(*) FROM `{db}`.`tabWebhook Activity Log`")).scalar_one()
    assert n == 3


def test_round_trips_per_call(mstore, monkeypatch):
    """One round trip for a single insert/read; statements + one COMMIT for a transaction."""
    store, _ = mstore
    _warm(store)
    sent: collections.Counter = collections.Counter()
    original = pymysql.connections.Connection._execute_command

    def counting(self, command, sql):  # noqa: ANN001, ANN202
        text = sql if isinstance(sql, str) else bytes(sql).decode(errors="replace")
        sent[text.split()[0].upper() if text.strip() else f"command {command}"] += 1
        return original(self, command, sql)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", counting)
    name = store.insert(DOCTYPE, _row(7))
    assert dict(sent) == {"INSERT": 1}
    sent.clear()
    store.get(DOCTYPE, name)
    store.list(DOCTYPE, {"platform": "test"}, limit=5)
    assert dict(sent) == {"SELECT": 2}
    sent.clear()
    with store.transaction():
        store.insert(DOCTYPE, _row(8))
        store.update(DOCTYPE, name, {"status_code": 202})
    assert dict(sent) == {"INSERT": 1, "UPDATE": 1, "COMMIT": 1}
