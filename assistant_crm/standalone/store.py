"""The standalone store: DocType rows in SQL through SQLAlchemy Core.

Works on SQLite (a file, the default) and MariaDB (``mysql+pymysql://``). It
validates as Frappe's ``doc.insert()`` would where it matters to the engine
(mandatory fields, Select options, unique fields) so code behaves the same in
both runtimes.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from assistant_crm.services.errors import DuplicateError, ValidationError
from assistant_crm.services.ports import Clock, Row, SystemClock
from assistant_crm.standalone.schema import DocTypeDef, build_metadata, doctypes, sync_schema

log = logging.getLogger("assistant_crm.store")

_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "is"}


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened."""


def make_engine(database_url: str) -> sa.Engine:
    """An engine tuned for the runtime: WAL + busy timeout on SQLite, pre-ping on MariaDB."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=10,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.get_backend_name() in ("mysql", "mariadb"):
        query = dict(url.query)
        query.setdefault("charset", "utf8mb4")
        url = url.set(query=query)
        return sa.create_engine(url, pool_pre_ping=True, pool_recycle=3600, pool_size=10, max_overflow=20)
    return sa.create_engine(url, pool_pre_ping=True)


class SQLStore:
    """Implements :class:`assistant_crm.services.ports.Store`."""

    def __init__(self, database_url: str, *, clock: Clock | None = None, sync: bool = True):
        self.database_url = database_url
        self.engine = make_engine(database_url)
        self.clock = clock or SystemClock()
        # The open transaction of this thread/task, if any (see transaction()).
        self._tx: contextvars.ContextVar[sa.Connection | None] = contextvars.ContextVar(
            f"acrm_store_tx_{id(self)}", default=None
        )
        self.metadata = build_metadata()
        self.defs = doctypes()
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as e:
            raise DatabaseUnavailable(
                f"cannot connect to the database ({self.safe_url}): {e.orig or e}"
            ) from None
        if sync:
            sync_schema(self.engine, self.metadata)

    @property
    def safe_url(self) -> str:
        return sa.make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- helpers ---------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the calls inside into one database transaction (one commit).

        A chat turn writes two Chat History rows and the session; committing
        them once instead of three times is most of a turn's cost on MariaDB.
        Nested use joins the outer transaction; an exception rolls it back.
        """
        if self._tx.get() is not None:
            yield
            return
        with self.engine.begin() as conn:
            token = self._tx.set(conn)
            try:
                yield
            finally:
                self._tx.reset(token)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        conn = self._tx.get()
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        conn = self._tx.get()
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            yield conn

    def _def(self, doctype: str) -> DocTypeDef:
        d = self.defs.get(doctype)
        if d is None:
            raise ValidationError(f"Unknown DocType {doctype!r}")
        return d

    def _table(self, doctype: str) -> sa.Table:
        d = self._def(doctype)
        if d.issingle:
            raise ValidationError(f"{doctype} is a Single DocType")
        return self.metadata.tables[d.table]

    def _encode(self, d: DocTypeDef, values: Row, *, partial: bool) -> Row:
        out: Row = {}
        for key, value in values.items():
            if key in ("creation", "modified", "modified_by", "owner", "docstatus", "idx", "name"):
                out[key] = value
                continue
            f = d.field(key)
            if f is None:
                raise ValidationError(f"{d.name} has no field {key!r}", field=key)
            if f.fieldtype == "JSON" and value is not None and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False, default=str)
            elif f.fieldtype == "Check":
                value = 1 if value and value not in ("0", "false", "False") else 0
            elif f.fieldtype in ("Int", "Long Int") and value not in (None, ""):
                value = int(value)
            elif f.fieldtype in ("Float", "Currency", "Percent") and value not in (None, ""):
                value = float(value)
            elif f.fieldtype == "Datetime" and isinstance(value, str) and value:
                value = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
            elif f.fieldtype == "Date" and isinstance(value, str) and value:
                value = date.fromisoformat(value)
            if f.fieldtype == "Select" and value not in (None, "") and f.options:
                if str(value) not in f.options.split("\n"):
                    raise ValidationError(f"{d.name}: {key} cannot be {value!r}", field=key)
            out[key] = value
        return out

    def _decode(self, d: DocTypeDef, row: sa.Row | dict) -> Row:
        data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
        for f in d.fields:
            if f.fieldtype == "JSON" and isinstance(data.get(f.fieldname), str) and data[f.fieldname]:
                try:
                    data[f.fieldname] = json.loads(data[f.fieldname])
                except ValueError:
                    pass
        return data

    def _where(self, table: sa.Table, filters: Row | None) -> list[Any]:
        clauses = []
        for key, cond in (filters or {}).items():
            if key not in table.c:
                raise ValidationError(f"{table.name[3:]} has no field {key!r}", field=key)
            col = table.c[key]
            op, value = ("=", cond)
            if (
                isinstance(cond, tuple)
                and len(cond) == 2
                and isinstance(cond[0], str)
                and cond[0].lower() in _OPS
            ):
                op, value = cond[0].lower(), cond[1]
            if isinstance(value, (dict, list)) and op not in ("in", "not in"):
                value = json.dumps(value)
            if op == "=":
                clauses.append(col.is_(None) if value is None else col == value)
            elif op == "!=":
                clauses.append(col.is_not(None) if value is None else sa.or_(col != value, col.is_(None)))
            elif op == "<":
                clauses.append(col < value)
            elif op == "<=":
                clauses.append(col <= value)
            elif op == ">":
                clauses.append(col > value)
            elif op == ">=":
                clauses.append(col >= value)
            elif op == "in":
                clauses.append(col.in_(list(value)))
            elif op == "not in":
                clauses.append(col.not_in(list(value)))
            elif op == "like":
                clauses.append(col.like(value))
            elif op == "is":
                clauses.append(col.is_not(None) if value == "set" else col.is_(None))
        return clauses

    def _order(self, table: sa.Table, order_by: str | None) -> list[Any]:
        if not order_by:
            return [table.c.creation.desc(), table.c.name.desc()]
        out = []
        for part in order_by.split(","):
            bits = part.strip().split()
            col_name = bits[0].strip("`")
            if col_name not in table.c:
                raise ValidationError(f"cannot order by {col_name!r}", field=col_name)
            col = table.c[col_name]
            out.append(col.desc() if len(bits) > 1 and bits[1].lower() == "desc" else col.asc())
        return out

    # -- Store port ------------------------------------------------------
    def insert(self, doctype: str, values: Row) -> str:
        d = self._def(doctype)
        table = self._table(doctype)
        now = self.clock.now()
        row = {f.fieldname: _default(f) for f in d.fields if f.default not in (None, "")}
        row.update(self._encode(d, values, partial=False))
        for f in d.fields:
            if f.reqd and row.get(f.fieldname) in (None, ""):
                raise ValidationError(f"{doctype}: {f.fieldname} is mandatory", field=f.fieldname)
        if not row.get("name"):
            if d.autoname.startswith("field:"):
                row["name"] = row.get(d.autoname.split(":", 1)[1])
            if not row.get("name"):
                row["name"] = secrets.token_hex(5)
        row.setdefault("creation", now)
        row.setdefault("modified", now)
        row.setdefault("owner", "Administrator")
        row.setdefault("modified_by", row["owner"])
        row.setdefault("docstatus", 0)
        row.setdefault("idx", 0)
        try:
            with self._writing() as conn:
                # Values as parameters, not .values(**row): the statement compiles once
                # per column set and is cached, instead of coercing every value each time.
                conn.execute(table.insert(), row)
        except sa.exc.IntegrityError as e:
            msg = str(e.orig)
            if "UNIQUE" in msg.upper() or "Duplicate" in msg or "1062" in msg:
                raise DuplicateError(f"{doctype} {row['name']!r} clashes with an existing row") from None
            raise ValidationError(f"{doctype}: {msg}") from None
        return str(row["name"])

    def get(self, doctype: str, name: str) -> Row | None:
        d = self._def(doctype)
        table = self._table(doctype)
        with self._reading() as conn:
            r = conn.execute(sa.select(table).where(table.c.name == name)).first()
        return self._decode(d, r) if r is not None else None

    def get_by(self, doctype: str, filters: Row, order_by: str | None = None) -> Row | None:
        rows = self.list(doctype, filters, order_by=order_by, limit=1)
        return rows[0] if rows else None

    def list(
        self,
        doctype: str,
        filters: Row | None = None,
        *,
        fields: Iterable[str] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Row]:
        d = self._def(doctype)
        table = self._table(doctype)
        cols = [table.c[f] for f in fields] if fields else [table]
        q = sa.select(*cols).where(*self._where(table, filters)).order_by(*self._order(table, order_by))
        if limit is not None:
            q = q.limit(int(limit))
        if offset:
            q = q.offset(int(offset))
        with self._reading() as conn:
            return [self._decode(d, r) for r in conn.execute(q)]

    def count(self, doctype: str, filters: Row | None = None) -> int:
        table = self._table(doctype)
        q = sa.select(sa.func.count()).select_from(table).where(*self._where(table, filters))
        with self._reading() as conn:
            return int(conn.execute(q).scalar_one())

    def update(self, doctype: str, name: str, values: Row) -> None:
        self.update_where(doctype, {"name": name}, values)

    def update_where(self, doctype: str, filters: Row, values: Row) -> int:
        d = self._def(doctype)
        table = self._table(doctype)
        data = self._encode(d, values, partial=True)
        data.setdefault("modified", self.clock.now())
        try:
            with self._writing() as conn:
                res = conn.execute(table.update().where(*self._where(table, filters)), data)
        except sa.exc.IntegrityError as e:
            raise DuplicateError(f"{doctype}: update clashes with an existing row ({e.orig})") from None
        return int(res.rowcount or 0)

    def delete(self, doctype: str, name: str) -> None:
        table = self._table(doctype)
        with self._writing() as conn:
            conn.execute(table.delete().where(table.c.name == name))

    def get_single(self, doctype: str) -> Row:
        d = self._def(doctype)
        t = self.metadata.tables["tabSingles"]
        with self._reading() as conn:
            rows = conn.execute(sa.select(t.c.field, t.c.value).where(t.c.doctype == doctype)).all()
        return {r.field: r.value for r in rows if d.field(r.field) is not None}

    def set_single(self, doctype: str, values: Row) -> None:
        d = self._def(doctype)
        t = self.metadata.tables["tabSingles"]
        enc = self._encode(d, values, partial=True)
        with self._writing() as conn:
            for field, value in enc.items():
                conn.execute(t.delete().where(t.c.doctype == doctype, t.c.field == field))
                conn.execute(
                    t.insert().values(
                        doctype=doctype, field=field, value=None if value is None else str(value)
                    )
                )

    def commit(self) -> None:
        """Each call commits on its own; nothing is pending."""

    def close(self) -> None:
        self.engine.dispose()


def _default(f: Any) -> Any:
    if f.fieldtype in ("Check", "Int", "Long Int"):
        try:
            return int(f.default)
        except (TypeError, ValueError):
            return 0
    if f.fieldtype in ("Float", "Currency", "Percent"):
        try:
            return float(f.default)
        except (TypeError, ValueError):
            return 0.0
    return f.default
