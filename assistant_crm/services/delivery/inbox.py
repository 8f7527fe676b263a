"""The durable inbox: every inbound webhook event is stored before it is answered.

``accept`` inserts one inbound Omnichannel Message (status ``received``) keyed
by ``"<platform>:<platform message id>"``; the unique index on that key makes a
repeated delivery - even two at the same instant - land once. The reply is
produced later by ``process`` on the background queue, which claims the row
with a compare-and-set (``received`` -> ``processing``) so one event is one
turn however many workers see it. ``recover`` (scheduler, standalone start)
re-queues events a crash or a lost job left behind.

Per-conversation order: the events of one sender are processed one at a time,
in platform timestamp order, by whichever worker holds the sender's lock; a
worker that finds the lock taken raises the sender's "more waiting" flag and
leaves its event to the holder, which looks at the flag after it lets go and
goes round again when it is up.

Inbound rows use ``recipient_id`` for the conversation's counterpart (the
sender) and ``sequence`` for the platform's timestamp in unix seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from assistant_crm.services.delivery.channels.inbound import (
    InboundEvent,
    make_idempotency_key,
    to_inbound_message,
)
from assistant_crm.services.infra.errors import DuplicateError
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.inbox")

DOCTYPE = "Omnichannel Message"
MAX_ATTEMPTS = 5
STALE_RECEIVED = timedelta(seconds=30)
STALE_PROCESSING = timedelta(minutes=5)
LOCK_TTL_SECONDS = 180  # longer than the slowest turn (Gemini + CoreBusiness timeouts)
RECOVER_BATCH = 500
DRAIN_BATCH = 20  # a sender's waiting events read and claimed at once
# What handling an event reads of its row (a whole row is 20 columns; on MariaDB
# every column of a result costs a descriptor to parse, however few rows come).
WORK_FIELDS = ["name", "platform", "recipient_id", "event_type", "status", "attempts", "payload"]
# A receipt still waiting this long after it came is for a message that is not ours
# (sent from the platform's own inbox) or one whose send was redone under a new id.
STALE_WAITING = timedelta(minutes=10)
PROCESS_METHOD = "assistant_crm.services.delivery.inbox.process"
_INT32_MAX = 2**31 - 1


def idempotency_key(platform: str, platform_message_id: str) -> str:
    """``"<platform>:<id>"`` (see :func:`channels.inbound.make_idempotency_key`)."""
    return make_idempotency_key(platform, platform_message_id)


def accept(
    platform: str, platform_message_id: str, payload: dict[str, Any], event_type: str = "message"
) -> tuple[str, bool]:
    """Store one inbound event durably and queue it; returns ``(event_id, duplicate)``.

    ``payload`` is the event as :meth:`InboundEvent.to_payload` gives it (its
    ``sender_id`` and ``timestamp`` order the conversation). A repeat of an
    accepted key returns the first event's id with ``duplicate=True``.
    """
    rt = get_runtime()
    key = idempotency_key(platform, platform_message_id)
    sequence = payload.get("timestamp") if isinstance(payload.get("timestamp"), int) else 0
    row = {
        "platform": platform,
        "direction": "inbound",
        "event_type": event_type,
        "recipient_id": str(payload.get("sender_id") or "")[:140],
        "platform_message_id": str(payload.get("platform_message_id") or platform_message_id)[:140],
        "idempotency_key": key,
        "status": "received",
        "attempts": 0,
        "sequence": sequence if 0 <= sequence <= _INT32_MAX else 0,
        "payload": payload,
    }
    try:
        event_id = rt.store.insert(DOCTYPE, row)
    except DuplicateError:
        existing = rt.store.get_by(DOCTYPE, {"idempotency_key": key})
        if existing is None:  # the clash was on something else; let it surface
            raise
        log.info("inbox: duplicate %s event %s (first %s)", platform, event_type, existing["name"])
        return str(existing["name"]), True
    try:
        # The row's routing goes with the job, so the worker need not read it back first.
        rt.queue.enqueue(
            PROCESS_METHOD,
            event_id=event_id,
            platform=platform,
            sender=row["recipient_id"],
            event_type=event_type,
        )
    except Exception:
        # Stored is what matters: recover() queues it again once the queue is back.
        log.exception("inbox: could not queue event %s; recover() will pick it up", event_id)
    return event_id, False


def accept_event(event: InboundEvent, remote_ip: str = "") -> tuple[str, bool]:
    """:func:`accept` for a parsed webhook event."""
    payload = event.to_payload()
    if remote_ip:
        payload["remote_ip"] = remote_ip
    return accept(event.platform, event.idempotency_id, payload, event.event_type)


def process(event_id: str, platform: str = "", sender: str = "", event_type: str = "") -> None:
    """Background job: produce the turn (or apply the status) for one event.

    ``platform``/``sender``/``event_type`` are the row's own values when the
    job comes from :func:`accept` (saves reading the row back); without them
    (``recover``, older queued jobs) the row is read first.
    """
    if event_type == "message" and platform and sender:
        _drain(platform, sender)  # the event is among the sender's waiting ones, or already done
        return
    rt = get_runtime()
    row = rt.store.get(DOCTYPE, event_id)
    if row is None:
        log.warning("inbox: event %s not found", event_id)
        return
    if row.get("status") != "received":
        return  # already done, or another worker has it
    if row.get("event_type") == "status" or not row.get("recipient_id"):
        _process_row(row)
        return
    _drain(str(row["platform"]), str(row["recipient_id"]))


def _lock_key(platform: str, sender: str) -> str:
    digest = hashlib.sha256(f"{platform}:{sender}".encode()).hexdigest()[:32]
    return f"acrm:inbox:sender:{digest}"


def _more_key(lock_key: str) -> str:
    return lock_key + ":more"


def _waiting(platform: str, sender: str, limit: int) -> list[dict[str, Any]]:
    """The sender's events still to answer, oldest (platform time) first."""
    return get_runtime().store.list(
        DOCTYPE,
        {
            "recipient_id": sender,
            "platform": platform,
            "direction": "inbound",
            "event_type": "message",
            "status": "received",
        },
        fields=WORK_FIELDS,
        order_by="sequence asc, creation asc",
        limit=limit,
    )


