"""The managers' side of the staff console: analytics, the knowledge base and its
content gaps, conversation search and export, and health.

Every figure is computed from the database (sessions, messages, the audit log
and the outbox), so nothing resets when the server restarts; ``get_summary``
(today's figures, also read by agents) too.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from assistant_crm.api.endpoint import ROLE_AGENT, ROLE_MANAGER, current_request, endpoint
from assistant_crm.services.infra import metrics, times
from assistant_crm.services.infra.errors import NotFound, ValidationError
from assistant_crm.services.infra.masking import mask_phone, mask_text
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import CHANNELS, INTENTS
from assistant_crm.services.pipeline import intents as intent_model

log = logging.getLogger("assistant_crm.dashboard")

SESSION = "Chat Session"
HISTORY = "Chat History"
OUTBOX = "Omnichannel Message"
AUDIT = "Assistant Audit Log"
KB = "Knowledge Base Article"
MANAGERS = (ROLE_MANAGER,)
MAX_RANGE_DAYS = 366
ROW_CAP = 200_000  # rows read per table for one range; beyond it the figures say "truncated"
DOCTYPE_DIR = Path(__file__).resolve().parent.parent / "assistant_crm" / "doctype"
FAILED = ("failed", "dead")


@cache
def _fields(doctype: str) -> frozenset[str]:
    folder = doctype.lower().replace(" ", "_")
    doc = json.loads((DOCTYPE_DIR / folder / f"{folder}.json").read_text())
    return frozenset(f["fieldname"] for f in doc["fields"])


def _select(doctype: str, *wanted: str) -> list[str]:
    """The wanted fields this DocType has (a field another change adds may not exist yet)."""
    have = _fields(doctype)
    return ["name", "creation", *[f for f in wanted if f in have]]


def _caller() -> str:
    return current_request().user or "manager"


def _audit(action: str, subject: str, details: dict[str, Any] | None = None) -> None:
    from assistant_crm.services.infra import audit

    try:
        # Subjects here are record names and KB slugs, never personal data.
        audit.record(_caller(), action, subject=subject, details=details or {}, subject_is_name=True)
    except Exception:
        log.exception("audit of %s failed", action)


def _as_dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def _parse_day(value: Any, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValidationError(f"{field} must be a date like 2026-11-29", field=field) from None


def _range(from_date: Any, to_date: Any, default_days: int = 14) -> tuple[date, date]:
    today = get_runtime().clock.now().date()
    end = _parse_day(to_date, "to_date") or today
    start = _parse_day(from_date, "from_date") or end - timedelta(days=default_days - 1)
    if start > end:
        raise ValidationError("from_date is after to_date", field="from_date")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValidationError(f"the range is at most {MAX_RANGE_DAYS} days", field="from_date")
    return start, end


def _rows(
    doctype: str, start: datetime, end: datetime, fields: list[str], extra: dict | None = None
) -> list[dict]:
    filters = {"creation": (">=", start), **(extra or {})}
    rows = get_runtime().store.list(doctype, filters, fields=fields, order_by="creation asc", limit=ROW_CAP)
    return [r for r in rows if (_as_dt(r.get("creation")) or start) < end]


def _timings(row: dict) -> dict:
    """A message row's stage timings (a JSON text in some stores), or {} when absent or unreadable."""
    timings = row.get("stage_timings")
    if isinstance(timings, str):
        try:
            timings = json.loads(timings)
        except ValueError:
            return {}
    return timings if isinstance(timings, dict) else {}


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return round(float(ordered[rank]), 2)


def _median(values: list[float]) -> float | None:
    return _percentile(values, 50)


# ----------------------------------------------------------------------------- summary


