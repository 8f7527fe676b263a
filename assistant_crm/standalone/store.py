"""The standalone store: DocType rows in SQL through SQLAlchemy Core.

Works on SQLite (a file, the default) and MariaDB (``mysql+pymysql://``). It
validates as Frappe's ``doc.insert()`` would where it matters to the engine
(mandatory fields, Select options, unique fields) so code behaves the same in
both runtimes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from assistant_crm.services.infra.errors import DuplicateError, ValidationError
from assistant_crm.services.infra.ports import Clock, Row, SystemClock
from assistant_crm.standalone.schema import DocTypeDef, build_metadata, doctypes, sync_schema

log = logging.getLogger("assistant_crm.store")

_T = TypeVar("_T")

_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "is"}
SMALL_IN = 8  # IN lists up to this long get a statement shape per length (see SQLStore._plan)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened."""


# A pooled MariaDB connection unused for longer than this is pinged when checked
# out (a restart or wait_timeout in between is found before a statement fails);
# busy connections are not: a lost one fails its call, which is retried once.
IDLE_PING_SECONDS = 5.0


def make_engine(
    database_url: str, *, autocommit: bool = False, health: dict[str, float] | None = None
) -> sa.Engine:
    """An engine tuned for the runtime.

    SQLite: WAL + busy timeout. MariaDB: no pre-ping round trip on every
    checkout (see :data:`IDLE_PING_SECONDS` and :meth:`SQLStore._run`) and no
    rollback round trip when a connection whose transaction already ended is
    returned. ``autocommit=True`` (MariaDB only) gives the engine for
    single-statement calls: each statement commits by itself on the server, so
    an INSERT is one round trip, and no snapshot is ever left open.
    ``health`` may be shared by engines on the same server: a lost connection
    seen by one makes the others ping their older pooled connections.
    """
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
        options: dict[str, Any] = {}
        if autocommit:
            options = {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
        engine = sa.create_engine(
            url,
            pool_pre_ping=False,
            pool_recycle=3600,
            pool_size=10,
            max_overflow=20,
            pool_reset_on_return=None,  # _reset_if_needed below instead
            **options,
        )
        _install_mysql_events(engine, autocommit=autocommit, health=health if health is not None else {})
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


_CLEAN = "acrm_clean"  # connection record info: the last transaction was committed
_USED = "acrm_used"  # connection record info: monotonic time of the last check-in
_SERVER_STATUS_IN_TRANS = 1  # MySQL protocol server status flag


def _install_mysql_events(engine: sa.Engine, *, autocommit: bool, health: dict[str, float]) -> None:
    """Pool hooks replacing pre-ping and rollback-on-return (see make_engine)."""

    @event.listens_for(engine, "begin")
    def _begun(conn: sa.Connection) -> None:
        conn.info[_CLEAN] = False

    @event.listens_for(engine, "commit")
    def _committed(conn: sa.Connection) -> None:
        # Fired just before the DBAPI commit; a failing commit goes through
        # handle_error, which takes the mark back.
        conn.info[_CLEAN] = True

    @event.listens_for(engine, "handle_error")
    def _failed(ctx: Any) -> None:
        if ctx.is_disconnect:
            health["lost_at"] = time.monotonic()
        if ctx.connection is not None and not ctx.connection.closed:
            with contextlib.suppress(Exception):
                ctx.connection.info[_CLEAN] = False

    @event.listens_for(engine, "reset")
    def _reset_if_needed(dbapi_conn: Any, record: Any, state: Any) -> None:
        """Roll back on return unless the transaction is known to be over:
        rolled back by SQLAlchemy already, or committed (no write pending, as
        the server's in-transaction flag confirms), or an autocommit
        connection outside any explicit transaction. A connection returned
        mid-transaction (a REPEATABLE READ snapshot, or locks) is rolled back."""
        info = record.info if record is not None else {}
        clean = info.pop(_CLEAN, False)
        if state.transaction_was_reset:
            return
        in_trans = bool(
            getattr(dbapi_conn, "server_status", _SERVER_STATUS_IN_TRANS) & _SERVER_STATUS_IN_TRANS
        )
        if (clean or autocommit) and not in_trans:
            return
        dbapi_conn.rollback()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_USED)
        if last is not None and (
            time.monotonic() - last > IDLE_PING_SECONDS or last <= health.get("lost_at", 0.0)
        ):
            try:
                dbapi_conn.ping(reconnect=False)
            except Exception as e:
                # The pool throws this connection away and checks out a new one.
                raise sa.exc.DisconnectionError(f"stale pooled connection: {e}") from e


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled once for the DBAPI driver (see :meth:`SQLStore._driver`)."""

    sql: str
    fixed: dict[str, Any]  # values SQLAlchemy bound itself (a LIMIT)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # type conversions of parameters
    keys: tuple[str, ...]  # result columns of a SELECT
    results: tuple[Callable[[Any], Any] | None, ...]  # type conversions of result columns


_THROUGH_SQLALCHEMY = object()  # cached: this statement shape runs through SQLAlchemy


class SQLStore:
    """Implements :class:`assistant_crm.services.infra.ports.Store`."""

    def __init__(self, database_url: str, *, clock: Clock | None = None, sync: bool = True):
        self.database_url = database_url
        # Transactions (transaction(), multi-statement writes, external users of
        # .engine) use self.engine; single statements outside a transaction use
        # self._auto: on MariaDB an AUTOCOMMIT engine (one round trip for an
        # INSERT instead of INSERT + COMMIT), elsewhere the same engine.
        health: dict[str, float] = {}
        self.engine = make_engine(database_url, health=health)
        self._auto: sa.Engine | None = (
            make_engine(database_url, autocommit=True, health=health)
            if self.engine.dialect.name == "mysql"
            else None
        )
        self.clock = clock or SystemClock()
        # The open transaction of this thread/task, if any (see transaction()).
        self._tx: contextvars.ContextVar[sa.Connection | None] = contextvars.ContextVar(
            f"acrm_store_tx_{id(self)}", default=None
        )
        self._after: contextvars.ContextVar[list[Callable[[], Any]] | None] = contextvars.ContextVar(
            f"acrm_store_after_{id(self)}", default=None
        )
        self.metadata = build_metadata()
        self.defs = doctypes()
        # Built statements by shape (see _plan); a dict is safe to share between threads.
        self._statements: dict[tuple, Any] = {}
        # MariaDB: the same statements compiled to the driver's SQL (see _driver).
        self._health = health
        self._driver_statements: dict[tuple, Any] | None = {} if self.engine.dialect.name == "mysql" else None
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
        callbacks: list[Callable[[], Any]] = []
        with self.engine.begin() as conn:
            token = self._tx.set(conn)
            after = self._after.set(callbacks)
            try:
                yield
            finally:
                self._after.reset(after)
                self._tx.reset(token)
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("after-commit callback failed")

    def after_commit(self, fn: Callable[[], Any], key: Any = None) -> None:
        """Call ``fn`` once the open transaction commits (not at all if it
        rolls back), or now when none is open: each call commits by itself.
        Callbacks with the same ``key`` run once per transaction."""
        pending = self._after.get()
        if pending is None:
            fn()
        elif key is None or all(getattr(p, "_acrm_key", None) != key for p in pending):
            if key is not None:
                fn = functools.partial(fn)
                fn._acrm_key = key  # type: ignore[attr-defined]
            pending.append(fn)

    def _run(self, fn: Callable[[sa.Connection], _T], *, write: bool) -> _T:
        """Run ``fn(conn)`` in the open transaction, or else on its own.

        On its own, a call that finds its pooled connection dead (MariaDB
        restarted, the connection killed) is retried once on a fresh one:
        SQLAlchemy has invalidated the pool by then, so a restart costs no
        failed call. Inside a transaction the error goes to the caller (the
        transaction rolls back). A lost connection while a statement runs
        can in rare cases have applied it already (an autocommit INSERT seen
        by the server but not its answer): the retry then reports a
        duplicate, which callers of insert() already handle.
        """
        conn = self._tx.get()
        if conn is not None:
            return fn(conn)
        for attempt in (1, 2):
            try:
                if self._auto is not None:
                    with self._auto.connect() as c:
                        return fn(c)
                if write:
                    with self.engine.begin() as c:
                        return fn(c)
                with self.engine.connect() as c:
                    return fn(c)
            except sa.exc.DBAPIError as e:
                if attempt == 2 or not e.connection_invalidated:
                    raise
                log.warning("database connection lost (%s); retrying once", e.orig)
        raise AssertionError("unreachable")

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

    def _plan(self, table: sa.Table, filters: Row | None) -> tuple[tuple, dict[str, Any]]:
        """The shape of ``filters`` (columns, operators, NULL tests) and the bound values.

        Statements are built once per shape and cached (:meth:`_cached`):
        building a SELECT with SQLAlchemy's expression language cost more CPU
        (~0.4 ms) than running it on SQLite.
        """
        shape: list[tuple[str, str, str]] = []
        params: dict[str, Any] = {}
        for i, (key, cond) in enumerate((filters or {}).items()):
            if key not in table.c:
                raise ValidationError(f"{table.name[3:]} has no field {key!r}", field=key)
            op, value = ("=", cond)
            if (
                isinstance(cond, tuple)
                and len(cond) == 2
                and isinstance(cond[0], str)
                and cond[0].lower() in _OPS
            ):
                op, value = cond[0].lower(), cond[1]
            if op in ("in", "not in"):
                values = list(value)
                if 0 < len(values) <= SMALL_IN:
                    # A short list is bound value by value: one statement shape
                    # per length, compiled once, instead of one expanded per call.
                    params.update({f"w{i}_{j}": v for j, v in enumerate(values)})
                    shape.append((key, op, f"n{len(values)}"))
                else:
                    params[f"w{i}"] = values
                    shape.append((key, op, "v"))
                continue
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            if op == "is":
                shape.append((key, op, "set" if value == "set" else "unset"))
            elif op in ("=", "!=") and value is None:
                shape.append((key, op, "null"))
            else:
                shape.append((key, op, "v"))
                params[f"w{i}"] = value
        return tuple(shape), params

    def _clauses(self, table: sa.Table, shape: tuple) -> list[Any]:
        clauses = []
        for i, (key, op, variant) in enumerate(shape):
            col = table.c[key]
            if variant in ("null", "set", "unset"):
                null = variant != "set" if op == "is" else op == "="
                clauses.append(col.is_(None) if null else col.is_not(None))
                continue
            if variant.startswith("n"):  # a short IN list, a parameter per value (see _plan)
                binds = [sa.bindparam(f"w{i}_{j}", type_=col.type) for j in range(int(variant[1:]))]
                clauses.append(col.in_(binds) if op == "in" else col.not_in(binds))
                continue
            value = sa.bindparam(f"w{i}", type_=col.type, expanding=op in ("in", "not in"))
            if op == "=":
                clauses.append(col == value)
            elif op == "!=":
                clauses.append(sa.or_(col != value, col.is_(None)))
            elif op == "<":
                clauses.append(col < value)
            elif op == "<=":
                clauses.append(col <= value)
            elif op == ">":
                clauses.append(col > value)
            elif op == ">=":
                clauses.append(col >= value)
            elif op == "in":
                clauses.append(col.in_(value))
            elif op == "not in":
                clauses.append(col.not_in(value))
            elif op == "like":
                clauses.append(col.like(value))
        return clauses

    def _cached(self, key: tuple, build: Callable[[], _T]) -> _T:
        stmt = self._statements.get(key)
        if stmt is None:
            if len(self._statements) > 4000:  # shapes are few; this only bounds a runaway
                self._statements.clear()
            stmt = self._statements[key] = build()
        return stmt

    def _driver(self, key: tuple, build: Callable[[], Any], column_keys: Iterable[str] = ()) -> Any:
        """The statement ``key`` compiled once to the driver's SQL, or None.

        On MariaDB a statement executed through SQLAlchemy's ``Connection``
        cost 80-110 µs of CPU on top of PyMySQL's own 15-60 µs (the
        connection object, the execution context, the parameters and the
        result wrapped per call): a fifth of a channel message's CPU. Our
        statements are fixed shapes with known types, so each is compiled by
        SQLAlchemy once and then run on a pooled DBAPI connection directly,
        with the same type conversions. Shapes with expanding ``IN`` lists
        (rendered per call) stay on SQLAlchemy; so does SQLite.
        """
        if self._driver_statements is None:
            return None
        found = self._driver_statements.get(key)
        if found is None:
            found = self._driver_statements[key] = self._compile_driver(build(), column_keys)
        return None if found is _THROUGH_SQLALCHEMY else found

    def _compile_driver(self, stmt: Any, column_keys: Iterable[str]) -> Any:
        dialect = self.engine.dialect
        compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) or None)
        if "POSTCOMPILE" in compiled.string or compiled.positional:
            return _THROUGH_SQLALCHEMY
        fixed = {
            k: v
            for k, v in compiled.params.items()
            if v is not None and not isinstance(v, sa.util.langhelpers.symbol)
        }
        binds = []
        for name, bind in compiled.binds.items():
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                binds.append((compiled.bind_names.get(bind, name), proc))
        keys: tuple[str, ...] = ()
        results: tuple[Any, ...] = ()
        if isinstance(stmt, sa.Select):
            cols = list(stmt.selected_columns)
            keys = tuple(c.key for c in cols)
            results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in cols)
        return _DriverStatement(compiled.string, fixed, tuple(binds), keys, results)

    def _execute_driver(self, ds: _DriverStatement, params: dict[str, Any], *, fetch: bool) -> Any:
        """Run ``ds`` in the open transaction, or else on a pooled autocommit
        connection (a lost connection retried once, as in :meth:`_run`).
        Returns the rows as dicts (``fetch``) or the affected row count."""
        conn = self._tx.get()
        if conn is not None:
            return self._on_connection(self.engine, conn.connection, ds, params, fetch, in_transaction=True)
        assert self._auto is not None
        for attempt in (1, 2):
            dbapi_conn = self._auto.raw_connection()
            try:
                return self._on_connection(self._auto, dbapi_conn, ds, params, fetch, in_transaction=False)
            except sa.exc.DBAPIError as e:
                if attempt == 2 or not e.connection_invalidated:
                    raise
                log.warning("database connection lost (%s); retrying once", e.orig)
            finally:
                dbapi_conn.close()
        raise AssertionError("unreachable")

    def _on_connection(
        self,
        engine: sa.Engine,
        dbapi_conn: Any,
        ds: _DriverStatement,
        params: dict[str, Any],
        fetch: bool,
        *,
        in_transaction: bool,
    ) -> Any:
        values = {**ds.fixed, **params} if ds.fixed or ds.binds else params  # never the caller's dict
        for name, proc in ds.binds:
            if name in values:
                values[name] = proc(values[name])
        cursor = dbapi_conn.cursor()
        try:
            # Listeners of the engine still see every statement (tests count them).
            for listener in engine.dispatch.before_cursor_execute:
                listener(None, cursor, ds.sql, values, None, False)
            cursor.execute(ds.sql, values)
            if not fetch:
                return cursor.rowcount
            rows = cursor.fetchall()
        except self._dbapi_error as e:
            dialect = engine.dialect
            lost = dialect.is_disconnect(e, dbapi_conn.dbapi_connection, cursor)
            if lost:
                self._health["lost_at"] = time.monotonic()
                if not in_transaction:  # a transaction's connection is SQLAlchemy's to drop
                    dbapi_conn.invalidate(e)
            raise sa.exc.DBAPIError.instance(
                ds.sql,
                values,
                e,
                self._dbapi_error,
                connection_invalidated=lost and not in_transaction,
                dialect=dialect,
            ) from e
        finally:
            cursor.close()
        keys, results = ds.keys, ds.results
        if any(results):
            return [
                {k: (f(v) if f is not None else v) for k, f, v in zip(keys, results, row, strict=True)}
                for row in rows
            ]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    @functools.cached_property
    def _dbapi_error(self) -> type[Exception]:
        return self.engine.dialect.loaded_dbapi.Error

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
        # Values as parameters, not .values(**row): the statement compiles once
        # per column set and is cached, instead of coercing every value each time.
        try:
            ds = self._driver(("insert", doctype, tuple(row)), table.insert, row)
            if ds is not None:
                self._execute_driver(ds, row, fetch=False)
            else:
                stmt = self._cached(("insert", doctype), table.insert)
                self._run(lambda conn: conn.execute(stmt, row), write=True)
        except sa.exc.IntegrityError as e:
            msg = str(e.orig)
            if "UNIQUE" in msg.upper() or "Duplicate" in msg or "1062" in msg:
                raise DuplicateError(f"{doctype} {row['name']!r} clashes with an existing row") from None
            raise ValidationError(f"{doctype}: {msg}") from None
        return str(row["name"])

    def get(self, doctype: str, name: str) -> Row | None:
        d = self._def(doctype)
        table = self._table(doctype)
        q = self._cached(
            ("get", doctype), lambda: sa.select(table).where(table.c.name == sa.bindparam("w_name"))
        )
        ds = self._driver(("get", doctype), lambda: q)
        if ds is not None:
            rows = self._execute_driver(ds, {"w_name": name}, fetch=True)
            return self._decode(d, rows[0]) if rows else None
        r = self._run(lambda conn: conn.execute(q, {"w_name": name}).first(), write=False)
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
        shape, params = self._plan(table, filters)
        field_names = tuple(fields) if fields else ()
        lim = int(limit) if limit is not None else None

        def build() -> Any:
            cols = [table.c[f] for f in field_names] if field_names else [table]
            q = sa.select(*cols).where(*self._clauses(table, shape)).order_by(*self._order(table, order_by))
            if lim is not None:
                q = q.limit(lim)
            if offset:
                q = q.offset(int(offset))
            return q

        key = ("list", doctype, shape, field_names, order_by, lim, int(offset or 0))
        q = self._cached(key, build)
        ds = self._driver(key, lambda: q)
        if ds is not None:
            return [self._decode(d, r) for r in self._execute_driver(ds, params, fetch=True)]
        rows = self._run(lambda conn: conn.execute(q, params).all(), write=False)
        return [self._decode(d, r) for r in rows]

    def count(self, doctype: str, filters: Row | None = None) -> int:
        table = self._table(doctype)
        shape, params = self._plan(table, filters)
        q = self._cached(
            ("count", doctype, shape),
            lambda: sa.select(sa.func.count()).select_from(table).where(*self._clauses(table, shape)),
        )
        return int(self._run(lambda conn: conn.execute(q, params).scalar_one(), write=False))

    def update(self, doctype: str, name: str, values: Row) -> None:
        self.update_where(doctype, {"name": name}, values)

    def update_where(self, doctype: str, filters: Row, values: Row) -> int:
        d = self._def(doctype)
        table = self._table(doctype)
        data = self._encode(d, values, partial=True)
        data.setdefault("modified", self.clock.now())
        shape, params = self._plan(table, filters)
        key = ("update", doctype, shape, tuple(data))
        stmt = self._cached(key, lambda: table.update().where(*self._clauses(table, shape)))
        try:
            ds = self._driver(key, lambda: stmt, data)
            if ds is not None:
                return int(self._execute_driver(ds, {**data, **params}, fetch=False) or 0)
            res = self._run(lambda conn: conn.execute(stmt, {**data, **params}), write=True)
        except sa.exc.IntegrityError as e:
            raise DuplicateError(f"{doctype}: update clashes with an existing row ({e.orig})") from None
        return int(res.rowcount or 0)

    def delete(self, doctype: str, name: str) -> None:
        table = self._table(doctype)
        stmt = table.delete().where(table.c.name == name)
        self._run(lambda conn: conn.execute(stmt), write=True)

    def get_single(self, doctype: str) -> Row:
        d = self._def(doctype)
        t = self.metadata.tables["tabSingles"]
        q = sa.select(t.c.field, t.c.value).where(t.c.doctype == doctype)
        rows = self._run(lambda conn: conn.execute(q).all(), write=False)
        return {r.field: r.value for r in rows if d.field(r.field) is not None}

    def set_single(self, doctype: str, values: Row) -> None:
        d = self._def(doctype)
        t = self.metadata.tables["tabSingles"]
        enc = self._encode(d, values, partial=True)
        with self.transaction():
            conn = self._tx.get()
            assert conn is not None
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
        if self._auto is not None:
            self._auto.dispose()


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
