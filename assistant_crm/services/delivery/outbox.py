"""The outbox: every outbound reply is a durable record before it is sent.

Life of a record (an outbound ``Omnichannel Message``)::

    queued --claim--> sending --2xx--> sent --receipt--> delivered --> read
       ^                 |  \\--4xx (final) or attempts exhausted--> dead
       '--- transient ---'       (receipt "failed" --> failed)

* :func:`enqueue_outbound` splits a reply to the channel's limit and inserts
  one record per part, ``sequence`` increasing per conversation (platform +
  recipient), then queues :func:`dispatch` for the first part.
* :func:`dispatch` claims a record with a compare-and-set (queued -> sending,
  only when due and when no earlier part of the same conversation is still
  queued or sending), sends it through :mod:`router`, records the outcome, and
  on success continues with the conversation's next part.
* :func:`dispatch_due` (cron every minute and the standalone worker loop)
  requeues records left ``sending`` by a crashed worker and sends every due
  conversation head, in parallel, each under a hard deadline.
* :func:`apply_status` applies delivery receipts, never moving backwards.

Delivery is at-least-once: the claim is committed before the HTTP call, so a
crash after the platform accepted but before ``sent`` was recorded leaves the
record in ``sending`` until ``outbound_sending_timeout_seconds`` pass; it is
then sent again (docs/channels.md explains the edge).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from assistant_crm.services.delivery import router, segments
from assistant_crm.services.delivery.channels.base import OutboundPart, SendResult
from assistant_crm.services.infra.errors import ValidationError
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import Runtime, get_runtime
from assistant_crm.services.models import OutboundMessage

log = logging.getLogger("assistant_crm.outbox")

DOCTYPE = "Omnichannel Message"
OUTBOUND_CHANNELS = ("whatsapp", "telegram", "messenger", "instagram", "sms")
DISPATCH_METHOD = "assistant_crm.services.delivery.outbox.dispatch"
MAX_TEXT = 100_000  # far above any reply; guards the store against a runaway text
CHAIN_LIMIT = 200  # parts sent in one dispatch call before yielding the worker
HEAD_PAGES = 10  # pages read by dispatch_due looking for distinct conversations
# What claiming, sending and recording a part reads of its record: on MariaDB
# every column of a result is a descriptor to parse, so whole rows (20
# columns) cost more CPU than the statement itself.
SEND_FIELDS = [
    "name", "creation", "direction", "platform", "recipient_id", "session",
    "status", "attempts", "next_attempt_at", "sequence", "payload",
]  # fmt: skip
JUST_QUEUED_MAX = 10_000  # records kept for their dispatch job (a bound, not a working size)
DUE_BUDGET_SECONDS = 20.0  # dispatch_due stops chaining after this; the next run goes on

# Receipt states, ranked: a receipt never moves a record to a lower rank.
RANK = {"queued": 0, "sending": 1, "sent": 2, "failed": 3, "delivered": 4, "read": 5}
RECEIPT_ALIASES = {
    "sent": "sent",
    "accepted": "sent",
    "queued": "sent",
    "delivered": "delivered",
    "read": "read",
    "seen": "read",
    "failed": "failed",
    "undelivered": "failed",
    "rejected": "failed",
}


# --------------------------------------------------------------------------- enqueue


SENSITIVE_PLACEHOLDER = "[one-time code: text not kept]"


def enqueue_outbound(msg: OutboundMessage) -> str:
    """Store a reply as outbound record(s) and queue its delivery.

    Returns the first record's name (the correlation id). Raises
    :class:`ValidationError` for a channel without outbound delivery, a
    missing recipient or an empty text.
    """
    channel = (msg.channel or "").strip().lower()
    if channel not in OUTBOUND_CHANNELS:
        log.warning("outbound message refused: channel %r has no outbound route", channel)
        raise ValidationError(
            f"channel {channel!r} cannot be sent to; expected one of {', '.join(OUTBOUND_CHANNELS)}",
            field="channel",
        )
    recipient = str(msg.recipient_id or msg.recipient_phone or "").strip()
    if not recipient:
        log.warning("outbound message refused: no recipient (channel %s)", channel)
        raise ValidationError("recipient_id is required", field="recipient_id")
    text = msg.text or ""
    if not text.strip() and not msg.quick_replies:
        log.warning("outbound message refused: empty text (channel %s)", channel)
        raise ValidationError("text is empty", field="text")
    if len(text) > MAX_TEXT:
        log.warning("outbound message refused: text of %d characters", len(text))
        raise ValidationError(f"text is longer than {MAX_TEXT} characters", field="text")

    if not text.strip():
        # Only buttons: platforms refuse an empty text, so the choices are the text.
        text = " / ".join(msg.quick_replies)
    rt = get_runtime()
    texts, note = _split(rt, channel, text, bool(msg.quick_replies))
    names: list[str] = []
    first: dict[str, Any] = {}
    with _ConversationLock(rt, channel, recipient) as lock:
        seq, pending = _last_sequence(rt, channel, recipient)
        now = rt.clock.now()
        for i, part_text in enumerate(texts, start=1):
            last = i == len(texts)
            part = OutboundPart(
                channel=channel,
                recipient_id=recipient,
                text=part_text,
                quick_replies=list(msg.quick_replies) if last else [],
                reply_to=msg.reply_to if i == 1 else None,
                session=msg.session_id or "",
                recipient_phone=msg.recipient_phone or "",
                part=i,
                parts=len(texts),
                menu_label=msg.menu_label if last else "",
            )
            payload = part.as_payload()
            if note and last:
                payload["note"] = note
            if msg.sensitive:
                payload["sensitive"] = True
            record = {
                "platform": channel,
                "direction": "outbound",
                "event_type": "message",
                "session": msg.session_id or None,
                "recipient_id": recipient,
                "idempotency_key": f"out:{uuid.uuid4()}",
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "sequence": seq + i,
                "last_error": "",
                "payload": json.dumps(payload, ensure_ascii=False),
            }
            name = rt.store.insert(DOCTYPE, record)
            names.append(name)
            if i == 1:
                first = {**record, "name": name, "creation": now}
    rt.store.commit()  # visible to the worker before it is told
    if note:
        log.warning("outbound %s: %s", names[-1], note)
    log.debug("outbound queued: %s part(s) on %s, first %s", len(names), channel, names[0])
    if getattr(rt.queue, "in_process", False):
        _keep_for_dispatch(first)
    # Nothing of the conversation still queued or sending (and the sequence was
    # numbered under the lock): the first part is the head, and dispatch may skip
    # looking for earlier parts.
    rt.queue.enqueue(DISPATCH_METHOD, name=names[0], head=lock.held and not pending)
    return names[0]


# The first record of each reply just queued, for its dispatch job in this
# process: the job need not read back what was written a moment ago. Taken
# (popped) by dispatch; a stale copy only makes the claim's compare-and-set
# fail, and then the record is read for its real status.
_just_queued: dict[str, dict[str, Any]] = {}


def _keep_for_dispatch(row: dict[str, Any]) -> None:
    if len(_just_queued) >= JUST_QUEUED_MAX:  # jobs lost with a stopped queue: drop them all
        _just_queued.clear()
    _just_queued[row["name"]] = row


def _read(rt: Runtime, name: str) -> dict[str, Any] | None:
    rows = rt.store.list(DOCTYPE, {"name": name}, fields=SEND_FIELDS, limit=1)
    return rows[0] if rows else None


def _split(rt: Runtime, channel: str, text: str, has_quick_replies: bool) -> tuple[list[str], str]:
    """The texts of the parts, and a note when something had to be cut."""
    if channel == "sms":
        fit = segments.fit_sms(text, rt.settings.int("sms_max_segments"))
        return [fit.text], fit.note
    # WhatsApp interactive messages (quick replies) carry at most 1024 characters of body.
    last_limit = (
        1024
        if channel == "whatsapp" and has_quick_replies and not router.via_make_com(channel, rt.settings)
        else None
    )
    return segments.split_for_channel(text, channel, last_limit=last_limit), ""


def _last_sequence(rt: Runtime, channel: str, recipient: str) -> tuple[int, bool]:
    """The conversation's highest sequence, and whether that part is still
    queued or sending. Parts are sent in order, so when the last one is
    settled every earlier one is too."""
    rows = rt.store.list(
        DOCTYPE,
        {"direction": "outbound", "platform": channel, "recipient_id": recipient},
        fields=["sequence", "status"],
        order_by="sequence desc",
        limit=1,
    )
    if not rows:
        return 0, False
    return int(rows[0].get("sequence") or 0), rows[0].get("status") in ("queued", "sending")


class _ConversationLock:
    """Serialises sequence numbering per conversation (a cache lock; two
    replies for the same person at the same instant are rare, and when the
    lock cannot be had in time the order falls back to creation time)."""

    def __init__(self, rt: Runtime, channel: str, recipient: str):
        self.rt = rt
        self.key = f"assistant_crm:outbox:seq:{channel}:{recipient}"
        self.held = False

    def __enter__(self) -> _ConversationLock:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            if self.rt.cache.add(self.key, 1, ttl=10):
                self.held = True
                break
            time.sleep(0.005)
        else:
            log.warning("outbox sequence lock busy; continuing without it")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.held:
            self.rt.cache.delete(self.key)


# --------------------------------------------------------------------------- dispatch


@dataclass
class _Claim:
    name: str
    row: dict[str, Any]
    attempts: int  # the value written by the claim: the CAS token for recording
    prepared: router.Prepared | None = None
    future: Any = None


def backoff_seconds(
    attempt: int, retry_after: float | None = None, base: float = 5.0, cap: float = 900.0
) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential with
    jitter, never shorter than the platform's ``Retry-After``."""
    exp = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = exp * random.uniform(0.5, 1.0)  # jitter spreads retries of many records
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), 86_400.0))
    return delay


