"""The simulated phone: people's conversations with the assistant on every channel.

A person's message (``POST /phone/api/send``) goes to the app as the
platform's signed webhook; the app's replies reach the sandbox's platform APIs
and land here. Replies are "delivered" as soon as the phone has them and
"read" once the phone page has shown them; the platforms' receipts for both
go back to the app (WhatsApp statuses, Messenger deliveries, Make.com status
events), in order, from one background thread.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from assistant_crm.sandbox import app_webhooks as hooks
from assistant_crm.sandbox.app_webhooks import AppClient, Delivery

log = logging.getLogger("assistant_crm.sandbox.phone")

CHANNELS = ("whatsapp", "telegram", "messenger", "sms")
MAX_TEXT = 4096
MAX_PER_CONVERSATION = 500
_NON_DIGITS = re.compile(r"\D")


class PhoneError(Exception):
    """A bad request to the phone API (answered 400, or ``status``)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def peer_key(value: Any) -> str:
    """A conversation's key: the digits of the phone number, chat id or PSID."""
    return _NON_DIGITS.sub("", str(value or ""))


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class PhoneMessage:
    """One message on the phone. ``direction`` is seen from the assistant:
    "in" the person wrote it, "out" the assistant's reply."""

    channel: str
    peer: str
    direction: str
    text: str
    at: str = field(default_factory=_now_iso)
    status: str = "sent"  # in: sent|failed; out: delivered|read
    id: str = ""
    buttons: list[dict[str, str]] = field(default_factory=list)
    error: str = ""
    via: str = ""  # "make_com" when the reply came through the Make.com relay

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("via")
        return out