def _today() -> dict[str, Any]:
    """Today's turns from the database (not the cache's day counters, which an
    in-process cache loses on a restart): a visitor's message is a turn, and the
    assistant's answer to it carries the intent, confidence and stage timings."""
    today = get_runtime().clock.now().date()
    start = datetime(today.year, today.month, today.day)
    rows = _rows(
        HISTORY,
        start,
        start + timedelta(days=1),
        _select(HISTORY, "direction", "author", "channel", "intent", "confidence", "stage_timings"),
    )
    by_channel = dict.fromkeys(CHANNELS, 0)
    intents_today = dict.fromkeys(INTENTS, 0)
    latencies: list[float] = []
    low = 0
    threshold = intent_model.confidence_threshold()
    for r in rows:
        if r.get("direction") == "in" and r.get("author") == "user":
            channel = r.get("channel") or "unknown"
            by_channel[channel] = by_channel.get(channel, 0) + 1
        elif r.get("direction") == "out" and r.get("author") == "bot":
            if r.get("intent") in intents_today:
                intents_today[r["intent"]] += 1
            if isinstance(r.get("confidence"), (int, float)) and r["confidence"] < threshold:
                low += 1
            total = _timings(r).get("total")
            if isinstance(total, (int, float)):
                latencies.append(float(total))
    histogram = metrics.histogram_of(latencies)
    return {
        "day": today.strftime("%Y%m%d"),
        "messages_by_channel": by_channel,
        "messages_total": sum(by_channel.values()),
        "intents": intents_today,
        "handoffs": len(_handoffs(start, start + timedelta(days=1))),
        "low_confidence": low,
        "latency_histogram_ms": histogram,
        "latency_p50_ms": metrics.percentile_from_histogram(histogram, 50),
        "latency_p95_ms": metrics.percentile_from_histogram(histogram, 95),
    }


@endpoint(roles=(ROLE_MANAGER, ROLE_AGENT), methods=("GET",))
def get_summary() -> dict[str, Any]:
    """Open and waiting conversations, today's messages per channel and intents,
    hand-offs, p50/p95 turn latency and failed deliveries, all from the database,
    so a restart resets nothing."""
    rt = get_runtime()
    store = rt.store
    day = _today()
    return {
        "open_conversations": store.count(SESSION, {"status": ("!=", "closed")}),
        "waiting_for_agent": store.count(SESSION, {"status": "waiting_for_agent"}),
        "with_agent": store.count(SESSION, {"status": "with_agent"}),
        "messages_today": day["messages_total"],
        "messages_by_channel": day["messages_by_channel"],
        "intents_today": day["intents"],
        "handoffs_today": day["handoffs"],
        "low_confidence_today": day["low_confidence"],
        "latency_p50_ms": day["latency_p50_ms"],
        "latency_p95_ms": day["latency_p95_ms"],
        "latency_histogram_ms": day["latency_histogram_ms"],
        "failed_deliveries": store.count(OUTBOX, {"direction": "outbound", "status": ("in", list(FAILED))}),
        "day": day["day"],
    }


# --------------------------------------------------------------------------- analytics


def _handoffs(start: datetime, end: datetime) -> dict[str, datetime]:
    """Session -> when it was first handed to a person (the audit log's escalations)."""
    rows = _rows(AUDIT, start, end, ["name", "creation", "action", "subject"], {"action": "escalation"})
    out: dict[str, datetime] = {}
    for r in rows:
        when = _as_dt(r.get("creation"))
        if r.get("subject") and when and r["subject"] not in out:
            out[r["subject"]] = when
    return out


