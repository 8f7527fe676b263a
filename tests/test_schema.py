"""The SQL schema follows the DocType JSON: one source for both runtimes."""

from __future__ import annotations

import json

import sqlalchemy as sa

from assistant_crm.standalone import schema
from assistant_crm.standalone.schema import (
    STANDARD_COLUMNS,
    build_metadata,
    doctypes,
    schema_diff,
    sync_schema,
)
from assistant_crm.standalone.store import SQLStore


def test_tables_have_standard_columns_and_json_fields(tmp_path):
    store = SQLStore(f"sqlite:///{tmp_path / 's.sqlite3'}")
    insp = sa.inspect(store.engine)
    for d in doctypes().values():
        if d.issingle:
            continue
        cols = [c["name"] for c in insp.get_columns(d.table)]
        assert cols[: len(STANDARD_COLUMNS)] == list(STANDARD_COLUMNS)
        assert set(cols) == set(STANDARD_COLUMNS) | set(d.fieldnames), d.name
    assert "tabSingles" in insp.get_table_names()
    assert schema_diff(store.engine, store.metadata) == []


def test_unique_and_search_indexes_follow_the_json(tmp_path):
    store = SQLStore(f"sqlite:///{tmp_path / 's.sqlite3'}")
    insp = sa.inspect(store.engine)
    for d in doctypes().values():
        if d.issingle:
            continue
        idx = insp.get_indexes(d.table)
        indexed = {tuple(i["column_names"]) for i in idx}
        uniques = {tuple(i["column_names"]) for i in idx if i["unique"]}
        uniques |= {tuple(u["column_names"]) for u in insp.get_unique_constraints(d.table)}
        for f in d.fields:
            if f.unique:
                assert (f.fieldname,) in uniques, f"{d.name}.{f.fieldname} should be unique"
            if f.search_index:
                assert (f.fieldname,) in indexed, f"{d.name}.{f.fieldname} should be indexed"
    assert ("idempotency_key",) in {
        tuple(i["column_names"]) for i in insp.get_indexes("tabOmnichannel Message") if i["unique"]
    }
    assert ("session", "creation") in {tuple(i["column_names"]) for i in insp.get_indexes("tabChat History")}


def test_a_field_added_to_the_json_is_missing_until_synced(tmp_path, monkeypatch):
    """Adding a field to a DocType JSON without the table following is detected, and sync adds it."""
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    SQLStore(url).close()
    folder = tmp_path / "doctype" / "chat_session"
    folder.mkdir(parents=True)
    src = schema.DOCTYPE_DIR / "chat_session" / "chat_session.json"
    doc = json.loads(src.read_text())
    doc["fields"].append({"fieldname": "satisfaction", "fieldtype": "Int", "label": "Satisfaction"})
    (folder / "chat_session.json").write_text(json.dumps(doc))
    monkeypatch.setattr(schema, "DOCTYPE_DIR", tmp_path / "doctype")
    schema.doctypes.cache_clear()
    try:
        md = build_metadata()
        engine = sa.create_engine(url)
        assert schema_diff(engine, md) == ["column tabChat Session.satisfaction"]
        assert sync_schema(engine, md) == ["add tabChat Session.satisfaction"]
        assert schema_diff(engine, md) == []
        engine.dispose()
    finally:
        schema.doctypes.cache_clear()


def test_column_types_follow_frappe(tmp_path):
    store = SQLStore(f"sqlite:///{tmp_path / 's.sqlite3'}")
    cols = {c["name"]: c for c in sa.inspect(store.engine).get_columns("tabChat History")}
    assert isinstance(cols["session"]["type"], sa.String) and cols["session"]["type"].length == 140
    assert isinstance(cols["confidence"]["type"], sa.Numeric)
    assert isinstance(cols["text"]["type"], sa.Text)


def test_frappe_controllers_add_the_composite_indexes():
    """Under Frappe the same composite indexes come from each controller's on_doctype_update."""
    import ast

    from assistant_crm.config.indexes import COMPOSITE_INDEXES

    for doctype in COMPOSITE_INDEXES:
        folder = doctype.lower().replace(" ", "_")
        tree = ast.parse((schema.DOCTYPE_DIR / folder / f"{folder}.py").read_text())
        funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "on_doctype_update" in funcs, doctype
        assert f'add_frappe_indexes("{doctype}")' in ast.unparse(funcs["on_doctype_update"]).replace("'", '"')