class Phone:
    """Thread-safe conversations plus the receipt sender."""

    def __init__(self, app: AppClient | None = None):
        self.app = app
        self._lock = threading.Lock()
        self._conversations: dict[tuple[str, str], list[PhoneMessage]] = {}
        self._telegram_ids = itertools.count(1)
        self._receipts: queue.Queue[Callable[[], Delivery]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._changed = threading.Condition(self._lock)
        # Meta may post a receipt before it answers the send it is about: with
        # this set the platforms do so every time (the app must keep the receipt).
        self.receipts_before_answer = False

    # -- reading -------------------------------------------------------------
    def messages(self, channel: str, peer: str, mark_read: bool = True) -> list[dict[str, Any]]:
        """The conversation, oldest first; replies not yet read become read (and the app hears so)."""
        channel, key = _check_channel(channel), peer_key(peer)
        if not key:
            raise PhoneError("peer must be a phone number, chat id or PSID (digits)")
        with self._lock:
            conv = list(self._conversations.get((channel, key), []))
            newly_read = (
                [m for m in conv if m.direction == "out" and m.status == "delivered"] if mark_read else []
            )
            for m in newly_read:
                m.status = "read"
            out = [m.public() for m in conv]
        for m in newly_read:
            self._receipt(m, "read")
        return out

    def wait_for_reply(
        self, channel: str, peer: str, count: int = 1, timeout: float = 30.0
    ) -> list[PhoneMessage]:
        """Block until the conversation holds ``count`` replies (for tests and scripts)."""
        key = (_check_channel(channel), peer_key(peer))
        with self._changed:
            self._changed.wait_for(
                lambda: sum(1 for m in self._conversations.get(key, []) if m.direction == "out") >= count,
                timeout,
            )
            return [m for m in self._conversations.get(key, []) if m.direction == "out"]

    # -- the person writes -----------------------------------------------------
    def send(self, channel: str, sender: Any, text: Any, name: str = "") -> dict[str, Any]:
        """Post the person's message to the app as the platform would; returns the stored message."""
        channel = _check_channel(channel)
        key = peer_key(sender)
        if not 3 <= len(key) <= 20:
            raise PhoneError("from must be a phone number, chat id or PSID (3 to 20 digits)")
        if not isinstance(text, str) or not text.strip():
            raise PhoneError("text must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise PhoneError(f"text is longer than {MAX_TEXT} characters")
        if self.app is None:
            raise PhoneError(
                "this sandbox is not connected to an app: start it with `assistant-crm serve --with-sandbox`",
                status=503,
            )
        reply = self._button_for(channel, key, text)
        s = self.app.secrets
        if channel == "whatsapp":
            mid, payload = hooks.whatsapp_message(s, key, text, name=name, reply=reply)
            result = self.app.meta("whatsapp", payload)
        elif channel == "messenger":
            mid, payload = hooks.messenger_message(s, key, text, reply=reply)
            result = self.app.meta("messenger", payload)
        elif channel == "telegram":
            n = next(self._telegram_ids)
            mid = str(n)
            result = self.app.telegram(
                hooks.telegram_update(int(key), text, n, first_name=name.split(" ")[0])
            )
        else:
            mid, form = hooks.sms_form(f"+{key}", text)
            result = self.app.sms(form)
        msg = PhoneMessage(channel, key, "in", text, id=mid, status="sent" if result.ok else "failed")
        if not result.ok:
            msg.error = (
                f"the app answered {result.status}: {result.body[:200]}" if result.status else result.body
            )
        self._add(msg)
        return msg.public()

    def _button_for(self, channel: str, key: str, text: str) -> dict[str, str] | None:
        """A tap on one of the last reply's buttons goes as a button reply, as on the real app."""
        if channel not in ("whatsapp", "messenger"):
            return None
        with self._lock:
            conv = self._conversations.get((channel, key), [])
            last = next((m for m in reversed(conv) if m.direction == "out"), None)
        for b in last.buttons if last else []:
            if b.get("title") == text and b.get("id"):
                return b
        return None

    # -- the assistant's replies arrive ------------------------------------------
    def deliver(self, delivered: dict[str, Any], via: str = "", now: bool = False) -> PhoneMessage | None:
        """A message a platform API accepted reaches the person's phone; with
        ``now`` its receipts are posted before this returns."""
        channel = str(delivered.get("platform") or "")
        if channel not in CHANNELS:
            log.info("sandbox phone: no %r channel on the phone; message kept by the platform only", channel)
            return None
        msg = PhoneMessage(
            channel,
            peer_key(delivered.get("recipient")),
            "out",
            str(delivered.get("text") or ""),
            status="delivered",
            id=str(delivered.get("id") or ""),
            buttons=list(delivered.get("buttons") or []),
            via=via,
        )
        self._add(msg)
        self._receipt(msg, "sent", now)
        self._receipt(msg, "delivered", now)
        return msg

    def _add(self, msg: PhoneMessage) -> None:
        with self._changed:
            conv = self._conversations.setdefault((msg.channel, msg.peer), [])
            conv.append(msg)
            del conv[:-MAX_PER_CONVERSATION]
            self._changed.notify_all()

    # -- receipts ------------------------------------------------------------------
    def _receipt(self, msg: PhoneMessage, state: str, now: bool = False) -> None:
        app = self.app
        if app is None or not msg.id:
            return
        job: Callable[[], Delivery] | None = None
        if msg.via == "make_com":
            job = lambda: app.make_com(hooks.make_com_status(msg.channel, msg.id, state))  # noqa: E731
        elif msg.channel == "whatsapp":
            job = lambda: app.meta("whatsapp", hooks.whatsapp_status(app.secrets, msg.id, state, msg.peer))  # noqa: E731
        elif msg.channel == "messenger" and state == "delivered":
            job = lambda: app.meta("messenger", hooks.messenger_delivery(app.secrets, msg.peer, [msg.id]))  # noqa: E731
        elif msg.channel == "messenger" and state == "read":
            job = lambda: app.meta("messenger", hooks.messenger_read(app.secrets, msg.peer))  # noqa: E731
        # Telegram's Bot API and Africa's Talking (without a delivery-report URL) send no receipts.
        if job is None:
            return
        if now:
            job()
            return
        self._receipts.put(job)
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._drain, name="sandbox-receipts", daemon=True)
                self._worker.start()

    def _drain(self) -> None:
        while True:
            job = self._receipts.get()
            try:
                job()
            except Exception:  # a receipt that fails is only a receipt: keep the phone working
                log.exception("sandbox: sending a receipt failed")
            finally:
                self._receipts.task_done()

    def receipts_sent(self, timeout: float = 10.0) -> bool:
        """Wait until every queued receipt has been posted (tests)."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._receipts.join(), done.set()), daemon=True).start()
        return done.wait(timeout)


def _check_channel(channel: Any) -> str:
    if channel not in CHANNELS:
        raise PhoneError(f"channel must be one of {', '.join(CHANNELS)}")
    return str(channel)
