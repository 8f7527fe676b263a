"""The append-only audit log: a hash chain over ``Assistant Audit Log`` rows.

Each row carries ``sequence`` (previous + 1), ``previous_hash`` (the previous
row's ``hash``) and ``hash`` = sha256 over (previous_hash, sequence, actor,
action, subject, details, creation). Editing or deleting a row breaks the
chain, and :func:`verify_chain` names the rows where it breaks.

Details are masked (NRC and phone numbers) before they are stored: the audit
log is read by staff and exported, so it must never hold a full identifier.

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
from datetime import datetime
from typing import Any

from assistant_crm.services.infra.errors import DuplicateError
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import Row, get_runtime

AUDIT_DOCTYPE = "Assistant Audit Log"
LOCK_KEY = "assistant_crm:audit:chain_lock"
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


def record(actor: str, action: str, subject: str = "", details: Any = None) -> str:
    """Append one audit entry and return its name.

    ``actor`` is who did it (a user, ``bot``, ``system``, a channel sender),
    ``action`` a short dotted verb such as ``verification.failed`` or
    ``settings.changed``, ``subject`` what it was done to (a session, a
    DocType). ``details`` may be any JSON-serialisable value; NRC and phone
    numbers in it (and in actor and subject) are masked before storing.
    """
    rt = get_runtime()
    actor = mask_text(str(actor or "system"))[:140]
    action = str(action or "").strip()[:140]
    if not action:
        raise ValueError("audit.record needs an action")
    subject = mask_text(str(subject or ""))[:140]
    details_text = serialise_details(details)
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


def verify_chain() -> list[str]:
    """Names of rows whose hash does not match their content, or whose link to
    the previous row (sequence + 1, previous_hash) is wrong. Empty: intact."""
    store = get_runtime().store
    broken: list[str] = []
    prev_sequence = 0
    prev_hash = ""
    offset = 0
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
            expected = compute_hash(
                row.get("previous_hash") or "",
                sequence,
                row.get("actor") or "",
                row.get("action") or "",
                row.get("subject") or "",
                row.get("details") or "",
                row.get("creation"),
            )
            linked = sequence == prev_sequence + 1 and (row.get("previous_hash") or "") == prev_hash
            if expected != row.get("hash") or not linked:
                broken.append(str(row["name"]))
            prev_sequence = sequence
            prev_hash = row.get("hash") or ""
        if len(rows) < _BATCH:
            break
        offset += _BATCH
    if broken:
        log.warning("audit chain broken at %d row(s): %s", len(broken), ", ".join(broken[:20]))
    return broken