def dispatch(name: str, head: bool = False) -> str:
    """Send outbox record ``name`` if it is due and first in its conversation,
    then the conversation's next parts. Returns the record's status afterwards
    (``queued`` when it is not due or waits behind an earlier part).

    ``head``: the caller knows no earlier part of the conversation is pending
    (:func:`enqueue_outbound` saw the conversation settled): one query less."""
    rt = get_runtime()
    kept = _just_queued.pop(name, None)
    row = kept or _read(rt, name)
    if not row or row.get("direction") != "outbound":
        log.warning("dispatch: no outbound record %s", name)
        return "missing"
    results = _run([row], chain=True, heads=head)
    status = results.get(name)
    if status and not (kept and status == "queued"):
        return status
    # Not claimed: the copy kept in memory may be stale (dispatch_due took it).
    return str((_read(rt, name) or {}).get("status") or "missing")


def dispatch_due(limit: int = 200) -> dict[str, int]:
    """Requeue records stuck in ``sending`` past their lease and send every
    due conversation head. Returns counts by outcome (for logs and tests).

    Fair: up to ``limit`` *conversations* are served, one head each, and
    their later parts follow in rounds (one part per conversation per
    round), so a conversation with hundreds of queued parts neither fills
    the page nor holds the others back.
    """
    rt = get_runtime()
    now = rt.clock.now()
    counts: dict[str, int] = {"requeued": _recover_stuck(rt, now, limit)}
    heads = _due_heads(rt, now, limit)
    for status in _run(list(heads.values()), chain=True, budget=DUE_BUDGET_SECONDS).values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def _due_heads(rt: Runtime, now: datetime, limit: int) -> dict[tuple[str, str], dict[str, Any]]:
    """The earliest due part of up to ``limit`` conversations, earliest due first.

    Each page leaves out the recipients already seen, so every page adds at
    least one conversation however many parts the first ones have queued.
    """
    heads: dict[tuple[str, str], dict[str, Any]] = {}
    seen: list[str] = []
    for _ in range(HEAD_PAGES):
        filters: dict[str, Any] = {
            "direction": "outbound",
            "status": "queued",
            "next_attempt_at": ("<=", now),
        }
        if seen:
            filters["recipient_id"] = ("not in", seen)
        rows = rt.store.list(
            DOCTYPE, filters, fields=SEND_FIELDS, order_by="next_attempt_at asc, sequence asc", limit=limit
        )
        for r in rows:
            key = (str(r.get("platform")), str(r.get("recipient_id")))
            if key not in heads and len(heads) >= limit:
                continue
            if key not in heads or _order_key(r) < _order_key(heads[key]):
                heads[key] = r
        seen = sorted({str(r.get("recipient_id")) for r in rows} | set(seen))
        if len(rows) < limit or len(heads) >= limit:
            break
    return heads