@endpoint(roles=MANAGERS, methods=("GET",))
def get_analytics(from_date: Any = None, to_date: Any = None) -> dict[str, Any]:
    """Figures for a date range (default: the last 14 days), from the database:
    conversations and messages per day and channel, intents, containment,
    hand-off rate, time to first agent response, verification success, CSAT,
    delivery failures and turn latency p50/p95 per stage."""
    first, last = _range(from_date, to_date)
    start = datetime(first.year, first.month, first.day)
    end = datetime(last.year, last.month, last.day) + timedelta(days=1)
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}

    sessions = _rows(SESSION, start, end, _select(SESSION, "channel", "status", "csat", "verified_person_id"))
    messages = _rows(
        HISTORY,
        start,
        end,
        _select(HISTORY, "session", "direction", "author", "channel", "intent", "stage_timings"),
    )
    truncated = len(sessions) >= ROW_CAP or len(messages) >= ROW_CAP

    def by_day(rows: list[dict]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
        for r in rows:
            when = _as_dt(r.get("creation"))
            if when is None:
                continue
            i = index.get(when.date().isoformat())
            if i is not None:
                out[r.get("channel") or "unknown"][i] += 1
        return dict(out)

    intents = Counter(m.get("intent") for m in messages if m.get("direction") == "in" and m.get("intent"))

    # Hand-offs: escalations in the range, and any conversation an agent wrote in.
    handed = _handoffs(start, end)
    first_agent: dict[str, datetime] = {}
    for m in messages:
        if m.get("author") == "agent" and m.get("session") not in first_agent:
            when = _as_dt(m.get("creation"))
            if when:
                first_agent[m["session"]] = when
    session_names = {s["name"] for s in sessions}
    handed_here = {n for n in session_names if n in handed or n in first_agent}
    handed_here |= {s["name"] for s in sessions if s.get("status") in ("waiting_for_agent", "with_agent")}
    total = len(sessions)
    response_seconds = [
        (first_agent[n] - handed[n]).total_seconds()
        for n in handed
        if n in first_agent and first_agent[n] >= handed[n]
    ]

    audit = _rows(
        AUDIT,
        start,
        end,
        ["name", "creation", "action", "subject"],
        {"action": ("in", ["verification.requested", "verification.succeeded"])},
    )
    requested = {a["subject"] for a in audit if a.get("action") == "verification.requested"}
    succeeded = {a["subject"] for a in audit if a.get("action") == "verification.succeeded"}
    attempts = len(requested | succeeded)

    from assistant_crm.services.dialogue import csat

    ratings = csat.summary(start, end)  # by when the rating was given

    outbound = _rows(
        OUTBOX, start, end, ["name", "creation", "platform", "status"], {"direction": "outbound"}
    )
    delivery: dict[str, dict[str, int]] = defaultdict(lambda: {"total": 0, "failed": 0})
    for o in outbound:
        d = delivery[o.get("platform") or "unknown"]
        d["total"] += 1
        if o.get("status") in FAILED:
            d["failed"] += 1

    stages: dict[str, list[float]] = defaultdict(list)
    for m in messages:
        if m.get("direction") != "out" or m.get("author") != "bot":
            continue
        for stage, ms in _timings(m).items():
            if isinstance(ms, (int, float)):
                stages[stage].append(float(ms))
    order = sorted(stages, key=lambda s: (s == "total", s))
    latency = {
        s: {"p50": _percentile(stages[s], 50), "p95": _percentile(stages[s], 95), "count": len(stages[s])}
        for s in order
    }

    return {
        "range": {"from": first.isoformat(), "to": last.isoformat()},
        "days": days,
        "truncated": truncated,
        "totals": {
            "conversations": total,
            "messages": len(messages),
            "handoffs": len(handed_here),
            "handoff_rate": (len(handed_here) / total) if total else None,
            "containment": ((total - len(handed_here)) / total) if total else None,
            "first_response": {
                "median_seconds": _median(response_seconds),
                "average_seconds": round(sum(response_seconds) / len(response_seconds), 1)
                if response_seconds
                else None,
                "count": len(response_seconds),
            },
            "verification": {
                "attempts": attempts,
                "succeeded": len(succeeded),
                "rate": (len(succeeded) / attempts) if attempts else None,
            },
            "csat": {
                "average": ratings["average"],
                "count": ratings["count"],
                "distribution": ratings["distribution"],
                "asked": ratings["asked"],
                "response_rate": ratings["response_rate"],
            },
            "delivery_failures": sum(d["failed"] for d in delivery.values()),
        },
        "conversations_by_day": by_day(sessions),
        "messages_by_day": by_day(messages),
        "intents": dict(intents.most_common()),
        "delivery": dict(delivery),
        "latency": latency,
    }


# ---------------------------------------------------------------------- knowledge base


def _kb_options(field: str) -> list[str]:
    doc = json.loads((DOCTYPE_DIR / "knowledge_base_article" / "knowledge_base_article.json").read_text())
    f = next(f for f in doc["fields"] if f["fieldname"] == field)
    return [o for o in (f.get("options") or "").split("\n") if o]


def _kb_row(r: dict[str, Any], full: bool = False) -> dict[str, Any]:
    out = {
        "slug": r.get("slug") or r.get("name"),
        "title": r.get("title") or "",
        "category": r.get("category") or "",
        "language": r.get("language") or "en",
        "published": bool(r.get("published")),
        "modified": r.get("modified"),
    }
    if full:
        out.update(keywords=r.get("keywords") or "", body=r.get("body") or "", source=r.get("source") or "")
    return out


def _kb_invalidate() -> None:
    try:
        from assistant_crm.services.pipeline import knowledge

        knowledge.invalidate()
    except Exception:
        log.warning("knowledge index not invalidated", exc_info=True)


@endpoint(roles=MANAGERS, methods=("GET",))
def kb_articles(q: Any = None) -> list[dict[str, Any]]:
    """Knowledge-base articles, optionally only those whose title, keywords or body contain ``q``."""
    rows = get_runtime().store.list(KB, order_by="title asc", limit=5000)
    needle = str(q or "").strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in " ".join(str(r.get(f) or "") for f in ("title", "keywords", "body", "slug")).lower()
        ]
    return [_kb_row(r) for r in rows]