def _take_lock(rt: Any, key: str, token: str) -> bool:
    """Take the sender's lock, or leave the event to its holder.

    A worker that finds the lock taken raises the "more waiting" flag and
    tries once more: if the holder let go in between, this worker drains
    itself; if not, the holder reads the flag after it lets go (see
    :func:`_drain`) and goes round again. Either way the event is not left
    behind, and the holder need not query the inbox once more on every
    message to find out.
    """
    if rt.cache.add(key, token, ttl=LOCK_TTL_SECONDS):
        return True
    rt.cache.set(_more_key(key), 1, ttl=LOCK_TTL_SECONDS)
    return bool(rt.cache.add(key, token, ttl=LOCK_TTL_SECONDS))


def _drain(platform: str, sender: str) -> None:
    """Process the sender's waiting events in order while holding its lock.

    The waiting events are read and claimed a batch at a time. An event
    accepted while the lock is held finds it taken and is left to the
    holder (:func:`_take_lock`), which goes round once more when the flag
    says so after it lets go.
    """
    rt = get_runtime()
    key = _lock_key(platform, sender)
    while True:
        token = secrets.token_hex(8)
        if not _take_lock(rt, key, token):
            return  # the holder will find our event: the flag is up
        failed = False
        try:
            while not failed:
                rows = _waiting(platform, sender, DRAIN_BATCH)
                failed = not _process_batch(rows)
                if len(rows) < DRAIN_BATCH:
                    break
        finally:
            more = _let_go(rt, key, token)
        if failed or not more:
            return  # (a failure is left to recover())


