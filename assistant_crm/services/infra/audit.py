"""The append-only audit log: a hash chain over ``Assistant Audit Log`` rows.

Each row carries ``sequence`` (previous + 1), ``previous_hash`` (the previous
row's ``hash``) and ``hash`` = sha256 over (previous_hash, sequence, actor,
action, subject, details, creation). Editing or deleting a row breaks the
chain, and :func:`verify_chain` names the rows where it breaks.

Details are masked (NRC and phone numbers) before they are stored: the audit
log is read by staff and exported, so it must never hold a full identifier.

Deleting the last rows leaves a shorter chain that is still intact, so the
head is anchored apart from the table: after each append the head (sequence
and hash) goes to the cache (:data:`ANCHOR_KEY`) and to the one row of the
``Assistant Audit Anchor`` table (:data:`ANCHOR_DOCTYPE`, so it survives a
restart of a cache without Redis, or a Redis flush), both only ever moved
forward; and each day's ``audit.checkpoint`` row records the head of that day. A chain
that ends before an anchor, or whose row at an anchored sequence has another
hash, is broken at that point (issue 12.10).

Concurrent writers must not fork the chain (two rows with the same
``previous_hash``). A short cache lock serialises writers, and the unique
``sequence`` and ``hash`` columns are the last line of defence when the lock
expires or the cache is per process: the loser gets a DuplicateError and
retries on top of the new head.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assistant_crm.services.infra.errors import DuplicateError
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import Row, get_runtime

AUDIT_DOCTYPE = "Assistant Audit Log"
LOCK_KEY = "assistant_crm:audit:chain_lock"
ANCHOR_KEY = "assistant_crm:audit:anchor"
CHECKPOINT_ACTION = "audit.checkpoint"
ANCHOR_DOCTYPE = "Assistant Audit Anchor"
ANCHOR_ROW = "head"
LOCK_TTL_SECONDS = 5
# How long a writer waits for the lock before trusting the unique columns alone.
LOCK_WAIT_SECONDS = 3.0
MAX_ATTEMPTS = 25
_BATCH = 500

log = logging.getLogger("assistant_crm.audit")


def _mask_value(value: Any) -> Any:
    """Mask identifiers in every string (and long number) of a details structure."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        # A phone or NRC given as a bare integer is still an identifier.
        return mask_text(str(value)) if len(str(abs(value))) >= 9 else value
    if isinstance(value, dict):
        return {str(k): _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_mask_value(v) for v in value]
    return mask_text(str(value))


def serialise_details(details: Any) -> str:
    """Masked, canonical JSON for the ``details`` column ("" when there are none)."""
    if details is None or details == "" or details == {}:
        return ""
    text = json.dumps(_mask_value(details), sort_keys=True, ensure_ascii=False, default=str)
    # A second pass catches identifiers split across keys and values by the dump.
    return mask_text(text)


def _creation_text(creation: Any) -> str:
    """One text form of ``creation`` whatever the store hands back (datetime or string)."""
    if isinstance(creation, datetime):
        return creation.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(creation, str) and creation:
        try:
            parsed = datetime.fromisoformat(creation.replace("Z", "+00:00"))
        except ValueError:
            return creation
        return parsed.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return ""