@endpoint(roles=MANAGERS, methods=("GET",))
def kb_article(slug: str) -> dict[str, Any]:
    row = get_runtime().store.get(KB, str(slug or "").strip())
    if not row:
        raise NotFound(f"no article {slug!r}")
    return _kb_row(row, full=True)


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:80] or "article"


@endpoint(roles=MANAGERS, methods=("POST",))
def kb_save(
    title: Any = None,
    body: Any = None,
    slug: Any = None,
    category: Any = "General",
    language: Any = "en",
    keywords: Any = "",
    published: Any = 0,
) -> dict[str, Any]:
    """Create an article (no ``slug``) or change one."""
    if not isinstance(title, str) or not title.strip() or len(title) > 140:
        raise ValidationError("title is required (at most 140 characters)", field="title")
    if not isinstance(body, str) or not body.strip():
        raise ValidationError("body is required", field="body")
    if len(body) > 50_000:
        raise ValidationError("body is longer than 50000 characters", field="body")
    if category not in _kb_options("category"):
        raise ValidationError(
            f"category must be one of {', '.join(_kb_options('category'))}", field="category"
        )
    if language not in _kb_options("language"):
        raise ValidationError(
            f"language must be one of {', '.join(_kb_options('language'))}", field="language"
        )
    store = get_runtime().store
    values = {
        "title": title.strip(),
        "body": body.strip(),
        "category": category,
        "language": language,
        "keywords": str(keywords or "")[:2000],
        "published": 1 if str(published) in ("1", "true", "True") or published is True else 0,
    }
    if slug:
        slug = str(slug).strip()
        if not store.get(KB, slug):
            raise NotFound(f"no article {slug!r}")
        store.update(KB, slug, values)
        action = "kb_edit"
    else:
        base = _slugify(values["title"])
        slug, n = base, 2
        while store.get(KB, slug):
            slug, n = f"{base}-{n}", n + 1
        store.insert(KB, {"name": slug, "slug": slug, "source": "staff console", **values})
        action = "kb_create"
    _kb_invalidate()
    _audit(action, slug, {"published": values["published"]})
    return _kb_row(store.get(KB, slug) or {}, full=True)


@endpoint(roles=MANAGERS, methods=("POST",))
def kb_publish(slug: Any = None, published: Any = 1) -> dict[str, Any]:
    """Publish or unpublish an article."""
    store = get_runtime().store
    slug = str(slug or "").strip()
    if not slug or not store.get(KB, slug):
        raise NotFound(f"no article {slug!r}")
    flag = 1 if str(published) in ("1", "true", "True") or published is True else 0
    store.update(KB, slug, {"published": flag})
    _kb_invalidate()
    _audit("kb_publish" if flag else "kb_unpublish", slug)
    return _kb_row(store.get(KB, slug) or {})


# ------------------------------------------------------------------------ content gaps

_STOP = set(
    "a an the is are was were be been am i you he she it we they me my your our their of to in on at for "
    "and or but if so do does did can could would should will shall may might must how what when where why "
    "who which please hi hello thanks thank ok okay yes no not with about from this that there here get "
    "have has had any some want need know tell".split()
)
_WORD = re.compile(r"[a-z]{2,}")
_IDENTIFIER = re.compile(r"\d{3,}")
SKIP_INTENTS = ("greeting", "goodbye", "escalation")


def _gap_key(text: str) -> str:
    words = sorted({w.rstrip("s") if len(w) > 4 else w for w in _WORD.findall(text.lower())} - _STOP)
    return " ".join(words[:8])


def _looks_like_question(m: dict[str, Any]) -> bool:
    text = (m.get("text") or "").strip()
    if len(_WORD.findall(text.lower())) < 3 or m.get("intent") in SKIP_INTENTS:
        return False
    # An answer to the bot's own question (an NRC, a code, a claim number) is not a question.
    return not (_IDENTIFIER.search(text) and len(text.split()) <= 6)