def _order_key(row: dict[str, Any]) -> tuple[int, str]:
    return int(row.get("sequence") or 0), str(row.get("creation") or "")


def _recover_stuck(rt: Runtime, now: datetime, limit: int) -> int:
    """Records left ``sending`` after their lease (a worker died mid-send)."""
    stuck = rt.store.list(
        DOCTYPE,
        {"direction": "outbound", "status": "sending", "next_attempt_at": ("<", now)},
        fields=["name", "attempts"],
        limit=limit,
    )
    max_attempts = max(1, rt.settings.int("outbound_max_attempts"))
    n = 0
    for r in stuck:
        attempts = int(r.get("attempts") or 0)
        error = "worker stopped while sending (lease expired); the platform may already have it"
        values: dict[str, Any] = (
            {"status": "dead", "last_error": f"{error}; attempts exhausted", "next_attempt_at": None}
            if attempts >= max_attempts
            else {"status": "queued", "last_error": error, "next_attempt_at": now}
        )
        if rt.store.update_where(
            DOCTYPE, {"name": r["name"], "status": "sending", "attempts": attempts}, values
        ):
            n += 1
            log.warning("outbound %s was stuck in sending; now %s", r["name"], values["status"])
    if n:
        rt.store.commit()
    return n


def _run(
    items: Iterable[str | dict[str, Any]], chain: bool, budget: float | None = None, heads: bool = False
) -> dict[str, str]:
    """Claim, send in parallel, record; then, for conversations whose part was
    sent, continue with their next due part (one part per conversation per
    round: conversations interleave). ``items`` are record names or rows
    already read; ``budget`` (seconds) stops the chaining early. Returns
    name -> status. ``heads``: the items are known to be their conversation's
    first pending part."""
    rt = get_runtime()
    stop_at = time.monotonic() + budget if budget is not None else None
    results: dict[str, str] = {}
    # (item, follows): ``follows`` marks the next part of a conversation whose
    # previous part was just sent; nothing earlier can be pending then.
    batch: list[tuple[str | dict[str, Any], bool]] = [(item, heads) for item in items]
    rounds = 0
    while batch and rounds < CHAIN_LIMIT and (stop_at is None or time.monotonic() < stop_at):
        rounds += 1
        claims: list[_Claim] = []
        for item, follows in batch:
            row = _read(rt, item) if isinstance(item, str) else item
            claim = _claim(rt, row, follows) if row else None
            if claim is not None:
                claims.append(claim)
            elif row:
                results.setdefault(row["name"], str(row.get("status") or "missing"))
        if not claims:
            break
        _send_all(rt, claims)
        batch = []
        for c in claims:
            status = _record(rt, c)
            results[c.name] = status
            if chain and status == "sent":
                nxt = _next_in_conversation(rt, c.row)
                if nxt:
                    batch.append((nxt, True))
    return results


