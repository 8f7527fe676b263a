"""One Webhook Activity Log row for every webhook request, accepted or refused.

The row says who called (platform, path, method, remote IP), whether the
signature held, the answer's status, how long it took and the idempotency keys
of what was stored. It never holds secrets or bodies: errors are the messages
we answered with (which name fields, never values), masked once more for
phone numbers and NRCs.

Rows of accepted requests are written by a background writer thread where the
store commits every call on its own (standalone): the inbox row is the durable
record of the event and must be committed before the answer, the log row need
not, and one commit instead of two per webhook is most of the acknowledgement
cost. Refused requests (nothing else stored) are written before the answer.
Under Frappe the row joins the request's single transaction, so it is written
inline. A hard kill can lose the last few queued log rows, never an event.
"""

from __future__ import annotations

import atexit
import logging
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from assistant_crm.services.infra.errors import AppError
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import Runtime, get_runtime

log = logging.getLogger("assistant_crm.webhook_log")

DOCTYPE = "Webhook Activity Log"
_DATA_MAX = 140  # Frappe "Data" column length
_BACKLOG = 20_000  # above it rows are written inline: memory stays bounded


@dataclass
class WebhookCall:
    """What is known of one webhook request while it is handled."""

    platform: str
    path: str
    method: str
    remote_ip: str
    signature_valid: bool = False
    status_code: int = 200
    error: str = ""
    idempotency_keys: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def latency_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000.0, 3)


class _Writer:
    """One daemon thread writing queued log rows, in batches, each into its own runtime's store."""

    BATCH = 500

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[Runtime, dict]] = queue.Queue(maxsize=_BACKLOG)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, rt: Runtime, row: dict) -> bool:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-log-writer", daemon=True)
                self._thread.start()
        try:
            self._q.put_nowait((rt, row))
            return True
        except queue.Full:
            return False

    def _run(self) -> None:
        while True:
            items = [self._q.get()]
            while len(items) < self.BATCH:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                by_runtime: dict[int, tuple[Runtime, list[dict]]] = {}
                for rt, row in items:
                    by_runtime.setdefault(id(rt), (rt, []))[1].append(row)
                for rt, rows in by_runtime.values():
                    _insert_batch(rt, rows)
            finally:
                for _ in items:
                    self._q.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._q.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


_writer = _Writer()
atexit.register(_writer.flush, 20.0)  # a graceful stop writes what is queued


def flush(timeout: float = 10.0) -> bool:
    """Wait for log rows still queued for the writer (tests, shutdown)."""
    return _writer.flush(timeout)


def _insert(rt: Runtime, row: dict) -> str | None:
    try:
        return rt.store.insert(DOCTYPE, row)
    except Exception:
        log.exception("could not write the Webhook Activity Log row for %s", row.get("platform"))
        return None


def _insert_batch(rt: Runtime, rows: list[dict]) -> None:
    """Many rows with one statement and one commit where the store is the
    standalone SQL store (the Store port inserts one row per call, which costs
    a round trip and a statement compile per row); row by row otherwise."""
    engine = getattr(rt.store, "engine", None)
    tables = getattr(getattr(rt.store, "metadata", None), "tables", None) or {}
    table = tables.get("tab" + DOCTYPE)
    if engine is None or table is None or len(rows) == 1:
        for row in rows:
            _insert(rt, row)
        return
    full = [
        {
            "name": secrets.token_hex(5),
            "owner": "Guest",
            "modified_by": "Guest",
            "docstatus": 0,
            "idx": 0,
            **row,
        }
        for row in rows
    ]
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), full)  # executemany: a multi-row INSERT
    except Exception:
        log.exception(
            "batch write of %s Webhook Activity Log rows failed; writing them one by one", len(rows)
        )
        for row in rows:
            _insert(rt, row)


def _autocommits(rt: Runtime) -> bool:
    return rt.name != "frappe"


def record(call: WebhookCall) -> str | None:
    """Write the log row (see the module doc for when it is queued); a failure
    to log never turns an answer into a 500. Returns the row name when written inline."""
    keys = ",".join(call.idempotency_keys)
    if len(keys) > _DATA_MAX:
        keys = keys[: _DATA_MAX - 12] + f"..(+{len(call.idempotency_keys)})"
    row = {
        "platform": call.platform[:_DATA_MAX],
        "path": call.path[:_DATA_MAX],
        "method": call.method[:10],
        "signature_valid": 1 if call.signature_valid else 0,
        "status_code": int(call.status_code),
        "latency_ms": call.latency_ms,
        "remote_ip": call.remote_ip[:_DATA_MAX],
        "idempotency_key": keys,
        "error": mask_text(call.error)[:1000],
    }
    # Refused requests get a log line (the bad-input rule); accepted ones have their row.
    log.log(
        logging.INFO if call.status_code >= 400 else logging.DEBUG,
        "webhook %s %s %s -> %s sig=%s %.1fms%s",
        call.platform,
        call.method,
        call.path,
        call.status_code,
        int(call.signature_valid),
        row["latency_ms"],
        f" error={row['error']}" if row["error"] else "",
    )
    rt = get_runtime()
    if call.status_code < 400 and _autocommits(rt):
        # The request's own time, not the later write's: the log reads in request order.
        queued = {**row, "creation": rt.clock.now(), "modified": rt.clock.now()}
        if _writer.put(rt, queued):
            return None
    return _insert(rt, row)


@contextmanager
def track(platform: str, path: str, method: str, remote_ip: str) -> Iterator[WebhookCall]:
    """Time a webhook request and log it however it ends. Errors pass through
    unchanged (the runtime turns them into their HTTP status)."""
    call = WebhookCall(platform=platform, path=path, method=method, remote_ip=remote_ip)
    try:
        yield call
    except AppError as e:
        call.status_code = e.http_status_code
        call.error = e.message
        raise
    except Exception as e:
        call.status_code = 500
        call.error = f"internal error: {type(e).__name__}"
        raise
    finally:
        record(call)
