"""Picks the sender for an outbound part and prepares it for the wire.

Routing by the record's channel: WhatsApp, Messenger (and Instagram, which
uses the same Send API) and Telegram go to their platform API unless
``<platform>_via_make_com`` is set, then to the Make.com relay; SMS goes to
the provider in ``sms_provider``. Every sender's base URL comes from settings.

:func:`prepare` runs in the worker's own thread (it reads settings and the
store); the returned sender's ``send`` is pure HTTP and may run in a helper
thread under a deadline (:func:`send_with_deadline`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from assistant_crm.services.delivery.channels.base import OutboundPart, Sender, SendResult
from assistant_crm.services.delivery.channels.make_com_send import MakeComSender
from assistant_crm.services.delivery.channels.messenger_send import MessengerSender
from assistant_crm.services.delivery.channels.sms_send import AfricasTalkingSender, TwilioSender
from assistant_crm.services.delivery.channels.telegram_send import TelegramSender
from assistant_crm.services.delivery.channels.whatsapp_send import (
    OUTSIDE_WINDOW,
    WhatsAppSender,
    template_for,
    window_open,
)
from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.router")

CONNECT_TIMEOUT = 3.0
_VIA_MAKE = {
    "whatsapp": "whatsapp_via_make_com",
    "messenger": "messenger_via_make_com",
    "instagram": "messenger_via_make_com",
    "telegram": "telegram_via_make_com",
}


@dataclass
class Prepared:
    """A part ready to send, or the reason it cannot be sent at all."""

    sender: Sender | None
    part: OutboundPart
    failure: SendResult | None = None
    note: str = ""


def timeouts(settings: Any) -> tuple[float, float]:
    read = settings.float("outbound_read_timeout_seconds")
    return (CONNECT_TIMEOUT, read if read > 0 else 10.0)


def via_make_com(channel: str, settings: Any) -> bool:
    field = _VIA_MAKE.get(channel)
    return bool(field) and settings.bool(field)


def sender_for(channel: str, settings: Any) -> Sender:
    """The configured sender for ``channel``. Raises ``ValueError`` for a
    channel that has no outbound route (``web`` replies are fetched by the
    browser, not pushed)."""
    timeout = timeouts(settings)
    if via_make_com(channel, settings):
        return MakeComSender(settings.str("make_com_outbound_url"), settings.str("make_com_api_key"), timeout)
    graph = settings.str("graph_api_base_url")
    if channel == "whatsapp":
        return WhatsAppSender(
            graph, settings.str("whatsapp_phone_number_id"), settings.str("whatsapp_access_token"), timeout
        )
    if channel in ("messenger", "instagram"):
        return MessengerSender(
            graph,
            settings.str("messenger_page_access_token"),
            settings.str("messenger_page_id"),
            timeout,
            name=channel,
        )
    if channel == "telegram":
        return TelegramSender(
            settings.str("telegram_api_base_url"),
            settings.str("telegram_bot_token"),
            timeout,
        )
    if channel == "sms":
        if settings.str("sms_provider") == "twilio":
            return TwilioSender(
                settings.str("twilio_base_url"),
                settings.str("twilio_account_sid"),
                settings.str("twilio_auth_token"),
                settings.str("twilio_from_number"),
                timeout,
            )
        return AfricasTalkingSender(
            settings.str("africastalking_base_url"),
            settings.str("africastalking_username"),
            settings.str("africastalking_api_key"),
            settings.str("sms_sender_id"),
            timeout,
        )
    raise ValueError(f"no outbound route for channel {channel!r}")


def prepare(part: OutboundPart) -> Prepared:
    """Choose the sender and apply channel rules that need the store (the
    WhatsApp 24-hour window). Never raises for a bad channel: the failure is
    returned so the record is dead-lettered with the reason."""
    rt = get_runtime()
    try:
        sender = sender_for(part.channel, rt.settings)
    except ValueError as exc:
        return Prepared(None, part, SendResult.fail(str(exc)))
    if part.channel == "whatsapp" and not window_open(
        rt.store, rt.clock.now(), part.session, part.recipient_id
    ):
        name = rt.settings.str("whatsapp_template_name")
        if not name:
            return Prepared(
                None, part, SendResult.fail(f"{OUTSIDE_WINDOW} and no whatsapp_template_name is set")
            )
        if part.part > 1:
            # The template already carried the reply (its first 1024
            # characters); sending more templates would only spam.
            return Prepared(
                None, part, SendResult.fail(f"{OUTSIDE_WINDOW}: only the first part goes as a template")
            )
        template = template_for(name, rt.settings.str("whatsapp_template_language"), part.text)
        return Prepared(
            sender, replace(part, template=template), note=f"sent as template {name!r} ({OUTSIDE_WINDOW})"
        )
    return Prepared(sender, part)


# Sends run in helper threads so a platform that trickles bytes forever cannot
# hold the worker past a hard deadline, and so the heads of several
# conversations go out in parallel (one slow platform does not hold up the
# others). The pool is shared and bounded; a send abandoned at its deadline
# keeps its thread until its socket timeout fires.
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=32, thread_name_prefix="assistant-crm-send"
            )
        return _pool


def deadline_seconds(settings: Any) -> float:
    """Hard cap on one send: requests' read timeout is per socket read, so a
    trickling answer could otherwise last much longer."""
    connect, read = timeouts(settings)
    return connect + 2 * read


def start(prepared: Prepared) -> concurrent.futures.Future:
    """Begin sending a prepared part in a helper thread (pure HTTP there)."""
    assert prepared.sender is not None
    return _executor().submit(prepared.sender.send, prepared.part)


def finish(future: concurrent.futures.Future, prepared: Prepared, remaining: float) -> SendResult:
    """Wait for a started send at most ``remaining`` seconds.

    At the deadline the attempt counts as a transient timeout. The abandoned
    request may still reach the platform: that is the at-least-once edge
    documented in docs/channels.md.
    """
    name = prepared.sender.name if prepared.sender else "?"
    try:
        return future.result(timeout=max(0.0, remaining))
    except concurrent.futures.TimeoutError:
        log.warning("send of %s via %s passed its deadline; will retry", prepared.part.correlation_id, name)
        return SendResult.retry(f"no answer from {name} before the send deadline")
    except Exception as exc:  # a sender bug must not kill the worker; the record keeps the error
        log.exception("sender %s raised for %s", name, prepared.part.correlation_id)
        # Only the type: an exception text may quote a URL with a token in it.
        return SendResult.retry(f"sender error: {type(exc).__name__}")


def send(part: OutboundPart) -> tuple[SendResult, str]:
    """Prepare and send one part synchronously (bounded); returns the result
    and a note for the record (e.g. "sent as template")."""
    prepared = prepare(part)
    if prepared.failure is not None:
        return prepared.failure, prepared.note
    return finish(start(prepared), prepared, deadline_seconds(get_runtime().settings)), prepared.note