def _kb_answers(text: str, language: str | None = None) -> bool:
    try:
        from assistant_crm.services.pipeline import knowledge

        return knowledge.best(text, language=language) is not None
    except Exception:
        log.warning("knowledge search failed while finding content gaps", exc_info=True)
        return True


@endpoint(roles=MANAGERS, methods=("GET",))
def content_gaps(from_date: Any = None, to_date: Any = None, limit: Any = 50) -> list[dict[str, Any]]:
    """Questions the assistant could not answer, grouped and counted (default: the last 30 days).

    A person's question counts when the knowledge base had no good match for
    it, when the assistant had to ask what they meant (low confidence) or could
    not place it (out of scope), or when the conversation went to a person right
    after it. Groups the knowledge base now answers are left out."""
    from assistant_crm.services.pipeline import intents as intents_mod

    first, last = _range(from_date, to_date, default_days=30)
    start = datetime(first.year, first.month, first.day)
    end = datetime(last.year, last.month, last.day) + timedelta(days=1)
    try:
        limit = max(1, min(200, int(limit)))
    except (TypeError, ValueError):
        raise ValidationError("limit must be a number", field="limit") from None
    threshold = intents_mod.confidence_threshold()
    inbound = _rows(
        HISTORY,
        start,
        end,
        _select(HISTORY, "session", "direction", "author", "text", "intent", "confidence"),
        {"direction": "in"},
    )
    handed = _handoffs(start, end)
    last_question: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}

    def add(m: dict[str, Any], reason: str) -> None:
        text = mask_text((m.get("text") or "").strip())[:300]
        key = _gap_key(text)
        if not key:
            return
        g = groups.setdefault(
            key, {"texts": Counter(), "reasons": set(), "sessions": set(), "last_seen": None}
        )
        g["texts"][text] += 1
        g["reasons"].add(reason)
        g["sessions"].add(m.get("session"))
        when = _as_dt(m.get("creation"))
        if when and (g["last_seen"] is None or when > g["last_seen"]):
            g["last_seen"] = when

    for m in inbound:
        if not _looks_like_question(m):
            continue
        session = m.get("session")
        when = _as_dt(m.get("creation"))
        if session in handed and when and when <= handed[session]:
            last_question[session] = m
        intent = m.get("intent") or ""
        confidence = m.get("confidence")
        if intent == "out_of_scope":
            add(m, "out_of_scope")
        elif confidence is not None and float(confidence) < threshold:
            add(m, "clarification_asked")
        elif intent == "information_request" and not _kb_answers(m.get("text") or ""):
            add(m, "no_knowledge_base_match")
    for m in last_question.values():
        add(m, "handoff_after_question")

    out = []
    for g in groups.values():
        question, _n = g["texts"].most_common(1)[0]
        if _kb_answers(question):
            continue  # an article answers it now
        out.append(
            {
                "question": question,
                "count": sum(g["texts"].values()),
                "conversations": len(g["sessions"]),
                "reasons": sorted(g["reasons"]),
                "examples": [t for t, _ in g["texts"].most_common(3)],
                "last_seen": times.to_iso(g["last_seen"]) if g["last_seen"] else None,
            }
        )
    out.sort(key=lambda g: (-g["count"], g["question"]))
    return out[:limit]


# ----------------------------------------------------------------------- conversations


