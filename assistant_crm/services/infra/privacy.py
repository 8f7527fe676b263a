"""One person's data: export everything kept about them, or erase it.

A person is the CoreBusiness person id a session was verified as. Their data
is every session verified as them, the other sessions of the same platform
sender (their WhatsApp number, Telegram chat...), the messages of those
sessions and the channel records (inbox/outbox) of those conversations.

Erasing replaces content instead of deleting rows: message text becomes
``[erased]``, sessions lose names, phones, tokens and context, channel
payloads are emptied. The audit log is not touched (its entries are masked
and hash-chained; deleting them would break the chain): the erasure itself is
appended to it, naming the person only by a keyed hash (issue 12.11).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from assistant_crm.services.infra import audit
from assistant_crm.services.infra.errors import NotFound, ValidationError
from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.privacy")

SESSION = "Chat Session"
HISTORY = "Chat History"
CHANNEL = "Omnichannel Message"
ERASED = "[erased]"
_MAX_ROWS = 100_000


@dataclass
class EraseResult:
    sessions: int = 0
    messages: int = 0
    channel_records: int = 0

    def summary(self) -> str:
        return (
            f"{self.sessions} session(s), {self.messages} message(s), "
            f"{self.channel_records} channel record(s) erased; audit chain kept"
        )


def person_ref(person_id: str) -> str:
    """How the audit log names a person: a hash, never the id in clear."""
    return "person:" + hashlib.sha256(f"assistant_crm:person:{person_id}".encode()).hexdigest()[:16]


def _check(person_id: Any) -> str:
    if not isinstance(person_id, str) or not person_id.strip() or len(person_id.strip()) > 140:
        raise ValidationError("person is required (a CoreBusiness person id)", field="person")
    return person_id.strip()


def _sessions(person_id: str) -> list[dict[str, Any]]:
    store = get_runtime().store
    verified = store.list(SESSION, filters={"verified_person_id": person_id}, limit=_MAX_ROWS)
    by_name = {s["name"]: s for s in verified}
    for s in verified:
        # The same sender's other conversations (before verification, earlier days).
        if s.get("channel") != "web" and s.get("platform_sender_id"):
            for other in store.list(
                SESSION,
                filters={"channel": s["channel"], "platform_sender_id": s["platform_sender_id"]},
                limit=_MAX_ROWS,
            ):
                by_name.setdefault(other["name"], other)
    return list(by_name.values())


def _channel_rows(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    store = get_runtime().store
    rows: dict[str, dict[str, Any]] = {}
    for s in sessions:
        for row in store.list(CHANNEL, filters={"session": s["name"]}, limit=_MAX_ROWS):
            rows[row["name"]] = row
        if s.get("channel") != "web" and s.get("platform_sender_id"):
            platform = "sms" if s["channel"] == "sms" else s["channel"]
            for row in store.list(
                CHANNEL,
                filters={"platform": platform, "recipient_id": s["platform_sender_id"]},
                limit=_MAX_ROWS,
            ):
                rows[row["name"]] = row
    return list(rows.values())


def export_person(person_id: Any) -> dict[str, Any]:
    """Everything kept about the person, as JSON-ready data (404 when nothing is)."""
    person_id = _check(person_id)
    store = get_runtime().store
    sessions = _sessions(person_id)
    if not sessions:
        raise NotFound("no conversations are kept for this person")
    messages = []
    for s in sessions:
        messages += store.list(
            HISTORY, filters={"session": s["name"]}, order_by="creation asc", limit=_MAX_ROWS
        )
    channel = _channel_rows(sessions)
    subjects = {s["name"] for s in sessions}
    audit_rows = [
        r
        for r in store.list(audit.AUDIT_DOCTYPE, order_by="sequence asc", limit=_MAX_ROWS)
        if r.get("subject") in subjects
    ]
    audit.record("system", "privacy.exported", person_ref(person_id), {"sessions": len(sessions)})
    return {
        "person_id": person_id,
        "sessions": [_plain(s) for s in sessions],
        "messages": [_plain(m) for m in messages],
        "channel_records": [_plain(r) for r in channel],
        "audit_entries": [_plain(r) for r in audit_rows],
    }


def erase_person(person_id: Any, actor: str = "system") -> EraseResult:
    """Replace the person's conversations and records (see the module doc)."""
    person_id = _check(person_id)
    rt = get_runtime()
    store = rt.store
    sessions = _sessions(person_id)
    if not sessions:
        raise NotFound("no conversations are kept for this person")
    result = EraseResult()
    for row in _channel_rows(sessions):
        store.update(CHANNEL, row["name"], {"payload": {"erased": True}, "recipient_id": "erased"})
        result.channel_records += 1
    for s in sessions:
        for m in store.list(HISTORY, filters={"session": s["name"]}, fields=["name"], limit=_MAX_ROWS):
            store.update(HISTORY, m["name"], {"text": ERASED, "attachments": [], "quick_replies": []})
            result.messages += 1
        store.update(
            SESSION,
            s["name"],
            {
                "display_name": "",
                "phone": "",
                "platform_sender_id": f"erased:{s['name']}",
                "visitor_token": "",
                "verified_person_id": "",
                "verified_at": None,
                "locked_intent": "",
                "context": {},
                "status": "closed",
            },
        )
        result.sessions += 1
        _forget_cached(s)
    audit.record(
        actor,
        "privacy.erased",
        person_ref(person_id),
        {"sessions": result.sessions, "messages": result.messages, "channel_records": result.channel_records},
    )
    log.info("privacy: erased a person's data (%s)", result.summary())
    return result


def _forget_cached(session: dict[str, Any]) -> None:
    from assistant_crm.services.pipeline import context

    context.invalidate(session["name"])


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, str) and k in (
            "payload",
            "context",
            "attachments",
            "quick_replies",
            "stage_timings",
        ):
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out
