"""Response templates: the assistant's fixed wording, per key, language and channel.

:func:`render` picks the most specific enabled Response Template (language and
channel, language for all channels, English and channel, English for all
channels), falls back to the built-in English text below when the store has
none, and fills ``{placeholders}`` from ``data``.

Placeholders are filled by a restricted formatter: only plain names
(``{first_name}``) are looked up; a missing name becomes empty text, and
attribute access or indexing (``{0.__class__}``, ``{x[0]}``) is never evaluated,
so a template edited in the desk cannot read the engine's objects.
Templates are cached in process, keyed by a fingerprint of the table (count and
latest ``modified``) re-read at most every 30 seconds; :func:`invalidate` drops
the cache at once.
"""

from __future__ import annotations

import logging
import re
import string
import time
from dataclasses import dataclass
from typing import Any

from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.infra.store_cache import PerStore, is_stale
from assistant_crm.services.models import Rendered

log = logging.getLogger("assistant_crm.templates")

DOCTYPE = "Response Template"
CACHE_TTL_SECONDS = 3600
FINGERPRINT_CHECK_SECONDS = 30
VERSION_CHECK_SECONDS = 1.0
VERSION_KEY = "assistant_crm:templates:version"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPEC_RE = re.compile(r"^[<>^=]?[+\- ]?\d{0,3}[,_]?(?:\.\d{1,2})?[dfn%]?$")
_PARSER = string.Formatter()

