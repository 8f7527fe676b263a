"""The sender interface every outbound channel implements, and its result.

A sender is built by :mod:`assistant_crm.services.delivery.router` with its
configuration already read from settings (base URL, tokens), so that
:meth:`Sender.send` is pure HTTP: it can run in a helper thread with a hard
deadline, and under Frappe it never needs ``frappe.local`` there.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import threading
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

log = logging.getLogger("assistant_crm.channels")

# connect, read: a platform that accepts the connection and then says nothing
# must not hold a worker for long.
DEFAULT_TIMEOUT: tuple[float, float] = (3.0, 10.0)


@dataclass
class OutboundPart:
    """One part of a reply, as stored in the outbox record's ``payload``."""

    channel: str
    recipient_id: str
    text: str
    quick_replies: list[str] = field(default_factory=list)
    reply_to: str | None = None
    session: str = ""
    correlation_id: str = ""  # the outbox record name
    recipient_phone: str = ""
    part: int = 1
    parts: int = 1
    # WhatsApp outside the 24-hour window: send the approved template instead.
    template: dict[str, Any] | None = None
    menu_label: str = ""  # the button that opens a list of choices (WhatsApp), already translated

    def as_payload(self) -> dict[str, Any]:
        out = {
            "channel": self.channel,
            "recipient_id": self.recipient_id,
            "text": self.text,
            "quick_replies": list(self.quick_replies),
            "reply_to": self.reply_to,
            "session": self.session,
            "part": self.part,
            "parts": self.parts,
        }
        if self.recipient_phone:
            out["recipient_phone"] = self.recipient_phone
        if self.menu_label:
            out["menu_label"] = self.menu_label
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | str | None, correlation_id: str = "") -> OutboundPart:
        data = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
        return cls(
            channel=str(data.get("channel") or ""),
            recipient_id=str(data.get("recipient_id") or ""),
            text=str(data.get("text") or ""),
            quick_replies=[str(q) for q in (data.get("quick_replies") or [])],
            reply_to=data.get("reply_to") or None,
            session=str(data.get("session") or ""),
            correlation_id=correlation_id,
            recipient_phone=str(data.get("recipient_phone") or ""),
            part=int(data.get("part") or 1),
            parts=int(data.get("parts") or 1),
            menu_label=str(data.get("menu_label") or ""),
        )


@dataclass
class SendResult:
    """What one send attempt achieved.

    ``ok``: the platform accepted the message. Otherwise ``transient`` tells the
    outbox to retry (429, 5xx, timeouts, connection errors), honouring
    ``retry_after`` seconds when the platform said so; a non-transient failure
    is final (dead-letter).
    """

    ok: bool
    platform_message_id: str = ""
    transient: bool = False
    retry_after: float | None = None
    error: str = ""
    status_code: int | None = None
    note: str = ""

    @classmethod
    def success(
        cls, platform_message_id: str = "", status_code: int | None = None, note: str = ""
    ) -> SendResult:
        return cls(ok=True, platform_message_id=platform_message_id, status_code=status_code, note=note)

    @classmethod
    def retry(
        cls, error: str, status_code: int | None = None, retry_after: float | None = None
    ) -> SendResult:
        return cls(ok=False, transient=True, error=error, status_code=status_code, retry_after=retry_after)

    @classmethod
    def fail(cls, error: str, status_code: int | None = None) -> SendResult:
        return cls(ok=False, transient=False, error=error, status_code=status_code)


class Sender(Protocol):
    """One outbound route (a platform API or the Make.com relay)."""

    name: str

    def send(self, part: OutboundPart) -> SendResult:
        """Deliver one part; never raises for network or platform errors."""


_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def http_session(key: str) -> requests.Session:
    """A pooled ``requests.Session`` per route (kept-alive connections).

    No automatic retries at this level: the outbox owns retry timing so that
    backoff survives a process restart.

    The environment is read once, here: with ``trust_env`` requests looks up
    the proxy variables (and ~/.netrc) on every request, which was ~0.5 ms of
    CPU per send, a tenth of a whole message. When a proxy variable is set the
    session keeps reading the environment (``NO_PROXY`` needs it per host);
    otherwise only a CA bundle variable is carried over. Platform calls carry
    their own credentials, so ~/.netrc is not used.
    """
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is None:
            sess = requests.Session()
            if not urllib.request.getproxies_environment():
                sess.trust_env = False
                sess.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
            sess.mount("http://", adapter)
            sess.mount("https://", adapter)
            _sessions[key] = sess
        return sess


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def response_json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def post(
    session_key: str,
    url: str,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> requests.Response | SendResult:
    """POST and turn network failures into a transient :class:`SendResult`.

    The URL is never logged (Telegram carries the bot token in its path).
    """
    try:
        return http_session(session_key).post(url, timeout=timeout, **kwargs)
    except requests.Timeout:
        return SendResult.retry("timeout waiting for the platform")
    except requests.ConnectionError as exc:
        return SendResult.retry(f"connection error: {type(exc).__name__}")
    except requests.RequestException as exc:
        return SendResult.retry(f"request error: {type(exc).__name__}")


def http_failure(resp: requests.Response, detail: str) -> SendResult:
    """The generic HTTP classification: 429/5xx/408 transient, other 4xx final."""
    code = resp.status_code
    err = f"HTTP {code}: {detail}".strip().rstrip(":")
    if code == 429 or code == 408 or code >= 500:
        return SendResult.retry(
            err, status_code=code, retry_after=parse_retry_after(resp.headers.get("Retry-After"))
        )
    return SendResult.fail(err, status_code=code)


def clip(text: str, limit: int) -> str:
    """Cut a label to a platform's limit (button titles)."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"