@endpoint(roles=MANAGERS, methods=("GET",))
def search_conversations(
    channel: Any = None,
    status: Any = None,
    from_date: Any = None,
    to_date: Any = None,
    q: Any = None,
    limit: Any = 100,
) -> list[dict[str, Any]]:
    """Conversations by channel, status, start date, the end of a phone number
    (what a masked number shows) or a claim number mentioned in them."""
    from assistant_crm.api.agent import display_name
    from assistant_crm.services.models import CHANNELS, SESSION_STATUSES
    from assistant_crm.services.pipeline import context

    store = get_runtime().store
    try:
        limit = max(1, min(500, int(limit)))
    except (TypeError, ValueError):
        raise ValidationError("limit must be a number", field="limit") from None
    filters: dict[str, Any] = {}
    if channel:
        if channel not in CHANNELS:
            raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
        filters["channel"] = channel
    if status:
        if status not in SESSION_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(SESSION_STATUSES)}", field="status")
        filters["status"] = status
    first = _parse_day(from_date, "from_date")
    last = _parse_day(to_date, "to_date")
    if first:
        filters["creation"] = (">=", datetime(first.year, first.month, first.day))
    names: set[str] | None = None
    needle = str(q or "").strip()
    if needle:
        if len(needle) > 60:
            raise ValidationError("q is at most 60 characters", field="q")
        digits = re.sub(r"\D", "", needle.split("*")[-1])
        names = set()
        if len(digits) >= 2 and re.fullmatch(r"[\d\s+*()-]+", needle):
            rows = store.list(SESSION, {"phone": ("like", f"%{digits}")}, fields=["name"], limit=1000)
            names |= {r["name"] for r in rows}
        if len(needle) >= 3:
            escaped = needle.replace("%", "").replace("_", r"\_")
            hits = store.list(HISTORY, {"text": ("like", f"%{escaped}%")}, fields=["session"], limit=2000)
            names |= {h["session"] for h in hits if h.get("session")}
        if not names:
            return []
        filters["name"] = ("in", sorted(names)[:1000])
    rows = store.list(SESSION, filters, order_by="last_activity desc", limit=limit * 2 if last else limit)
    out = []
    for row in rows:
        created = _as_dt(row.get("creation"))
        if last and created and created.date() > last:
            continue
        s = context.from_row(row)
        out.append(
            {
                "session_id": s.name,
                "channel": s.channel,
                "display_name": display_name(s),
                "phone": mask_phone(s.phone),
                "status": s.status,
                "assigned_agent": s.assigned_agent,
                "verified": s.is_verified,
                "created": times.to_iso(created) if created else None,
                "last_activity": times.to_iso(s.last_activity) if s.last_activity else None,
                "message_count": s.message_count,
            }
        )
    return out[:limit]


@endpoint(roles=MANAGERS, methods=("GET",))
def export_person(session_id: Any = None) -> dict[str, Any]:
    """Everything held on the person behind a conversation, as JSON (a data request):
    all their conversations (by verified identity, else phone, else sender) with every message."""
    from assistant_crm.services.pipeline import context

    store = get_runtime().store
    row = store.get(SESSION, str(session_id or "").strip()) if session_id else None
    if not row:
        raise NotFound(f"no conversation {session_id!r}")
    if row.get("verified_person_id"):
        match: dict[str, Any] = {"verified_person_id": row["verified_person_id"]}
    elif row.get("phone"):
        match = {"phone": row["phone"]}
    elif row.get("platform_sender_id"):
        match = {"channel": row["channel"], "platform_sender_id": row["platform_sender_id"]}
    else:
        match = {"name": row["name"]}
    sessions = store.list(SESSION, match, order_by="creation asc", limit=1000)
    conversations = []
    for s in sessions:
        history = context.history_rows(s["name"])
        conversations.append(
            {
                "session_id": s["name"],
                "channel": s.get("channel"),
                "status": s.get("status"),
                "started": s.get("creation"),
                "last_activity": s.get("last_activity"),
                "display_name": s.get("display_name") or "",
                "phone": s.get("phone") or "",
                "language": s.get("language"),
                "verified_person_id": s.get("verified_person_id") or "",
                "messages": [
                    {
                        "time": h.get("creation"),
                        "direction": h.get("direction"),
                        "author": h.get("author"),
                        "text": h.get("text") or "",
                        "attachments": h.get("attachments") or [],
                    }
                    for h in history
                ],
            }
        )
    _audit("export_person", row["name"], {"matched_by": sorted(match), "conversations": len(conversations)})
    return {
        "exported_at": times.to_iso(get_runtime().clock.now()),
        "exported_by": _caller(),
        "matched_by": sorted(match),
        "conversations": json.loads(json.dumps(conversations, default=str)),
    }


# ------------------------------------------------------------------------------ health


_DOCTOR_STATES = {
    "ok": "ok",
    "not configured": "off",
    "skipped": "off",
    "incomplete": "warn",
    "rejected": "fail",
    "unreachable": "fail",
    "error": "fail",
}