def _claim(rt: Runtime, row: dict[str, Any], follows: bool = False) -> _Claim | None:
    """Take the record for this worker (compare-and-set), or None when it is
    not queued, not due, behind an earlier part, or someone else took it.

    ``follows``: the previous part of the conversation was just sent by this
    worker. Every part before that one was already settled when it was
    claimed, so the earlier-part check can be skipped (one query less)."""
    name = row["name"]
    if row.get("direction") != "outbound" or row.get("status") != "queued":
        return None
    now = rt.clock.now()
    due = row.get("next_attempt_at")
    if isinstance(due, datetime) and due > now:
        return None
    head = None if follows else _earlier_pending(rt, row)
    if head is not None:
        _wait_behind(rt, row, head)
        return None
    attempts = int(row.get("attempts") or 0)
    # The lease must outlast the send's own deadline, or a slow but live send
    # could be taken over and sent twice.
    lease = max(
        rt.settings.int("outbound_sending_timeout_seconds"), router.deadline_seconds(rt.settings) + 30
    )
    filters: dict[str, Any] = {"name": name, "status": "queued", "attempts": attempts}
    if isinstance(due, datetime):
        filters["next_attempt_at"] = ("<=", now)
    changed = rt.store.update_where(
        DOCTYPE,
        filters,
        # next_attempt_at doubles as the lease: past it, dispatch_due requeues.
        {"status": "sending", "attempts": attempts + 1, "next_attempt_at": now + timedelta(seconds=lease)},
    )
    if not changed:
        return None
    rt.store.commit()  # the claim is durable before anything goes on the wire
    row.update(status="sending", attempts=attempts + 1)
    return _Claim(name=name, row=row, attempts=attempts + 1)