# Built-in English text for every key: used when the store has no template
# (a new database before seeding, or a template deleted by mistake).
# (body, quick replies)
BUILTIN: dict[str, tuple[str, tuple[str, ...]]] = {
    # -- the 12 intents ------------------------------------------------------
    "greeting": (
        "Hello! I'm {assistant_name}, the WCFCB assistant. I can help with claims, pensions and payments, "
        "and with employer registration and assessments. How can I help you today?",
        ("Check my claim", "My payments", "Report an accident", "Talk to an agent"),
    ),
    "goodbye": ("Thank you for contacting WCFCB, {first_name}. Take care, and write to us any time.", ()),
    "claim_submission": (
        "To start a claim, the accident or occupational disease must be reported to the Board within 3 days "
        "on Form No. 6 (the accident report) at the nearest WCFCB branch. The claim needs the medical reports; "
        "after a death, it also needs the death certificate and marriage or birth certificates for the dependants.",
        ("Documents needed", "Check my claim", "Talk to an agent"),
    ),
    "claim_status": (
        "Here is the latest on your claim{plural}, {first_name}:",
        ("My payments", "My documents"),
    ),
    "payment_inquiry": (
        "Here are your recent payments, {first_name}:",
        ("Check my claim", "Talk to an agent"),
    ),
    "employer_contributions": (
        "Here is the assessment position for {employer_name}:",
        ("When are assessments due?", "Talk to an agent"),
    ),
    "employer_registration": (
        "Every employer must register with the Board within 14 days of starting business; only the Civil "
        "Service, the Defence Forces and the Police are exempt, and casual workers are covered too. Please visit "
        "the nearest WCFCB branch to register. Once registered, you submit earnings statements and pay the "
        "annual assessment, which falls due on 1 April.",
        ("When are assessments due?", "Assessment rates", "Talk to an agent"),
    ),
    "document_status": (
        "Here are the documents on claim {claim_number}:",
        ("Check my claim", "Talk to an agent"),
    ),
    "information_request": ("{answer}", ()),
    "service_request": (
        "I can help with that. Changes to your details, such as your phone number or how you are paid, are made "
        "at the nearest WCFCB branch, or I can pass you to one of our staff.",
        ("Talk to an agent", "Where are the branches?"),
    ),
    "escalation": ("Of course. I'm passing your conversation to one of our staff.", ()),
    "out_of_scope": (
        "I'm sorry, I can only help with workers' compensation: claims, pensions and payments, and employer "
        "registration and assessments. What would you like to know?",
        ("Check my claim", "Report an accident", "Talk to an agent"),
    ),
    # -- live-data companions (see docs/knowledge-base.md) ----------------------
    "claim_status_none": (
        "I couldn't find any claims under your name, {first_name}. If the accident was reported recently, it may "
        "not be registered yet; please contact the nearest WCFCB branch.",
        ("Report an accident", "Talk to an agent"),
    ),
    "claim_choice": ("Which claim do you mean? Please reply with the claim number.", ()),
    "claim_not_found": (
        "I couldn't find claim {claim_number} among your claims. Please check the number and try again.",
        ("Check my claim",),
    ),
    "payment_none": (
        "I found no payments on your record yet, {first_name}.",
        ("Check my claim", "Talk to an agent"),
    ),
    "document_none": ("There are no documents recorded on claim {claim_number} yet.", ("Check my claim",)),
    "employer_not_found": (
        "I couldn't find an employer account linked to you. If you are registering a new business, please visit "
        "the nearest WCFCB branch.",
        ("Employer registration", "Talk to an agent"),
    ),
    # -- pipeline keys -----------------------------------------------------------
    "clarify": (
        "I want to be sure I help with the right thing. Did you mean one of these?",
        ("Check my claim", "My payments", "Ask a question", "Talk to an agent"),
    ),
    "fallback": (
        'Sorry, something went wrong on my side. Please try again, or type "agent" to talk to one of our staff.',
        ("Talk to an agent",),
    ),
    "no_answer": (
        "I'm sorry, I don't have an answer to that. Would you like me to pass your question to one of our staff?",
        ("Talk to an agent", "No, thanks"),
    ),
    "verify_ask": (
        "To keep your information safe, I first need to confirm who you are. Please send your NRC number and "
        "your full name, for example: 123456/78/1 John Banda.",
        (),
    ),
    "verify_failed": (
        "Sorry, I couldn't match those details to our records. Please check your NRC number (like 123456/78/1) "
        "and your full name as it appears on your NRC, and try again.",
        ("Talk to an agent",),
    ),
    "verify_locked": (
        "For your security, verification is locked for {minutes} minutes after too many failed attempts. Please "
        "try again later or visit the nearest WCFCB branch.",
        ("Talk to an agent",),
    ),
    "otp_sent": (
        "Thank you. I've sent a 6-digit code by SMS to {masked_phone}. Please type it here within 5 minutes.",
        (),
    ),
    "otp_invalid": ("That code doesn't match. Please check the SMS and type the 6-digit code again.", ()),
    "otp_expired": (
        "That code has expired. Please send your NRC number and full name again and I'll send you a new code.",
        (),
    ),
    "verified": ("Thank you, {first_name}, you're verified.", ()),
    "verify_need_name": ("Thank you. Now please send your full name as it appears on your NRC.", ()),
    "verify_need_nrc": (
        "Thank you. Now please send your NRC number (six digits, two digits and one digit, like 123456/78/1).",
        (),
    ),
    "verify_nrc_malformed": (
        "That NRC number doesn't look right. An NRC has six digits, two digits and one digit, like 123456/78/1. "
        "Please send it again with your full name.",
        (),
    ),
    "verify_pending_reminder": (
        "Before I can show your records I need your NRC number and full name, for example: 123456/78/1 John Banda.",
        ("Talk to an agent",),
    ),
    "verify_no_phone": (
        "I found your record, but there is no phone number on it to send a security code to. Please visit the "
        "nearest WCFCB branch to update your details, or ask for one of our staff.",
        ("Talk to an agent",),
    ),
    "otp_reminder": (
        "Please type the 6-digit code I sent by SMS to {masked_phone}. Reply RESEND if it did not arrive.",
        (),
    ),
    "otp_resend_limit": (
        "I've already sent several codes. Please send your NRC number and full name again to start over.",
        (),
    ),
    "otp_not_sent": (
        "Sorry, I couldn't send the security code just now. Please try again in a few minutes.",
        (),
    ),
    "other_person_refused": (
        "For your privacy I can only show records linked to you, so I can't look up another person's NRC, claim "
        "or employer account. If someone else needs help, they can contact us themselves.",
        ("Check my claim", "My payments"),
    ),
    "logout": (
        "You're signed out. I'll confirm who you are again before showing anything personal.",
        (),
    ),
    "escalation_waiting": (
        "You're now waiting for one of our staff; they will reply here as soon as they are free. You can keep "
        "writing in the meantime.",
        (),
    ),
    "escalation_with_agent": ("{agent_name} from WCFCB is now with you.", ()),
    "escalation_apology": (
        "I'm sorry for the trouble. I'm passing your conversation to one of our staff now.",
        (),
    ),
    "agent_unavailable": (
        "Our staff aren't available right now. Your message is saved and someone will reply here. Meanwhile I can "
        "still answer general questions.",
        (),
    ),
    "records_unavailable": ("I can't reach our records right now; please try again in a few minutes.", ()),
    "rate_limited": (
        "You're sending messages faster than I can answer. Please wait a moment and try again.",
        (),
    ),
    "session_expired": (
        "Your session ended after {minutes} minutes without activity, so I've signed you out for your safety. "
        "How can I help you now?",
        (),
    ),
}

# Values a placeholder takes when the caller does not give one.
_DEFAULT_DATA: dict[str, str] = {"minutes": "30"}


@dataclass
class _Cache:
    templates: dict[tuple[str, str, str], tuple[str, list[str]]]
    fingerprint: tuple
    version: object
    store: object  # the store it was read from (identity, not id(): ids are reused)
    built_at: float
    checked_at: float
    version_checked_at: float


# One cache per store: a Frappe process may serve several sites.
_MAX_CACHES = 16
_caches: PerStore[_Cache] = PerStore(_MAX_CACHES)


def _fingerprint(store) -> tuple:
    latest = store.list(DOCTYPE, fields=["modified"], order_by="modified desc", limit=1)
    return (store.count(DOCTYPE), str(latest[0]["modified"]) if latest else "")


