"""The audit log: a hash chain that verifies, names edited rows, masks identifiers."""

from __future__ import annotations

import json
import threading

import pytest

from assistant_crm.services.infra import audit
from assistant_crm.services.infra.ports import set_runtime

DT = audit.AUDIT_DOCTYPE


def _rows(rt):
    return rt.store.list(DT, order_by="sequence asc")


def test_chain_links_and_verifies(rt):
    names = [audit.record("agent@wcfcb.gov.zm", "session.take_over", f"sess-{i}", {"i": i}) for i in range(5)]
    rows = _rows(rt)
    assert [r["name"] for r in rows] == names
    assert [r["sequence"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["previous_hash"] == ""
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row["previous_hash"] == prev["hash"]
    assert len({r["hash"] for r in rows}) == 5
    assert audit.verify_chain() == []


def test_editing_details_names_that_row_only(rt):
    names = [audit.record("bot", "verification.failed", "sess-a", {"attempt": i}) for i in range(4)]
    rt.store.update(DT, names[2], {"details": json.dumps({"attempt": 0})})
    assert audit.verify_chain() == [names[2]]


def test_editing_actor_or_creation_is_detected(rt):
    names = [audit.record("bot", "data.read", "sess-b") for _ in range(3)]
    rt.store.update(DT, names[0], {"actor": "someone-else"})
    row = rt.store.get(DT, names[1])
    rt.store.update(DT, names[1], {"creation": row["creation"].replace(year=2020)})
    assert audit.verify_chain() == [names[0], names[1]]


def test_deleting_a_row_breaks_the_next_link(rt):
    names = [audit.record("system", "settings.changed", "Assistant CRM Settings") for _ in range(4)]
    rt.store.delete(DT, names[1])
    assert audit.verify_chain() == [names[2]]


def test_rewriting_a_row_with_a_fresh_hash_breaks_the_next_link(rt):
    # A forger who recomputes the edited row's own hash still breaks its successor's link.
    names = [audit.record("bot", "data.read", "s", {"n": i}) for i in range(3)]
    row = rt.store.get(DT, names[1])
    details = audit.serialise_details({"n": 99})
    new_hash = audit.compute_hash(
        row["previous_hash"],
        row["sequence"],
        row["actor"],
        row["action"],
        row["subject"],
        details,
        row["creation"],
    )
    rt.store.update(DT, names[1], {"details": details, "hash": new_hash})
    assert audit.verify_chain() == [names[2]]


def test_details_actor_and_subject_are_masked(rt):
    name = audit.record(
        "+260971234567",
        "verification.attempt",
        "NRC 123456/78/1",
        {
            "nrc": "123456/78/1",
            "phone": "+260 97 123 4567",
            "note": "caller said 0971234567",
            "number": 260971234567,
        },
    )
    row = rt.store.get(DT, name)
    stored = json.dumps(row, default=str)
    for secret in ("123456/78/1", "123456", "971234567", "1234567"):
        assert secret not in stored, secret
    details = json.loads(row["details"])
    assert details["nrc"] == "******/**/1"
    assert details["phone"].startswith("+260 97") and details["phone"].endswith("67")
    assert "**" in row["actor"] and "**" in row["subject"]
    assert audit.verify_chain() == []


def test_a_record_name_as_subject_is_kept_as_is(rt):
    # One hex record name in about 150 reads as an NRC or a phone number to the
    # masking; a subject that is a name must still find its entries.
    for subject in ("a123456789", "0418261791"):
        name = audit.record("manager@example.com", "retry_dead_letter", subject, subject_is_name=True)
        assert rt.store.get(DT, name)["subject"] == subject
    free = audit.record("bot", "verification.attempt", "0418261791")
    assert rt.store.get(DT, free)["subject"] != "0418261791"
    assert audit.verify_chain() == []


def test_masking_never_reaches_the_log(rt, caplog):
    audit.record("bot", "verification.failed", "x", {"nrc": "654321/12/3"})
    rt.store.update(DT, _rows(rt)[0]["name"], {"details": "{}"})
    assert audit.verify_chain()
    assert "654321" not in caplog.text


def test_record_needs_an_action(rt):
    with pytest.raises(ValueError, match="action"):
        audit.record("bot", "  ")
    assert rt.store.count(DT) == 0


def test_concurrent_writers_do_not_fork_the_chain(rt):
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        set_runtime(rt)
        try:
            for i in range(8):
                audit.record(f"worker-{k}", "data.read", f"s-{k}-{i}")
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    rows = _rows(rt)
    assert [r["sequence"] for r in rows] == list(range(1, 49))
    assert audit.verify_chain() == []


def test_writers_without_the_lock_still_do_not_fork(rt, monkeypatch):
    # When the lock cannot be had (held by a stuck writer, or a per-process cache
    # shared by several processes), the unique sequence column alone keeps one chain.
    assert rt.cache.add(audit.LOCK_KEY, "stuck-writer", ttl=120)
    monkeypatch.setattr(audit, "LOCK_WAIT_SECONDS", 0.01)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        set_runtime(rt)
        try:
            for i in range(5):
                audit.record(f"w{k}", "data.read", f"{k}-{i}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [r["sequence"] for r in _rows(rt)] == list(range(1, 21))
    assert audit.verify_chain() == []
    assert rt.cache.get(audit.LOCK_KEY) == "stuck-writer"  # nobody released a lock they did not hold


@pytest.mark.mariadb
def test_chain_on_mariadb_with_redis_lock(mariadb_rt):
    names = [audit.record("bot", "data.read", f"m{i}", {"claim": f"C-{i}"}) for i in range(4)]
    assert audit.verify_chain() == []
    mariadb_rt.store.update(DT, names[3], {"subject": "tampered"})
    assert audit.verify_chain() == [names[3]]
