"""SQL tables generated from the DocType JSON, as Frappe would create them.

The DocType JSON is the one source of the schema: each non-single DocType
becomes ``tab<DocType>`` with Frappe's standard columns and a column per value
field (types as Frappe v15's MariaDB type map); Single DocTypes live in
``tabSingles`` (doctype, field, value) as in Frappe.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from assistant_crm.config.indexes import COMPOSITE_INDEXES

log = logging.getLogger("assistant_crm.schema")

DOCTYPE_DIR = Path(__file__).resolve().parent.parent / "assistant_crm" / "doctype"
VARCHAR_LEN = 140
NO_VALUE_TYPES = {
    "Section Break",
    "Column Break",
    "Tab Break",
    "HTML",
    "Button",
    "Image",
    "Fold",
    "Heading",
    "Table",
    "Table MultiSelect",
}
STANDARD_COLUMNS = ("name", "creation", "modified", "modified_by", "owner", "docstatus", "idx")

# Frappe v15 frappe/database/mariadb/database.py type_map, as (kind, length).
TYPE_MAP: dict[str, tuple[str, str]] = {
    "Currency": ("decimal", "21,9"),
    "Int": ("int", "11"),
    "Long Int": ("bigint", "20"),
    "Float": ("decimal", "21,9"),
    "Percent": ("decimal", "21,9"),
    "Check": ("int", "1"),
    "Small Text": ("text", ""),
    "Long Text": ("longtext", ""),
    "Code": ("longtext", ""),
    "Text Editor": ("longtext", ""),
    "Markdown Editor": ("longtext", ""),
    "HTML Editor": ("longtext", ""),
    "Date": ("date", ""),
    "Datetime": ("datetime", "6"),
    "Time": ("time", "6"),
    "Text": ("text", ""),
    "Data": ("varchar", ""),
    "Link": ("varchar", ""),
    "Dynamic Link": ("varchar", ""),
    "Password": ("text", ""),
    "Select": ("varchar", ""),
    "Rating": ("decimal", "3,2"),
    "Read Only": ("varchar", ""),
    "Attach": ("text", ""),
    "Attach Image": ("text", ""),
    "Signature": ("longtext", ""),
    "Color": ("varchar", ""),
    "Barcode": ("longtext", ""),
    "Geolocation": ("longtext", ""),
    "Duration": ("decimal", "21,9"),
    "Icon": ("varchar", ""),
    "Phone": ("varchar", ""),
    "Autocomplete": ("varchar", ""),
    "JSON": ("json", ""),
}


@dataclass(frozen=True)
class FieldDef:
    fieldname: str
    fieldtype: str
    unique: bool = False
    search_index: bool = False
    default: Any = None
    length: int = 0
    options: str = ""
    reqd: bool = False


@dataclass(frozen=True)
class DocTypeDef:
    name: str
    issingle: bool
    autoname: str
    fields: tuple[FieldDef, ...]

    @property
    def table(self) -> str:
        return f"tab{self.name}"

    def field(self, fieldname: str) -> FieldDef | None:
        for f in self.fields:
            if f.fieldname == fieldname:
                return f
        return None

    @property
    def fieldnames(self) -> tuple[str, ...]:
        return tuple(f.fieldname for f in self.fields)


def _load(path: Path) -> DocTypeDef:
    doc = json.loads(path.read_text())
    fields = tuple(
        FieldDef(
            fieldname=f["fieldname"],
            fieldtype=f["fieldtype"],
            unique=bool(f.get("unique")),
            search_index=bool(f.get("search_index")),
            default=f.get("default"),
            length=int(f.get("length") or 0),
            options=f.get("options") or "",
            reqd=bool(f.get("reqd")),
        )
        for f in doc.get("fields", [])
        if f.get("fieldtype") not in NO_VALUE_TYPES
    )
    return DocTypeDef(
        name=doc["name"],
        issingle=bool(doc.get("issingle")),
        autoname=doc.get("autoname") or "hash",
        fields=fields,
    )


@functools.lru_cache(maxsize=1)
def doctypes() -> dict[str, DocTypeDef]:
    """Every DocType of the app, read from its JSON."""
    out: dict[str, DocTypeDef] = {}
    for path in sorted(DOCTYPE_DIR.glob("*/*.json")):
        if path.stem != path.parent.name:
            continue
        d = _load(path)
        out[d.name] = d
    return out


def column_type(f: FieldDef, dialect: str) -> sa.types.TypeEngine:
    kind, length = TYPE_MAP.get(f.fieldtype, ("varchar", ""))
    if kind == "varchar":
        return sa.String(f.length or VARCHAR_LEN)
    if kind == "int":
        return sa.Integer()
    if kind == "bigint":
        return sa.BigInteger()
    if kind == "decimal":
        p, s = (int(x) for x in length.split(","))
        return sa.Numeric(p, s, asdecimal=False)
    if kind == "text":
        return sa.Text()
    if kind in ("longtext", "json"):
        return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
    if kind == "date":
        return sa.Date()
    if kind == "datetime":
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    if kind == "time":
        return sa.Time().with_variant(mysql.TIME(fsp=6), "mysql", "mariadb")
    raise ValueError(f"No column type for {f.fieldtype}")


def build_metadata() -> sa.MetaData:
    """SQLAlchemy tables for every DocType (plus tabSingles)."""
    md = sa.MetaData()
    for d in doctypes().values():
        if d.issingle:
            continue
        cols: list[sa.Column] = [
            sa.Column("name", sa.String(VARCHAR_LEN), primary_key=True),
            sa.Column(
                "creation", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"), index=True
            ),
            sa.Column(
                "modified", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"), index=True
            ),
            sa.Column("modified_by", sa.String(VARCHAR_LEN)),
            sa.Column("owner", sa.String(VARCHAR_LEN)),
            sa.Column("docstatus", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("idx", sa.Integer(), nullable=False, server_default="0"),
        ]
        for f in d.fields:
            cols.append(
                sa.Column(
                    f.fieldname,
                    column_type(f, ""),
                    unique=f.unique or None,
                    index=(f.search_index or f.unique) or None,
                )
            )
        table = sa.Table(
            d.table,
            md,
            *cols,
            mysql_engine="InnoDB",
            mysql_charset="utf8mb4",
            mysql_collate="utf8mb4_unicode_ci",
        )
        for i, combo in enumerate(COMPOSITE_INDEXES.get(d.name, [])):
            sa.Index(f"ix_{d.name.lower().replace(' ', '_')}_c{i}", *(table.c[c] for c in combo))
    sa.Table(
        "tabSingles",
        md,
        sa.Column("doctype", sa.String(VARCHAR_LEN), primary_key=True),
        sa.Column("field", sa.String(VARCHAR_LEN), primary_key=True),
        sa.Column("value", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    return md


def sync_schema(engine: sa.Engine, md: sa.MetaData) -> list[str]:
    """Create missing tables and add missing columns/indexes; returns what changed."""
    changes: list[str] = []
    insp = sa.inspect(engine)
    existing = set(insp.get_table_names())
    with engine.begin() as conn:
        for table in md.sorted_tables:
            if table.name not in existing:
                table.create(conn)
                changes.append(f"create {table.name}")
                continue
            have = {c["name"] for c in insp.get_columns(table.name)}
            for col in table.columns:
                if col.name in have:
                    continue
                ddl = sa.schema.CreateColumn(col).compile(dialect=engine.dialect)
                conn.execute(
                    sa.text(
                        f"ALTER TABLE {engine.dialect.identifier_preparer.quote(table.name)} ADD COLUMN {ddl}"
                    )
                )
                changes.append(f"add {table.name}.{col.name}")
            have_idx = {i["name"] for i in insp.get_indexes(table.name)}
            for idx in table.indexes:
                if idx.name not in have_idx:
                    try:
                        idx.create(conn)
                        changes.append(f"index {idx.name}")
                    except sa.exc.OperationalError as e:  # an index of the same shape under another name
                        log.info("index %s not created: %s", idx.name, e.orig)
    if changes:
        log.info("schema sync: %s", ", ".join(changes))
    return changes


def schema_diff(engine: sa.Engine, md: sa.MetaData) -> list[str]:
    """What the database lacks compared with the DocType JSON (empty when in step)."""
    insp = sa.inspect(engine)
    existing = set(insp.get_table_names())
    missing: list[str] = []
    for table in md.sorted_tables:
        if table.name not in existing:
            missing.append(f"table {table.name}")
            continue
        have = {c["name"] for c in insp.get_columns(table.name)}
        missing.extend(f"column {table.name}.{c.name}" for c in table.columns if c.name not in have)
    return missing