def _let_go(rt: Any, key: str, token: str) -> bool:
    """Release the sender's lock; True when the "more waiting" flag was up
    (an event may have come in after the holder's last read: go round again)."""
    release = getattr(rt.cache, "release", None)
    if callable(release):  # one round trip where the cache has it (Redis: a script)
        return bool(release(key, token, _more_key(key)))
    if rt.cache.get(key) == token:
        rt.cache.delete(key)
    if not rt.cache.get(_more_key(key)):
        return False
    rt.cache.delete(_more_key(key))
    return True


def _process_batch(rows: list[dict[str, Any]]) -> bool:
    """Claim the rows with one compare-and-set and handle them in order;
    False when one failed (the rest are handed back, still in order)."""
    if len(rows) < 2:
        return all(_process_row(row) for row in rows)
    rt = get_runtime()
    names = [r["name"] for r in rows]
    mark = f"claimed {secrets.token_hex(8)}"
    claimed = rt.store.update_where(
        DOCTYPE, {"name": ("in", names), "status": "received"}, {"status": "processing", "last_error": mark}
    )
    rt.store.commit()
    if claimed != len(names):
        # Someone else (recover) took some: ours are the ones with our mark.
        mine = {
            r["name"]
            for r in rt.store.list(
                DOCTYPE, {"name": ("in", names), "last_error": mark}, fields=["name"], limit=len(names)
            )
        }
        rows = [r for r in rows if r["name"] in mine]
    for i, row in enumerate(rows):
        if not _process_row(row, claimed=True):
            rest = [r["name"] for r in rows[i + 1 :]]
            if rest:
                rt.store.update_where(
                    DOCTYPE,
                    {"name": ("in", rest), "status": "processing", "last_error": mark},
                    {"status": "received", "last_error": ""},
                )
                rt.store.commit()
            return False
    return True