def _load(store, version: object) -> _Cache:
    fingerprint = _fingerprint(store)
    rows = store.list(
        DOCTYPE,
        {"enabled": 1},
        fields=["name", "template_key", "language", "channel", "body", "quick_replies"],
        order_by="modified asc",  # the latest edit wins a clash
    )
    templates = {}
    for r in rows:
        key = (str(r.get("template_key") or "").strip(), r.get("language") or "en", r.get("channel") or "all")
        replies = [q.strip() for q in str(r.get("quick_replies") or "").splitlines() if q.strip()]
        templates[key] = (str(r.get("body") or ""), replies)
    now = time.monotonic()
    log.debug("templates loaded: %d enabled", len(templates))
    return _Cache(templates, fingerprint, version, store, now, now, now)


def _shared_version(rt) -> object:
    try:
        return rt.cache.get(VERSION_KEY)
    except Exception:  # a cache outage must not stop replies
        return None


def _fingerprint_changed(cache: _Cache, rt) -> bool:
    return _fingerprint(rt.store) != cache.fingerprint


def _is_stale(cache: _Cache | None, rt, now: float) -> tuple[bool, object]:
    """(stale?, shared version); the shared version is read at most every
    VERSION_CHECK_SECONDS to spare a cache round trip per render."""
    return is_stale(
        cache,
        rt,
        now,
        ttl=CACHE_TTL_SECONDS,
        version_check=VERSION_CHECK_SECONDS,
        fingerprint_check=FINGERPRINT_CHECK_SECONDS,
        shared_version=_shared_version,
        fingerprint_changed=_fingerprint_changed,
    )


def _current() -> _Cache | None:
    try:
        rt = get_runtime()
    except RuntimeError:
        return None  # no runtime (a bare unit test or a CLI without a database): built-ins only
    return _caches.get(rt, _is_stale, _load)


def invalidate() -> None:
    """Drop the cached templates (one was added, edited or deleted)."""
    _caches.clear()
    try:
        get_runtime().cache.incr(VERSION_KEY, 1, ttl=CACHE_TTL_SECONDS * 24)
    except Exception:
        log.debug("templates: could not bump the shared version", exc_info=True)


def _as_text(value: Any, spec: str) -> str:
    if value is None:
        return ""
    if spec and isinstance(value, (int, float)) and not isinstance(value, bool) and _SPEC_RE.match(spec):
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            pass
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    return str(value)


def fill(template: str, data: dict[str, Any] | None) -> str:
    """Fill ``{name}`` placeholders from ``data``: unknown or unsafe ones become
    empty, and a broken template is returned without its braces instead of raising."""
    data = data or {}
    try:
        parts = list(_PARSER.parse(template))
    except ValueError:
        log.warning("templates: malformed template text; braces dropped")
        return template.replace("{", "").replace("}", "")
    out: list[str] = []
    blank = False
    for literal, name, spec, _conversion in parts:
        out.append(literal)
        if name is None:
            continue
        # Only a plain name is looked up: "0.__class__", "x[0]", "" and "0" are not names.
        value = data.get(name) if _NAME_RE.match(name) and "{" not in (spec or "") else None
        text = _as_text(value, spec or "")
        blank = blank or not text
        out.append(text)
    text = "".join(out)
    return _tidy(text) if blank else text


def _tidy(text: str) -> str:
    """Close the gaps an empty placeholder leaves ("Thank you, , you're" -> "Thank you, you're")."""
    text = re.sub(r"[ \t]+([,.!?:;])", r"\1", text)
    text = re.sub(r",\s*(?=[,.!?:;])", "", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


def _pick(cache: _Cache | None, key: str, language: str, channel: str) -> tuple[str, list[str]] | None:
    if cache is None:
        return None
    for candidate in (
        (key, language, channel),
        (key, language, "all"),
        (key, "en", channel),
        (key, "en", "all"),
    ):
        found = cache.templates.get(candidate)
        if found is not None:
            return found
    return None


def _base_data() -> dict[str, Any]:
    data: dict[str, Any] = dict(_DEFAULT_DATA)
    try:
        data["assistant_name"] = get_runtime().settings.str("assistant_name") or "Mwana"
    except Exception:  # no runtime: keep the default name
        data["assistant_name"] = "Mwana"
    return data


def render(
    key: str, language: str = "en", channel: str = "all", data: dict[str, Any] | None = None
) -> Rendered:
    """The text and quick replies of template ``key`` for a language and
    channel, filled from ``data``. Never raises on missing or odd placeholders;
    an unknown key gives the ``fallback`` text (and a warning in the log)."""
    language = (language or "en").strip().lower()
    channel = (channel or "all").strip().lower()
    try:
        cache = _current()
    except Exception:  # the database is down: the built-in text still answers
        log.exception("templates: store unavailable; using built-in text")
        cache = None
    chosen = _pick(cache, key, language, channel)
    if chosen is None:
        if key in BUILTIN:
            body, replies = BUILTIN[key][0], list(BUILTIN[key][1])
        else:
            log.warning("templates: unknown template key %r; using the fallback text", key)
            body, replies = BUILTIN["fallback"][0], list(BUILTIN["fallback"][1])
        chosen = (body, replies)
    values = _base_data()
    values.update(data or {})
    body, replies = chosen
    return Rendered(
        text=fill(body, values), quick_replies=[r for r in (fill(q, values) for q in replies) if r]
    )
