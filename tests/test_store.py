"""The standalone store on SQLite and MariaDB: every DocType round-trips."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from assistant_crm.services.infra.errors import DuplicateError, ValidationError
from assistant_crm.standalone.schema import doctypes
from assistant_crm.standalone.store import SQLStore
from tests.support import throwaway_mariadb


@pytest.fixture(params=["sqlite", "mariadb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLStore(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        yield s
        s.close()
    else:
        with throwaway_mariadb() as url:
            s = SQLStore(url)
            yield s
            s.close()


def sample_value(f, i: int = 0):
    """A value of the right kind for a field (Select: its first option)."""
    t = f.fieldtype
    if t == "Select":
        return f.options.split("\n")[-1] if f.options else "x"
    if t in ("Int", "Long Int"):
        return 7 + i
    if t == "Check":
        return 1
    if t in ("Float", "Currency", "Percent"):
        return 0.8125
    if t == "Datetime":
        return dt.datetime(2026, 3, 1, 9, 15, 2, 123456)
    if t == "Date":
        return dt.date(2026, 3, 1)
    if t == "JSON":
        return {"k": [1, 2, "ü"], "n": i}
    if t == "Link":
        return f"link-{i}"
    return f"{f.fieldname} value {i} — Ünïcødé 😀 مرحبا"


@pytest.mark.parametrize("doctype", [d for d, spec in doctypes().items() if not spec.issingle])
def test_every_doctype_round_trips(store, doctype):
    spec = doctypes()[doctype]
    values = {f.fieldname: sample_value(f) for f in spec.fields}
    name = store.insert(doctype, values)
    row = store.get(doctype, name)
    assert row is not None
    for f in spec.fields:
        got, want = row[f.fieldname], values[f.fieldname]
        if f.fieldtype == "Datetime" and store.dialect == "sqlite":
            assert got == want
        elif isinstance(want, float):
            assert got == pytest.approx(want)
        else:
            assert got == want, f"{doctype}.{f.fieldname}"
    assert row["creation"] is not None and row["docstatus"] == 0
    assert store.count(doctype, {"name": name}) == 1
    store.delete(doctype, name)
    assert store.get(doctype, name) is None


def test_single_doctype_round_trips(store):
    store.set_single("Assistant CRM Settings", {"gemini_model": "gemini-x", "chat_rate_limit_per_minute": 12})
    store.set_single("Assistant CRM Settings", {"gemini_model": "gemini-y"})
    assert store.get_single("Assistant CRM Settings") == {
        "gemini_model": "gemini-y",
        "chat_rate_limit_per_minute": "12",
    }


def test_unique_field_clash_raises_duplicate(store):
    store.insert(
        "Omnichannel Message",
        {"platform": "whatsapp", "direction": "inbound", "idempotency_key": "whatsapp:1"},
    )
    with pytest.raises(DuplicateError):
        store.insert(
            "Omnichannel Message",
            {"platform": "whatsapp", "direction": "inbound", "idempotency_key": "whatsapp:1"},
        )
    assert store.count("Omnichannel Message") == 1


def test_concurrent_duplicates_store_one_row(store):
    results: list[str] = []

    def put():
        try:
            store.insert(
                "Omnichannel Message",
                {"platform": "sms", "direction": "inbound", "idempotency_key": "sms:dup"},
            )
            results.append("ok")
        except DuplicateError:
            results.append("dup")

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["dup"] * 7 + ["ok"]
    assert store.count("Omnichannel Message", {"idempotency_key": "sms:dup"}) == 1


def test_mandatory_and_select_are_validated(store):
    with pytest.raises(ValidationError, match="idempotency_key is mandatory"):
        store.insert("Omnichannel Message", {"platform": "sms", "direction": "inbound"})
    with pytest.raises(ValidationError, match="platform cannot be 'fax'"):
        store.insert(
            "Omnichannel Message", {"platform": "fax", "direction": "inbound", "idempotency_key": "x"}
        )
    with pytest.raises(ValidationError, match="no field 'bogus'"):
        store.insert("Chat Session", {"channel": "web", "bogus": 1})
    assert store.count("Omnichannel Message") == 0


def test_filters_ordering_and_compare_and_set(store):
    for i in range(5):
        store.insert(
            "Omnichannel Message",
            {
                "platform": "telegram",
                "direction": "outbound",
                "idempotency_key": f"k{i}",
                "sequence": i,
                "status": "queued",
            },
        )
    rows = store.list(
        "Omnichannel Message", {"sequence": (">=", 2)}, order_by="sequence asc", fields=["sequence"]
    )
    assert [r["sequence"] for r in rows] == [2, 3, 4]
    assert store.count("Omnichannel Message", {"idempotency_key": ("in", ["k1", "k3", "zz"])}) == 2
    # IN lists short (a parameter per value) and long (expanded per call), listed and updated.
    many = [f"k{i}" for i in range(40)]
    for keys, want in ((["k4"], [4]), (["k1", "k3"], [1, 3]), (many, [0, 1, 2, 3, 4])):
        got = store.list(
            "Omnichannel Message",
            {"idempotency_key": ("in", keys)},
            fields=["sequence"],
            order_by="sequence asc",
        )
        assert [r["sequence"] for r in got] == want
    not_in = store.list(
        "Omnichannel Message", {"idempotency_key": ("not in", ["k0", "k2"])}, order_by="sequence asc"
    )
    assert [r["sequence"] for r in not_in] == [1, 3, 4]
    assert (
        store.update_where("Omnichannel Message", {"idempotency_key": ("in", ["k3", "k4"])}, {"attempts": 2})
        == 2
    )
    assert store.count("Omnichannel Message", {"attempts": 2, "idempotency_key": ("in", many)}) == 2
    assert store.count("Omnichannel Message", {"idempotency_key": ("like", "k%")}) == 5
    first = store.get_by("Omnichannel Message", {"sequence": 0})
    assert (
        store.update_where(
            "Omnichannel Message", {"name": first["name"], "status": "queued"}, {"status": "sending"}
        )
        == 1
    )
    # The second claim of the same row finds it taken.
    assert (
        store.update_where(
            "Omnichannel Message", {"name": first["name"], "status": "queued"}, {"status": "sending"}
        )
        == 0
    )
    assert store.get("Omnichannel Message", first["name"])["status"] == "sending"
    assert (
        store.list(
            "Omnichannel Message", {"last_error": ("is", "not set")}, limit=2, order_by="sequence desc"
        )[0]["sequence"]
        == 4
    )


def test_autoname_by_field(store):
    name = store.insert(
        "Knowledge Base Article", {"title": "T", "slug": "report-accident", "body": "b", "source": "s"}
    )
    assert name == "report-accident"
    with pytest.raises(DuplicateError):
        store.insert(
            "Knowledge Base Article", {"title": "T2", "slug": "report-accident", "body": "b", "source": "s"}
        )


def test_bad_filter_field_is_a_validation_error(store):
    with pytest.raises(ValidationError, match="no field 'nope'"):
        store.list("Chat Session", {"nope": 1})
    with pytest.raises(ValidationError, match="Unknown DocType"):
        store.get("No Such Thing", "x")


def test_mariadb_driver_path_reads_what_sqlalchemy_reads():
    """On MariaDB the store runs its fixed statement shapes on the DBAPI
    connection (compiled once): rows, types and counts must be what the same
    statements give through SQLAlchemy, and engine listeners still see them."""
    import sqlalchemy as sa

    with throwaway_mariadb() as url:
        store = SQLStore(url)
        try:
            for doctype, spec in doctypes().items():
                if spec.issingle:
                    continue
                values = {f.fieldname: sample_value(f, 3) for f in spec.fields}
                name = store.insert(doctype, values)
                table = store._table(doctype)
                with store.engine.connect() as conn:
                    want = dict(conn.execute(sa.select(table).where(table.c.name == name)).one()._mapping)
                got = store.list(doctype, {"name": name}, limit=1)[0]
                want = store._decode(spec, want)
                assert got == want, doctype
                assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
            seen: list[str] = []
            listener = lambda conn, cursor, statement, *a: seen.append(statement.split()[0])  # noqa: E731
            sa.event.listen(store._auto, "before_cursor_execute", listener)
            sa.event.listen(store.engine, "before_cursor_execute", listener)
            doctype = "Webhook Activity Log"
            names = [store.insert(doctype, {"platform": "test", "status_code": i}) for i in range(3)]
            with store.transaction():
                assert (
                    store.update_where(doctype, {"name": names[0], "status_code": 0}, {"status_code": 9}) == 1
                )
                assert (
                    store.update_where(doctype, {"name": names[0], "status_code": 0}, {"status_code": 8}) == 0
                )
            assert [
                r["status_code"]
                for r in store.list(doctype, {"name": ("in", names)}, order_by="status_code asc")
            ] == [1, 2, 9]
            assert seen == ["INSERT"] * 3 + ["UPDATE", "UPDATE", "SELECT"]
            assert store._driver_statements, "the driver path was not taken"
        finally:
            store.close()
