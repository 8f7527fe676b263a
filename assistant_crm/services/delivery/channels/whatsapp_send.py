"""WhatsApp Cloud API sender (``POST {graph}/{phone_number_id}/messages``).

Text goes as ``type: text``; quick replies become interactive reply buttons
(at most three, titles at most 20 characters) or, beyond three, an
interactive list (at most ten rows of 24 characters). Outside the 24-hour
customer-service window only an approved template may be sent: the router
decides that (:func:`window_open`) and sets ``part.template``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from assistant_crm.services.delivery.channels.base import (
    DEFAULT_TIMEOUT,
    OutboundPart,
    SendResult,
    clip,
    http_failure,
    post,
    response_json,
)

log = logging.getLogger("assistant_crm.channels.whatsapp")

WINDOW = timedelta(hours=24)
INTERACTIVE_BODY_LIMIT = 1024
# Graph error codes worth retrying: temporary, throttling, pair rate limit,
# service unavailable. Everything else (131047 re-engagement, 131026
# undeliverable, 190 token, 100 bad parameter...) is final.
TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004}
OUTSIDE_WINDOW = "outside WhatsApp 24-hour window"


@dataclass
class WhatsAppSender:
    base_url: str
    phone_number_id: str
    access_token: str
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    name: str = "whatsapp"

    def body(self, part: OutboundPart) -> dict[str, Any]:
        to = part.recipient_id.lstrip("+")
        msg: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        if part.template:
            msg["type"] = "template"
            msg["template"] = part.template
        elif part.quick_replies:
            msg["type"] = "interactive"
            msg["interactive"] = interactive(part.text, part.quick_replies, part.menu_label)
        else:
            msg["type"] = "text"
            msg["text"] = {"body": part.text, "preview_url": False}
        if part.reply_to and str(part.reply_to).startswith("wamid.") and not part.template:
            msg["context"] = {"message_id": part.reply_to}
        return msg

    def send(self, part: OutboundPart) -> SendResult:
        if not (self.phone_number_id and self.access_token):
            return SendResult.fail(
                "WhatsApp is not configured (whatsapp_phone_number_id / whatsapp_access_token)"
            )
        resp = post(
            "whatsapp",
            f"{self.base_url.rstrip('/')}/{self.phone_number_id}/messages",
            json=self.body(part),
            headers={"Authorization": f"Bearer {self.access_token}"},
            timeout=self.timeout,
        )
        if isinstance(resp, SendResult):
            return resp
        data = response_json(resp)
        if 200 <= resp.status_code < 300:
            messages = data.get("messages") or []
            wamid = str((messages[0] or {}).get("id") or "") if messages else ""
            if not wamid:
                # Accepted but no id: treat as sent (retrying could double it).
                log.warning("WhatsApp accepted %s without a message id", part.correlation_id)
            return SendResult.success(wamid, resp.status_code)
        return graph_failure(resp, data)


def graph_failure(resp: Any, data: dict[str, Any]) -> SendResult:
    """Classify a Graph API error body (shared with Messenger)."""
    err = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = err.get("code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    message = str(err.get("message") or "")[:300]
    detail = f"Graph error {code}: {message}" if code is not None else (message or resp.reason or "")
    if code == 131047:
        return SendResult.fail(
            f"{OUTSIDE_WINDOW} (Graph error 131047: {message})", status_code=resp.status_code
        )
    if code in TRANSIENT_CODES and resp.status_code < 500 and resp.status_code != 429:
        result = http_failure(resp, detail)
        return SendResult.retry(result.error, status_code=resp.status_code, retry_after=result.retry_after)
    return http_failure(resp, detail)


def interactive(text: str, quick_replies: list[str], menu_label: str = "") -> dict[str, Any]:
    """Reply buttons (up to three) or a list behind a menu button titled
    ``menu_label`` (the conversation's language; "Options" when none is given)."""
    body = {"text": text[:INTERACTIVE_BODY_LIMIT] or "…"}
    if len(quick_replies) <= 3:
        buttons = [
            {"type": "reply", "reply": {"id": f"qr_{i}", "title": clip(q, 20)}}
            for i, q in enumerate(quick_replies, start=1)
        ]
        return {"type": "button", "body": body, "action": {"buttons": buttons}}
    rows = [{"id": f"qr_{i}", "title": clip(q, 24)} for i, q in enumerate(quick_replies[:10], start=1)]
    label = clip(menu_label or "Options", 20)  # the list button's limit, and the section title's 24
    return {
        "type": "list",
        "body": body,
        "action": {"button": label, "sections": [{"title": label, "rows": rows}]},
    }


def template_for(name: str, language: str, text: str) -> dict[str, Any]:
    """The template message sent outside the window. The reply goes in the
    template's one body variable ``{{1}}`` so the person still gets it."""
    return {
        "name": name,
        "language": {"code": language or "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": text[:1024]}]}],
    }


def last_inbound_at(store: Any, session: str, recipient_id: str) -> datetime | None:
    """When this person last wrote to us on WhatsApp (the window's start).

    The latest inbound WhatsApp message (not a status receipt) of the
    session or from this sender; without one, the session's ``last_activity``.
    """
    seen: list[datetime] = []
    candidates = []
    if session:
        candidates.append(
            {"direction": "inbound", "event_type": "message", "platform": "whatsapp", "session": session}
        )
    if recipient_id:
        # Inbound rows keep the sender in recipient_id (the conversation's counterpart).
        candidates.append(
            {
                "direction": "inbound",
                "event_type": "message",
                "platform": "whatsapp",
                "recipient_id": recipient_id,
            }
        )
    for filters in candidates:
        row = store.get_by("Omnichannel Message", filters, order_by="creation desc")
        if row and isinstance(row.get("creation"), datetime):
            seen.append(row["creation"])
    if not seen and session:
        # No inbound record (e.g. the inbox rows were purged): the session's
        # last activity is the next best sign of the person's last message.
        sess = store.get("Chat Session", session)
        if sess and isinstance(sess.get("last_activity"), datetime):
            seen.append(sess["last_activity"])
    return max(seen) if seen else None


def window_open(store: Any, now: datetime, session: str, recipient_id: str) -> bool:
    if recipient_id:
        # The usual case, a reply to a message just received: the sender's
        # latest inbound message alone shows the window is open (one query, not
        # two; inbound rows keep the sender in recipient_id from the start,
        # their session only once the turn is done).
        rows = store.list(
            "Omnichannel Message",
            {
                "direction": "inbound",
                "event_type": "message",
                "platform": "whatsapp",
                "recipient_id": recipient_id,
            },
            fields=["creation"],
            order_by="creation desc",
            limit=1,
        )
        row = rows[0] if rows else None
        if row and isinstance(row.get("creation"), datetime) and now - row["creation"] < WINDOW:
            return True
    last = last_inbound_at(store, session, recipient_id)
    return last is not None and now - last < WINDOW