def _conversation(row: dict[str, Any]) -> dict[str, Any]:
    return {"direction": "outbound", "platform": row.get("platform"), "recipient_id": row.get("recipient_id")}


def _earlier_pending(rt: Runtime, row: dict[str, Any]) -> dict[str, Any] | None:
    """The first earlier part of the same conversation still queued or
    sending (the one this record waits behind), or None."""
    rows = rt.store.list(
        DOCTYPE,
        {
            **_conversation(row),
            "status": ("in", ["queued", "sending"]),
            "sequence": ("<", int(row.get("sequence") or 0)),
        },
        fields=["name", "status", "next_attempt_at", "sequence"],
        order_by="sequence asc",
        limit=1,
    )
    return rows[0] if rows else None


def _wait_behind(rt: Runtime, row: dict[str, Any], head: dict[str, Any]) -> None:
    """Parts waiting behind an earlier one that backs off are not due before
    it: move their time along, so that ``dispatch_due``'s earliest-due page
    is not filled with parts that cannot go (which could starve the heads)."""
    head_due = head.get("next_attempt_at")
    if head.get("status") == "queued" and isinstance(head_due, datetime):
        _hold_followers(rt, {**row, "sequence": head.get("sequence")}, head_due)


def _hold_followers(rt: Runtime, row: dict[str, Any], until: datetime) -> None:
    """When a part backs off, the later parts of its conversation wait as long."""
    rt.store.update_where(
        DOCTYPE,
        {
            **_conversation(row),
            "status": "queued",
            "sequence": (">", int(row.get("sequence") or 0)),
            "next_attempt_at": ("<", until),
        },
        {"next_attempt_at": until},
    )


def _next_in_conversation(rt: Runtime, row: dict[str, Any]) -> dict[str, Any] | None:
    """The conversation's next pending part after ``row``, if it is still
    queued. When it is already ``sending`` another worker has taken the
    conversation over; following it to the part after would skip the
    earlier-part check and could overtake it."""
    rows = rt.store.list(
        DOCTYPE,
        {
            **_conversation(row),
            "status": ("in", ["queued", "sending"]),
            "sequence": (">", int(row.get("sequence") or 0)),
        },
        fields=SEND_FIELDS,
        order_by="sequence asc",
        limit=1,
    )
    return rows[0] if rows and rows[0].get("status") == "queued" else None


