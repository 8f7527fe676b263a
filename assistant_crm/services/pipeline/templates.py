"""Response templates: the assistant's fixed wording, per key, language and channel.

:func:`render` picks the most specific enabled Response Template (language and
channel, language for all channels, English and channel, English for all
channels) and fills ``{placeholders}`` from ``data``. When the store has no
such template (a new database before seeding, a template deleted by mistake,
the database down) the same choice is made among the rows of
``fixtures/response_template.json``: the one source of the shipped text.

Placeholders are filled by a restricted formatter: only plain names
(``{first_name}``) are looked up; a missing name becomes empty text, and
attribute access or indexing (``{0.__class__}``, ``{x[0]}``) is never evaluated,
so a template edited in the desk cannot read the engine's objects.
Templates are cached in process (:class:`VersionedCache`), keyed by a
fingerprint of the table (count and latest ``modified``) re-read at most every
30 seconds; :func:`invalidate` drops the cache at once, here and elsewhere.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import string
from pathlib import Path
from typing import Any

from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.infra.versioned_cache import VersionedCache
from assistant_crm.services.models import Rendered

log = logging.getLogger("assistant_crm.templates")

DOCTYPE = "Response Template"
FIXTURE_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "response_template.json"
CACHE_TTL_SECONDS = 3600
FINGERPRINT_CHECK_SECONDS = 30
VERSION_CHECK_SECONDS = 1.0
VERSION_KEY = "assistant_crm:templates:version"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPEC_RE = re.compile(r"^[<>^=]?[+\- ]?\d{0,3}[,_]?(?:\.\d{1,2})?[dfn%]?$")
_PARSER = string.Formatter()

# Values a placeholder takes when the caller does not give one.
_DEFAULT_DATA: dict[str, str] = {"minutes": "30"}

Table = dict[tuple[str, str, str], tuple[str, list[str]]]


def _table(rows: list[dict[str, Any]]) -> Table:
    """(key, language, channel) -> (body, quick replies) for the enabled rows; a later row wins a clash."""
    table: Table = {}
    for r in rows:
        if not int(r.get("enabled", 1) or 0):
            continue
        key = (str(r.get("template_key") or "").strip(), r.get("language") or "en", r.get("channel") or "all")
        replies = [q.strip() for q in str(r.get("quick_replies") or "").splitlines() if q.strip()]
        table[key] = (str(r.get("body") or ""), replies)
    return table


@functools.lru_cache(maxsize=1)
def shipped() -> Table:
    """The templates shipped in ``fixtures/response_template.json`` (the fallback)."""
    rows = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))
    return _table([r for r in rows if r.get("doctype", DOCTYPE) == DOCTYPE])


def _fingerprint(store) -> tuple:
    latest = store.list(DOCTYPE, fields=["modified"], order_by="modified desc", limit=1)
    return (store.count(DOCTYPE), str(latest[0]["modified"]) if latest else "")


def _load(store) -> Table:
    if store is None:
        return {}  # no runtime (a bare unit test or a CLI without a database): shipped text only
    rows = store.list(
        DOCTYPE,
        {"enabled": 1},
        fields=["name", "template_key", "language", "channel", "body", "quick_replies", "enabled"],
        order_by="modified asc",  # the latest edit wins a clash
    )
    table = _table(rows)
    log.debug("templates loaded: %d enabled", len(table))
    return table


_cache: VersionedCache[Table] = VersionedCache(
    _load,
    version_key=VERSION_KEY,
    fingerprint=_fingerprint,
    ttl=CACHE_TTL_SECONDS,
    version_check=VERSION_CHECK_SECONDS,
    fingerprint_check=FINGERPRINT_CHECK_SECONDS,
)


def invalidate() -> None:
    """Drop the cached templates (one was added, edited or deleted)."""
    _cache.invalidate()


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


def _pick(table: Table, key: str, language: str, channel: str) -> tuple[str, list[str]] | None:
    for candidate in (
        (key, language, channel),
        (key, language, "all"),
        (key, "en", channel),
        (key, "en", "all"),
    ):
        found = table.get(candidate)
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
        table = _cache.get()
    except Exception:  # the database is down: the shipped text still answers
        log.exception("templates: store unavailable; using the shipped text")
        table = {}
    chosen = _pick(table, key, language, channel) or _pick(shipped(), key, language, channel)
    if chosen is None:
        log.warning("templates: unknown template key %r; using the fallback text", key)
        chosen = _pick(shipped(), "fallback", language, channel) or ("", [])
    values = _base_data()
    values.update(data or {})
    body, replies = chosen
    return Rendered(
        text=fill(body, values), quick_replies=[r for r in (fill(q, values) for q in replies) if r]
    )


# WhatsApp shows at most three reply buttons; more go in a list behind one button.
MENU_AFTER = 3


def menu_label(quick_replies: list[str], language: str, channel: str = "all") -> str:
    """The title of the button that opens a list of ``quick_replies``, in the
    conversation's language ("" when they fit as reply buttons)."""
    if len(quick_replies) <= MENU_AFTER:
        return ""
    return render("label_options", language=language, channel=channel).text
