"""The conversation as HTML for the Chat Session form's Transcript field.

Pure Python (no frappe), so the standalone tests render it too. Every piece of
text from a person, the bot or an agent is escaped: the desk inserts this HTML
as it is.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

STATUS_LABELS = {
    "bot": "With the assistant",
    "waiting_for_agent": "Waiting for an agent",
    "with_agent": "With an agent",
    "closed": "Closed",
}
_WHO = {"user": "Person", "bot": "Assistant", "system": "Notice"}
_STYLE = (
    "<style>"
    ".acrm-transcript{display:flex;flex-direction:column;gap:6px;max-height:480px;overflow-y:auto;"
    "padding:8px;background:var(--bg-light-gray,#f4f5f6);border-radius:8px}"
    ".acrm-msg{max-width:78%;padding:6px 10px;border-radius:10px;white-space:normal;word-wrap:break-word}"
    ".acrm-in{align-self:flex-start;background:var(--bg-color,#fff);border:1px solid var(--border-color,#ddd)}"
    ".acrm-out{align-self:flex-end;background:#e3f1ea}"
    ".acrm-agent{background:#dbe9fb}"
    ".acrm-system{align-self:center;background:transparent;color:var(--text-muted,#777);font-size:11px}"
    ".acrm-meta{font-size:11px;color:var(--text-muted,#777);margin-bottom:2px}"
    ".acrm-chip{display:inline-block;font-size:11px;border:1px solid var(--border-color,#ccc);"
    "border-radius:10px;padding:0 6px;margin:2px 4px 0 0}"
    ".acrm-empty{color:var(--text-muted,#777)}"
    "</style>"
)


def status_label(status: str | None) -> str:
    """A person-readable status ("Waiting for an agent"), never the raw value."""
    return STATUS_LABELS.get(status or "", (status or "").replace("_", " ").capitalize())


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d %b %H:%M")
    try:
        return datetime.fromisoformat(str(value)).strftime("%d %b %H:%M")
    except (TypeError, ValueError):
        return ""


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value) if value else []
    except (TypeError, ValueError):
        return []
    return parsed if isinstance(parsed, list) else []


def _safe_url(url: str) -> str | None:
    return url if url.startswith(("https://", "http://", "/files/", "/private/files/", "/api/")) else None


def render(rows: list[dict[str, Any]]) -> str:
    """Chat History rows (oldest first) as the transcript's HTML."""
    if not rows:
        return _STYLE + '<div class="acrm-transcript"><div class="acrm-empty">No messages yet.</div></div>'
    parts = [_STYLE, '<div class="acrm-transcript">']
    for row in rows:
        author = str(row.get("author") or "")
        direction = "in" if row.get("direction") == "in" else "out"
        who = (row.get("agent") or "Agent") if author == "agent" else _WHO.get(author, author.title())
        classes = f"acrm-msg acrm-{direction}" + (" acrm-agent" if author == "agent" else "")
        if author == "system":
            classes = "acrm-msg acrm-system"
        text = html.escape(str(row.get("text") or "")).replace("\n", "<br>")
        when = _when(row.get("creation"))
        meta = html.escape(f"{who} · {when}" if when else str(who))
        if direction == "in" and row.get("intent"):
            meta += f" · {html.escape(str(row['intent']))}"
        body = [f'<div class="acrm-meta">{meta}</div><div class="acrm-text">{text}</div>']
        for att in _list(row.get("attachments")):
            if isinstance(att, dict) and _safe_url(str(att.get("url") or "")):
                name = html.escape(str(att.get("name") or "attachment"))
                body.append(
                    f'<div><a href="{html.escape(str(att["url"]), quote=True)}" target="_blank" '
                    f'rel="noopener noreferrer">{name}</a></div>'
                )
        chips = [
            f'<span class="acrm-chip">{html.escape(str(q))}</span>' for q in _list(row.get("quick_replies"))
        ]
        if chips:
            body.append("<div>" + "".join(chips) + "</div>")
        parts.append(f'<div class="{classes}">{"".join(body)}</div>')
    parts.append("</div>")
    return "".join(parts)