def _send_all(rt: Runtime, claims: list[_Claim]) -> None:
    """Prepare in this thread (store and settings), send in helper threads."""
    for c in claims:
        part = OutboundPart.from_payload(c.row.get("payload"), correlation_id=c.name)
        part.channel = part.channel or str(c.row.get("platform") or "")
        part.recipient_id = part.recipient_id or str(c.row.get("recipient_id") or "")
        try:
            c.prepared = router.prepare(part)
        except Exception as exc:  # keep the record and its error rather than crash the worker
            log.exception("outbound %s: preparing the send failed", c.name)
            c.prepared = router.Prepared(None, part, SendResult.retry(f"prepare error: {type(exc).__name__}"))
        if c.prepared.failure is None:
            c.future = router.start(c.prepared)
    deadline = time.monotonic() + router.deadline_seconds(rt.settings)
    for c in claims:
        if c.future is not None:
            assert c.prepared is not None
            c.prepared.failure = router.finish(c.future, c.prepared, deadline - time.monotonic())


def _record(rt: Runtime, c: _Claim) -> str:
    """Write the outcome of one send with a CAS on the claim."""
    assert c.prepared is not None
    result = c.prepared.failure or SendResult.retry("no result")
    now = rt.clock.now()
    guard = {"name": c.name, "status": "sending", "attempts": c.attempts}
    max_attempts = max(1, rt.settings.int("outbound_max_attempts"))
    values: dict[str, Any]
    if result.ok:
        values = {
            "status": "sent",
            "platform_message_id": result.platform_message_id or None,
            "next_attempt_at": None,
            "last_error": "",
        }
        if c.prepared.note:
            payload = _payload(c.row)
            payload["note"] = "; ".join(x for x in (payload.get("note"), c.prepared.note) if x)
            values["payload"] = json.dumps(payload, ensure_ascii=False)
        status = "sent"
    elif result.transient and c.attempts < max_attempts:
        delay = backoff_seconds(
            c.attempts,
            result.retry_after,
            base=rt.settings.float("outbound_backoff_base_seconds"),
            cap=rt.settings.float("outbound_backoff_max_seconds"),
        )
        values = {
            "status": "queued",
            "next_attempt_at": now + timedelta(seconds=delay),
            "last_error": _error_text(result, c.attempts),
        }
        status = "queued"
    else:
        reason = (
            result.error if not result.transient else f"{result.error} (gave up after {c.attempts} attempts)"
        )
        values = {
            "status": "dead",
            "next_attempt_at": None,
            "last_error": _error_text(result, c.attempts, reason),
        }
        status = "dead"
    if status in ("sent", "dead") and _payload(c.row).get("sensitive"):
        # A one-time code: once sent (or given up) its text is not kept (issue 12.11).
        payload = json.loads(values.get("payload") or "null") or _payload(c.row)
        payload["text"] = SENSITIVE_PLACEHOLDER
        values["payload"] = json.dumps(payload, ensure_ascii=False)
    recorded = rt.store.update_where(DOCTYPE, guard, values)
    if recorded and status == "queued":
        _hold_followers(rt, c.row, values["next_attempt_at"])
    if not recorded:
        if result.ok and result.platform_message_id:
            # A receipt overtook us (Make.com echoes the record name at once):
            # the status moved on, but the platform id still belongs here.
            if rt.store.update_where(
                DOCTYPE,
                {"name": c.name, "attempts": c.attempts, "platform_message_id": None},
                {"platform_message_id": result.platform_message_id},
            ):
                rt.store.commit()
                _apply_waiting_receipts(str(c.row.get("platform") or ""), result.platform_message_id)
        # Or the lease expired and another worker took the record over: its
        # outcome wins; ours is only logged.
        log.warning("outbound %s: outcome %s not recorded (record changed meanwhile)", c.name, status)
        row = rt.store.get(DOCTYPE, c.name) or {}
        return str(row.get("status") or status)
    rt.store.commit()
    channel = c.row.get("platform")
    if status == "sent" and result.platform_message_id:
        # After the commit above: a receipt that came before the id was stored is waiting for it.
        _apply_waiting_receipts(str(channel or ""), result.platform_message_id)
    if status == "sent":
        # The record is the trace of a send; a line per reply cost CPU under load.
        log.debug("outbound %s sent on %s (attempt %s)", c.name, channel, c.attempts)
    elif status == "queued":
        log.warning(
            "outbound %s on %s failed (attempt %s), retry at %s: %s",
            c.name,
            channel,
            c.attempts,
            values["next_attempt_at"],
            values["last_error"],
        )
    else:
        log.error(
            "outbound %s on %s is dead after %s attempt(s): %s",
            c.name,
            channel,
            c.attempts,
            values["last_error"],
        )
    return status