def _process_row(row: dict[str, Any], claimed: bool = False) -> bool:
    """Claim (unless ``claimed`` already) and handle one row; False when
    handling failed (row left for a retry)."""
    rt = get_runtime()
    name = row["name"]
    if not claimed:
        if not rt.store.update_where(DOCTYPE, {"name": name, "status": "received"}, {"status": "processing"}):
            return True  # someone else claimed it
        # Under Frappe a job is one transaction: commit the claim so other workers see
        # it without waiting on the row lock, and each finished turn on its own.
        rt.store.commit()
    try:
        payload = row.get("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        event = InboundEvent.from_payload(payload)
        values: dict[str, Any] = {"status": "processed", "last_error": ""}
        if row.get("event_type") == "status":
            from assistant_crm.services.delivery import outbox

            found = outbox.apply_status(event.platform, event.platform_message_id, event.state, event.error)
            if found is None:
                _park_receipt(rt, row, event)
                return True
        else:
            from assistant_crm.services.pipeline import reply

            msg = to_inbound_message(event, remote_ip=str(payload.get("remote_ip", "")))
            result = reply.handle_message(msg)
            if getattr(result, "session_id", ""):
                values["session"] = result.session_id
        rt.store.update_where(DOCTYPE, {"name": name, "status": "processing"}, values)
        rt.store.commit()
        return True
    except Exception as e:
        attempts = int(row.get("attempts") or 0) + 1
        status = "dead" if attempts >= MAX_ATTEMPTS else "received"
        error = mask_text(f"{type(e).__name__}: {e}")[:1000]
        log.exception(
            "inbox: event %s (%s) failed, attempt %s -> %s", name, row.get("platform"), attempts, status
        )
        try:
            rt.store.update_where(
                DOCTYPE,
                {"name": name, "status": "processing"},
                {"status": status, "attempts": attempts, "last_error": error},
            )
            rt.store.commit()
        except Exception:
            log.exception("inbox: could not record the failure of %s; recover() will retry it", name)
        return False


def _park_receipt(rt: Any, row: dict[str, Any], event: InboundEvent) -> None:
    """Keep a receipt that overtook its send until the outbox stores the id.

    The platform may post "sent"/"delivered" before it answers the send call,
    so the outbound record has no platform id yet. The receipt waits (status
    ``waiting``) and :func:`apply_waiting_receipts` applies it the moment the
    outbox records the id. Parking commits before looking once more, and the
    outbox commits the id before it looks for waiting receipts: whichever of
    the two commits last sees the other's row, so no receipt is left behind.
    """
    from assistant_crm.services.delivery import outbox

    name = row["name"]
    parked = rt.store.update_where(
        DOCTYPE,
        {"name": name, "status": "processing"},
        {"status": "waiting", "last_error": "no outbound message with this platform id yet"},
    )
    rt.store.commit()
    if not parked:
        return
    if outbox.apply_status(event.platform, event.platform_message_id, event.state, event.error) is None:
        log.info("inbox: receipt %s waits for its outbound message", name)
        return
    rt.store.update_where(
        DOCTYPE, {"name": name, "status": "waiting"}, {"status": "processed", "last_error": ""}
    )
    rt.store.commit()


def apply_waiting_receipts(platform: str, platform_message_id: str) -> int:
    """Apply the receipts that arrived before the outbox stored ``platform_message_id``.

    Called by the outbox right after it committed the id. Receipts never move
    a record backwards (:func:`outbox.apply_status`), so the order in which
    the waiting ones are applied does not matter. Returns how many were applied.
    """
    rt = get_runtime()
    rows = rt.store.list(
        DOCTYPE,
        {
            "platform_message_id": platform_message_id,
            "platform": platform,
            "direction": "inbound",
            "event_type": "status",
            "status": "waiting",
        },
        fields=WORK_FIELDS,
        limit=DRAIN_BATCH,
    )
    applied = 0
    for row in rows:
        # Claim first: the receipt's own job may be applying it at this moment.
        if not rt.store.update_where(
            DOCTYPE, {"name": row["name"], "status": "waiting"}, {"status": "processing"}
        ):
            continue
        rt.store.commit()
        applied += int(_process_row(row, claimed=True))
    return applied


def recover(limit: int = RECOVER_BATCH) -> int:
    """Re-queue inbound events left behind: ``received`` for over 30 s (a lost
    job or a failed attempt) and ``processing`` for over 5 minutes (a worker
    that died mid-turn). Returns how many were queued."""
    rt = get_runtime()
    now = rt.clock.now()
    base = {"direction": "inbound"}
    stuck = rt.store.list(
        DOCTYPE,
        {**base, "status": "processing", "modified": ("<", now - STALE_PROCESSING)},
        fields=["name", "attempts"],
        order_by="modified asc",
        limit=limit,
    )
    queued: list[str] = []
    for r in stuck:
        attempts = int(r.get("attempts") or 0) + 1
        status = "dead" if attempts >= MAX_ATTEMPTS else "received"
        changed = rt.store.update_where(
            DOCTYPE,
            {"name": r["name"], "status": "processing"},
            {
                "status": status,
                "attempts": attempts,
                "last_error": "processing was interrupted (worker stopped)",
            },
        )
        if changed and status == "received":
            queued.append(r["name"])
    stale = rt.store.list(
        DOCTYPE,
        {**base, "status": "received", "modified": ("<", now - STALE_RECEIVED)},
        fields=["name"],
        order_by="sequence asc, creation asc",
        limit=limit,
    )
    queued.extend(r["name"] for r in stale if r["name"] not in queued)
    # A receipt whose message never got its id: closed with the miss noted
    # (not deleted: the row is the trace that it came).
    closed = rt.store.update_where(
        DOCTYPE,
        {**base, "event_type": "status", "status": "waiting", "modified": ("<", now - STALE_WAITING)},
        {"status": "processed", "last_error": "no outbound message matched this receipt"},
    )
    if closed:
        log.info("inbox: %s receipt(s) matched no outbound message; closed", closed)
    for name in queued:
        rt.queue.enqueue(PROCESS_METHOD, event_id=name)
    if queued:
        log.info("inbox: recover re-queued %s event(s), %s interrupted", len(queued), len(stuck))
    return len(queued)