def _check_externals(rt: Any) -> list[dict[str, Any]]:
    """The checks of ``assistant-crm doctor``: one authenticated call per configured
    service (in parallel here, so a slow one does not hold the page)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from assistant_crm.standalone import doctor

    def one(service: Any) -> Any:
        with requests.Session() as http:
            return doctor.check(rt.settings, service, http)

    with ThreadPoolExecutor(max_workers=max(1, len(doctor.SERVICES))) as pool:
        results = list(pool.map(one, doctor.SERVICES))
    return [
        {
            "name": r.label,
            "status": _DOCTOR_STATES.get(r.state, "warn"),
            "detail": r.state + (f" ({r.detail})" if r.detail else ""),
        }
        for r in results
    ]


def _circuits(rt: Any) -> list[dict[str, Any]]:
    from assistant_crm.standalone import doctor

    return doctor.circuits(rt.settings)


@endpoint(roles=MANAGERS, methods=("GET",))
def health() -> dict[str, Any]:
    """The ``doctor`` checks, queue depths, dead letters and circuit states."""
    rt = get_runtime()
    store = rt.store
    now = rt.clock.now()
    checks: list[dict[str, Any]] = []
    try:
        counts = {d: store.count(d) for d in (SESSION, KB, "Intent Definition")}
        checks.append(
            {"name": "Database", "status": "ok", "detail": ", ".join(f"{k}: {v}" for k, v in counts.items())}
        )
    except Exception as e:
        checks.append({"name": "Database", "status": "fail", "detail": type(e).__name__})
    cache_kind = type(rt.cache).__name__
    try:
        rt.cache.set("acrm:health:ping", 1, ttl=10)
        checks.append(
            {"name": "Cache", "status": "ok", "detail": "Redis" if "Redis" in cache_kind else cache_kind}
        )
    except Exception as e:
        checks.append({"name": "Cache", "status": "fail", "detail": type(e).__name__})
    checks.extend(_check_externals(rt))
    queues = [
        {
            "name": "Inbox waiting to be processed",
            "value": store.count(
                OUTBOX, {"direction": "inbound", "status": ("in", ["received", "processing"])}
            ),
        },
        {
            "name": "Outbox due now",
            "value": store.count(
                OUTBOX, {"direction": "outbound", "status": "queued", "next_attempt_at": ("<=", now)}
            ),
        },
        {
            "name": "Outbox sending",
            "value": store.count(OUTBOX, {"direction": "outbound", "status": "sending"}),
        },
        {
            "name": "Outbox failed (will retry)",
            "value": store.count(OUTBOX, {"direction": "outbound", "status": "failed"}),
        },
        {"name": "Dead letters", "value": store.count(OUTBOX, {"direction": "outbound", "status": "dead"})},
    ]
    dead = store.list(OUTBOX, {"direction": "outbound", "status": "dead"}, order_by="modified desc", limit=50)
    return {
        "checks": checks,
        "queues": queues,
        "circuits": _circuits(rt),
        "dead_letters": [
            {
                "id": d["name"],
                "channel": d.get("platform"),
                "recipient": mask_phone(d.get("recipient_id") or "")
                if (d.get("recipient_id") or "").lstrip("+").isdigit()
                else (d.get("recipient_id") or "")[:4] + "…",
                "error": mask_text(d.get("last_error") or "")[:300],
                "attempts": d.get("attempts") or 0,
                "modified": d.get("modified"),
            }
            for d in dead
        ],
    }


@endpoint(roles=MANAGERS, methods=("POST",))
def retry_dead_letter(message_id: Any = None) -> dict[str, Any]:
    """Queue a dead outbound message for another try."""
    from assistant_crm.services.delivery import outbox

    rt = get_runtime()
    name = str(message_id or "").strip()
    row = rt.store.get(OUTBOX, name) if name else None
    if not row or row.get("direction") != "outbound":
        raise NotFound(f"no outbound message {name!r}")
    if row.get("status") != "dead":
        raise ValidationError(f"message {name} is {row.get('status')}, not dead", field="message_id")
    changed = rt.store.update_where(
        OUTBOX,
        {"name": name, "status": "dead"},
        {"status": "queued", "attempts": 0, "next_attempt_at": rt.clock.now(), "last_error": ""},
    )
    if changed:
        rt.store.commit()
        rt.queue.enqueue(outbox.DISPATCH_METHOD, name=name)
        _audit("retry_dead_letter", name, {"channel": row.get("platform")})
    return {"message_id": name, "status": "queued"}