def _error_text(result: SendResult, attempt: int, error: str | None = None) -> str:
    # Platform messages may quote the number ("The 'To' number +260… is not valid").
    return mask_text(f"attempt {attempt}: {error or result.error}")[:1000]


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("payload")
    if isinstance(raw, dict):
        return dict(raw)
    try:
        data = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- receipts


def _apply_waiting_receipts(platform: str, platform_message_id: str) -> None:
    # The send stands if this fails; the receipt stays waiting (inbox.recover closes it later).
    from assistant_crm.services.delivery import inbox

    try:
        inbox.apply_waiting_receipts(platform, platform_message_id)
    except Exception:
        log.exception("outbound: waiting receipts for a %s message could not be applied", platform)


def apply_status(platform: str, platform_message_id: str, state: str, error: str = "") -> str | None:
    """Apply a delivery receipt to the outbound record it concerns.

    The record is found by ``platform_message_id``, else by name (Make.com
    echoes the correlation id). States: sent, delivered, read, failed
    (provider spellings such as ``undelivered`` are mapped). A receipt never
    moves a record backwards: read after delivered applies, delivered after
    read is ignored. Returns the record name when it was found, else None.
    """
    rt = get_runtime()
    target = RECEIPT_ALIASES.get((state or "").strip().lower())
    if not target:
        log.warning("receipt ignored: unknown state %r from %s", state, platform)
        return None
    pmid = str(platform_message_id or "").strip()
    if not pmid:
        log.warning("receipt ignored: no message id (%s, %s)", platform, target)
        return None
    row = rt.store.get_by(DOCTYPE, {"direction": "outbound", "platform_message_id": pmid})
    if row is None:
        by_name = rt.store.get(DOCTYPE, pmid)
        row = by_name if by_name and by_name.get("direction") == "outbound" else None
    if row is None:
        log.info("receipt for an unknown message on %s (%s)", platform, target)
        return None
    for _ in range(3):
        current = str(row.get("status") or "")
        if current == "dead" or RANK.get(current, -1) >= RANK[target]:
            log.info("receipt %s for %s ignored (already %s)", target, row["name"], current)
            return row["name"]
        values: dict[str, Any] = {"status": target}
        if target == "failed":
            values["last_error"] = mask_text(f"platform reported failure: {error or 'no detail'}")[:1000]
        if rt.store.update_where(DOCTYPE, {"name": row["name"], "status": current}, values):
            rt.store.commit()
            log.info("outbound %s: %s -> %s", row["name"], current, target)
            return row["name"]
        row = rt.store.get(DOCTYPE, row["name"]) or row
    log.warning("receipt %s for %s lost a race three times; left as is", target, row["name"])
    return row["name"]