def compute_hash(
    previous_hash: str, sequence: int, actor: str, action: str, subject: str, details: str, creation: Any
) -> str:
    """sha256 of the row's content and its link; fields are JSON-encoded so no
    two different rows can produce the same byte string."""
    payload = json.dumps(
        [
            previous_hash or "",
            int(sequence),
            actor or "",
            action or "",
            subject or "",
            details or "",
            _creation_text(creation),
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _head() -> Row | None:
    store = get_runtime().store
    fields = ["name", "sequence", "hash"]
    # A store whose writes stay in a request transaction (Frappe on MariaDB,
    # REPEATABLE READ) offers a locking read of the head: it sees the latest
    # committed row and makes the next writer wait for our commit instead of
    # forking. Autocommitting stores (standalone) use the cache lock instead.
    locking = getattr(store, "last_row_for_update", None)
    if locking is not None:
        return locking(AUDIT_DOCTYPE, "sequence", fields)
    rows = store.list(AUDIT_DOCTYPE, fields=fields, order_by="sequence desc", limit=1)
    return rows[0] if rows else None


def _acquire(token: str) -> bool:
    cache = get_runtime().cache
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.002
    while True:
        try:
            if cache.add(LOCK_KEY, token, ttl=LOCK_TTL_SECONDS):
                return True
        except Exception:  # a cache outage must not stop auditing
            log.warning("audit lock unavailable; relying on unique sequence", exc_info=True)
            return False
        if time.monotonic() >= deadline:
            log.warning("audit lock wait exceeded %.1fs; relying on unique sequence", LOCK_WAIT_SECONDS)
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _release(token: str) -> None:
    cache = get_runtime().cache
    try:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)
    except Exception:
        log.warning("audit lock release failed; it expires in %ss", LOCK_TTL_SECONDS, exc_info=True)


def record(
    actor: str,
    action: str,
    subject: str = "",
    details: Any = None,
    *,
    subject_is_name: bool = False,
    _system: bool = False,
) -> str:
    """Append one audit entry and return its name.

    ``actor`` is who did it (a user, ``bot``, ``system``, a channel sender),
    ``action`` a short dotted verb such as ``verification.failed`` or
    ``settings.changed``, ``subject`` what it was done to (a session, a
    DocType). ``details`` may be any JSON-serialisable value; NRC and phone
    numbers in it (and in actor and subject) are masked before storing.
    ``subject_is_name`` says the subject is one of our record names (a
    session, an outbound message): it is kept as is, because masking takes
    one hex name in about 150 (``a123456789``, ``0418261791``) for an NRC or
    a phone number, and the entry could then not be found by its subject.
    """
    rt = get_runtime()
    actor = mask_text(str(actor or "system"))[:140]
    action = str(action or "").strip()[:140]
    if not action:
        raise ValueError("audit.record needs an action")
    subject = str(subject or "") if subject_is_name else mask_text(str(subject or ""))
    subject = subject[:140]
    # The engine's own entries (checkpoints: hex hashes) hold no personal data to mask.
    details_text = json.dumps(details, sort_keys=True) if _system else serialise_details(details)
    token = secrets.token_hex(8)

    # A transactional store serialises writers itself until commit (see _head);
    # a cache lock released before that commit would only add waiting.
    use_cache_lock = getattr(rt.store, "last_row_for_update", None) is None
    last_error: Exception | None = None
    for attempt in range(MAX_ATTEMPTS):
        locked = _acquire(token) if use_cache_lock else False
        try:
            head = _head()
            sequence = int(head["sequence"] or 0) + 1 if head else 1
            previous_hash = (head.get("hash") or "") if head else ""
            creation = rt.clock.now().replace(tzinfo=None)
            values = {
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details_text,
                "previous_hash": previous_hash,
                "sequence": sequence,
                "creation": creation,
                "modified": creation,
            }
            values["hash"] = compute_hash(
                previous_hash, sequence, actor, action, subject, details_text, creation
            )
            name = rt.store.insert(AUDIT_DOCTYPE, values)
            _move_anchor(sequence, values["hash"])
            return name
        except DuplicateError as e:
            # Another writer took this sequence number: build on the new head.
            last_error = e
            log.info("audit chain contention on attempt %d; retrying", attempt + 1)
            time.sleep(min(0.002 * (attempt + 1), 0.05))
        finally:
            if locked:
                _release(token)
    log.error("audit entry %s could not be appended after %d attempts", action, MAX_ATTEMPTS)
    raise DuplicateError(f"audit chain busy: {last_error}")


def _move_anchor(sequence: int, hash_: str, *, cache_only: bool = False) -> None:
    """Keep the newest head in the cache and in the database (never moved back)."""
    cache = get_runtime().cache
    try:
        current = cache.get(ANCHOR_KEY)
        if not (isinstance(current, dict) and int(current.get("sequence") or 0) >= sequence):
            cache.set(ANCHOR_KEY, {"sequence": sequence, "hash": hash_})
    except Exception:  # noqa: BLE001 - the anchor is a check, not a reason to lose the entry
        log.warning("audit anchor not updated (cache unavailable)")
    if not cache_only:
        _store_anchor(sequence, hash_)


def _store_anchor(sequence: int, hash_: str) -> None:
    """Move the database anchor forward: one conditional UPDATE (only to a higher
    sequence), the row created on the first append."""
    store = get_runtime().store
    values = {"sequence": sequence, "hash": hash_}
    try:
        if store.update_where(ANCHOR_DOCTYPE, {"name": ANCHOR_ROW, "sequence": ("<", sequence)}, values):
            return
        if store.get(ANCHOR_DOCTYPE, ANCHOR_ROW) is None:
            store.insert(ANCHOR_DOCTYPE, {"name": ANCHOR_ROW, **values})
    except DuplicateError:
        pass  # another writer created it first; the next append moves it on
    except Exception:  # noqa: BLE001 - the anchor is a check, not a reason to lose the entry
        log.warning("audit anchor row not updated", exc_info=True)


def _stored_anchor() -> Row | None:
    try:
        return get_runtime().store.get(ANCHOR_DOCTYPE, ANCHOR_ROW)
    except Exception:  # noqa: BLE001 - an older schema without the table: only the other anchors
        log.warning("audit anchor row could not be read", exc_info=True)
        return None


@dataclass
class ChainReport:
    """What :func:`verify` found: ``ok`` when nothing is wrong."""

    rows: int = 0
    head_sequence: int = 0
    head_name: str = ""
    broken: list[str] = field(default_factory=list)  # names of edited / mislinked rows
    problems: list[str] = field(default_factory=list)  # one sentence per break, naming the row

    @property
    def ok(self) -> bool:
        return not self.broken and not self.problems


def verify() -> ChainReport:
    """Check every row's hash and link, then the head against its anchors
    (the cache's anchor and every ``audit.checkpoint`` row)."""
    store = get_runtime().store
    report = ChainReport()
    prev_sequence = 0
    prev_hash = ""
    offset = 0
    by_sequence: dict[int, tuple[str, str]] = {}
    checkpoints: list[tuple[str, dict]] = []
    fields = [
        "name",
        "sequence",
        "previous_hash",
        "hash",
        "actor",
        "action",
        "subject",
        "details",
        "creation",
    ]
    while True:
        rows = store.list(AUDIT_DOCTYPE, fields=fields, order_by="sequence asc", limit=_BATCH, offset=offset)
        for row in rows:
            sequence = int(row.get("sequence") or 0)
            name = str(row["name"])
            expected = compute_hash(
                row.get("previous_hash") or "",
                sequence,
                row.get("actor") or "",
                row.get("action") or "",
                row.get("subject") or "",
                row.get("details") or "",
                row.get("creation"),
            )
            if expected != row.get("hash"):
                report.broken.append(name)
                report.problems.append(
                    f"row {name} (sequence {sequence}) was edited: its hash does not match"
                )
            elif sequence != prev_sequence + 1 or (row.get("previous_hash") or "") != prev_hash:
                report.broken.append(name)
                report.problems.append(
                    f"row {name} (sequence {sequence}) does not follow sequence {prev_sequence}: "
                    "rows before it were deleted or changed"
                )
            by_sequence[sequence] = (name, row.get("hash") or "")
            if row.get("action") == CHECKPOINT_ACTION:
                try:
                    checkpoints.append((name, json.loads(row.get("details") or "{}")))
                except ValueError:
                    pass
            prev_sequence = sequence
            prev_hash = row.get("hash") or ""
            report.rows += 1
            report.head_sequence, report.head_name = sequence, name
        if len(rows) < _BATCH:
            break
        offset += _BATCH
    anchors = [(f"checkpoint {name}", d) for name, d in checkpoints if isinstance(d, dict)]
    try:
        cached = get_runtime().cache.get(ANCHOR_KEY)
    except Exception:  # noqa: BLE001
        cached = None
    if isinstance(cached, dict):
        anchors.append(("the anchor kept apart from the table", cached))
    elif report.rows:
        _move_anchor(
            report.head_sequence, by_sequence[report.head_sequence][1], cache_only=True
        )  # re-establish after a restart; the database anchor below still holds the old head
    stored = _stored_anchor()
    if stored:
        anchors.append(("the anchor row kept in the database", stored))
    for source, anchor in anchors:
        try:
            sequence, hash_ = int(anchor.get("sequence") or 0), str(anchor.get("hash") or "")
        except (TypeError, ValueError):
            continue
        if sequence <= 0:
            continue
        found = by_sequence.get(sequence)
        if found is None and sequence > report.head_sequence:
            after = f"after row {report.head_name} (sequence {report.head_sequence})" if report.rows else ""
            report.problems.append(
                f"the chain ends {after or 'with no rows'} but {source} names sequence {sequence}: "
                f"{sequence - report.head_sequence} last row(s) were deleted"
            )
        elif found is None:
            report.problems.append(f"row of sequence {sequence} named by {source} is missing")
        elif found[1] != hash_:
            report.problems.append(f"row {found[0]} (sequence {sequence}) differs from {source}")
    if not report.ok:
        log.warning("audit chain broken: %s", "; ".join(report.problems[:5]))
    return report


def verify_chain() -> list[str]:
    """Names of rows whose hash or link is broken, and a sentence for a cut tail
    or a row that differs from an anchor. Empty: intact (see :func:`verify`)."""
    report = verify()
    return report.broken + [
        p for p in report.problems if not any(p.startswith(f"row {b} ") for b in report.broken)
    ]


def daily_check() -> ChainReport:
    """The scheduled check: verify, alert the managers on a break, and append
    the day's checkpoint (the head it saw) as the next anchor."""
    report = verify()
    if not report.ok:
        log.error("audit chain broken; managers alerted: %s", "; ".join(report.problems[:5]))
        alert = get_runtime().extras.get("alert_managers")
        if callable(alert):
            try:
                alert("Assistant audit chain broken", "\n".join(report.problems[:50]))
            except Exception:  # noqa: BLE001 - the log line above still stands
                log.exception("alerting managers about the audit chain failed")
        record("system", "audit.chain_broken", AUDIT_DOCTYPE, {"problems": report.problems[:50]})
    head = _head()
    if head:
        record(
            "system",
            CHECKPOINT_ACTION,
            AUDIT_DOCTYPE,
            {"sequence": int(head["sequence"]), "hash": head.get("hash") or "", "rows": report.rows},
            _system=True,
        )
    return report
