"""Platform webhooks: WhatsApp Cloud API, Messenger, Telegram, SMS.

Each request, in order: IP allow-list (403), rate limit (429), size (413),
the platform's signature or secret (401; the Meta handshake 403), parse (400
naming the field), store every event durably in the inbox, answer 200. The
reply is produced in the background. Every request leaves one Webhook
Activity Log row, refused ones included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from assistant_crm.api.endpoint import RawResponse, RequestInfo, current_request, endpoint
from assistant_crm.services.delivery import inbox, webhook_log
from assistant_crm.services.delivery.channels import messenger_in, sms_in, telegram_in, whatsapp_in
from assistant_crm.services.delivery.channels.inbound import InboundEvent
from assistant_crm.services.delivery.webhook_log import WebhookCall
from assistant_crm.services.infra import ip_allowlist, rate_limit
from assistant_crm.services.infra.errors import (
    AppError,
    AuthenticationError,
    PayloadTooLarge,
    PermissionDenied,
    ServiceUnavailable,
    ValidationError,
)
from assistant_crm.services.infra.jsonbody import loads_body
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.infra.signatures import (
    constant_equals,
    verify_hub_signature,
    verify_twilio_signature,
)

log = logging.getLogger("assistant_crm.webhooks")

MAX_BODY_BYTES = 1024 * 1024
# The runtime's own cap is set higher so that bodies between 1 and 4 MiB still
# reach us and get their 413 logged; beyond it the runtime refuses on its own.
RUNTIME_BODY_CAP = 4 * MAX_BODY_BYTES
STORE_RETRY_AFTER = 30  # seconds a platform should wait when the database is failing
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


# -- shared steps (also used by make_com_webhook) ------------------------------
def guard(call: WebhookCall, req: RequestInfo) -> None:
    """Allow-list, rate limit and size: the checks every webhook makes first."""
    settings = get_runtime().settings
    ip_allowlist.check(req.remote_addr, settings.str("webhook_ip_allowlist"))
    rate_limit.hit(
        f"webhook:{call.platform}:{req.remote_addr}", settings.int("webhook_rate_limit_per_minute")
    )
    if req.method == "POST":
        check_size(req)


def check_size(req: RequestInfo) -> None:
    declared = (req.header("Content-Length") or "").strip()
    if (declared.isdigit() and int(declared) > MAX_BODY_BYTES) or len(req.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)")


def parse_json(body: bytes) -> Any:
    if not body:
        raise ValidationError("request body is empty; expected JSON", field="body")
    return loads_body(body)


def store_events(call: WebhookCall, events: Iterable[InboundEvent], remote_ip: str) -> tuple[int, int]:
    """Accept each event into the inbox; returns (accepted, duplicates).

    One event that cannot be stored never costs its neighbours: it is logged and
    skipped, and the answer is 200 once the others are stored. When none can be
    stored the database itself is failing: 503 with ``Retry-After``, so the
    platform delivers the batch again later (issue 12.4, 12.6)."""
    accepted = duplicates = 0
    failed: list[Exception] = []
    for event in events:
        try:
            _, duplicate = store_event(call, event, remote_ip)
        except ServiceUnavailable as e:
            failed.append(e)
            continue
        if duplicate:
            duplicates += 1
        else:
            accepted += 1
    if failed and not (accepted or duplicates):
        raise failed[0]
    if failed:
        log.warning("webhook %s: %d of the batch's events could not be stored", call.platform, len(failed))
    return accepted, duplicates


def store_event(call: WebhookCall, event: InboundEvent, remote_ip: str) -> tuple[str, bool]:
    """``inbox.accept_event`` with a failing store answered as 503 + ``Retry-After``
    and one clear log line instead of a bare 500 and a traceback."""
    call.idempotency_keys.append(event.idempotency_key)
    try:
        return inbox.accept_event(event, remote_ip)
    except AppError:
        raise
    except Exception as e:  # noqa: BLE001 - any store failure is "try again later" to the platform
        log.error(
            "webhook %s: could not store event %s: %s: %s; answering 503",
            call.platform,
            event.idempotency_key[:80],
            type(e).__name__,
            str(e).splitlines()[0][:160] if str(e) else "",
        )
        raise ServiceUnavailable(
            "the assistant cannot store messages right now; please retry",
            headers={"Retry-After": str(STORE_RETRY_AFTER)},
        ) from None


def require_secret(secret_field: str, given: str | None, *, missing: str, mismatch: str) -> None:
    """401 unless the shared secret in setting ``secret_field`` is configured and
    ``given`` equals it (compared in constant time)."""
    secret = get_runtime().settings.str(secret_field)
    if not secret:
        raise AuthenticationError(f"{secret_field} is not configured")
    if not given:
        raise AuthenticationError(missing)
    if not constant_equals(secret, given):
        raise AuthenticationError(mismatch)


def _track(platform: str, req: RequestInfo):  # noqa: ANN202 - a context manager
    return webhook_log.track(platform, req.path, req.method, req.remote_addr)


# -- Meta (WhatsApp, Messenger) ------------------------------------------------
def _hub_handshake(call: WebhookCall, req: RequestInfo, verify_token_field: str) -> RawResponse:
    """GET ``hub.mode=subscribe&hub.verify_token=..&hub.challenge=..``: echo the challenge."""
    mode = req.args.get("hub.mode")
    challenge = req.args.get("hub.challenge")
    if mode != "subscribe":
        raise ValidationError("hub.mode must be 'subscribe'", field="hub.mode")
    if not challenge:
        raise ValidationError("hub.challenge is missing", field="hub.challenge")
    if not constant_equals(get_runtime().settings.str(verify_token_field), req.args.get("hub.verify_token")):
        raise PermissionDenied("hub.verify_token does not match")
    call.signature_valid = True
    return RawResponse(challenge[:256], content_type="text/plain; charset=utf-8")


def _meta(platform: str, secret_field: str, verify_token_field: str, parser: Any) -> Any:
    req = current_request()
    with _track(platform, req) as call:
        guard(call, req)
        if req.method == "GET":
            return _hub_handshake(call, req, verify_token_field)
        check = verify_hub_signature(
            get_runtime().settings.str(secret_field),
            req.body,
            req.header("X-Hub-Signature-256"),
            secret_field,
        )
        if not check.ok:
            raise AuthenticationError(check.reason)
        call.signature_valid = True
        events = parser.parse(parse_json(req.body))
        accepted, duplicates = store_events(call, events, req.remote_addr)
        return {"status": "accepted", "accepted": accepted, "duplicates": duplicates}


@endpoint(allow_guest=True, methods=("GET", "POST"), raw_args=True, max_body_bytes=RUNTIME_BODY_CAP)
def whatsapp() -> Any:
    """WhatsApp Cloud API webhook: GET verification handshake, POST messages and statuses."""
    return _meta("whatsapp", "whatsapp_app_secret", "whatsapp_verify_token", whatsapp_in)


@endpoint(allow_guest=True, methods=("GET", "POST"), raw_args=True, max_body_bytes=RUNTIME_BODY_CAP)
def messenger() -> Any:
    """Messenger (and Instagram messaging) webhook: GET handshake, POST messaging events."""
    return _meta("messenger", "messenger_app_secret", "messenger_verify_token", messenger_in)


# -- Telegram --------------------------------------------------------------------
@endpoint(allow_guest=True, methods=("GET", "POST"), raw_args=True, max_body_bytes=RUNTIME_BODY_CAP)
def telegram() -> Any:
    """Telegram Bot API webhook (``setWebhook`` with ``secret_token``)."""
    req = current_request()
    with _track("telegram", req) as call:
        guard(call, req)
        if req.method == "GET":
            raise ValidationError("Telegram delivers updates by POST", field="method")
        require_secret(
            "telegram_secret_token",
            req.header("X-Telegram-Bot-Api-Secret-Token"),
            missing="missing X-Telegram-Bot-Api-Secret-Token header",
            mismatch="X-Telegram-Bot-Api-Secret-Token does not match",
        )
        call.signature_valid = True
        events = telegram_in.parse(parse_json(req.body))
        accepted, duplicates = store_events(call, events, req.remote_addr)
        return {
            "status": "accepted" if accepted or not duplicates else "duplicate",
            "accepted": accepted,
            "duplicates": duplicates,
        }


# -- SMS ---------------------------------------------------------------------------
def _twilio_urls(req: RequestInfo) -> list[str]:
    """The URLs Twilio may have signed: the public base URL when set, then the
    request's own URL as the proxy headers or Host describe it."""
    query = urlencode(list(req.args.items(multi=True))) if req.args else ""
    tail = req.path + (f"?{query}" if query else "")
    urls = []
    base = get_runtime().settings.str("public_base_url").rstrip("/")
    if base:
        urls.append(base + tail)
    host = req.header("X-Forwarded-Host") or req.header("Host") or ""
    if host:
        proto = (req.header("X-Forwarded-Proto") or "").split(",")[0].strip()
        for scheme in [proto] if proto else ["https", "http"]:
            urls.append(f"{scheme}://{host}{tail}")
    return urls


@endpoint(allow_guest=True, methods=("GET", "POST"), raw_args=True, max_body_bytes=RUNTIME_BODY_CAP)
def sms() -> Any:
    """Inbound SMS: Africa's Talking (``?token=`` + allow-list) or Twilio (``X-Twilio-Signature``)."""
    req = current_request()
    with _track("sms", req) as call:
        guard(call, req)
        if req.method == "GET":
            raise ValidationError("SMS callbacks are delivered by POST", field="method")
        settings = get_runtime().settings
        provider = sms_in.detect_provider(req.form, settings.str("sms_provider"))
        if provider == sms_in.TWILIO:
            check = verify_twilio_signature(
                settings.str("twilio_auth_token"),
                _twilio_urls(req),
                req.form.items(multi=True),
                req.header("X-Twilio-Signature"),
            )
            if not check.ok:
                raise AuthenticationError(check.reason)
        else:
            require_secret(
                "sms_callback_token",
                req.args.get("token"),
                missing="missing token query parameter",
                mismatch="token query parameter does not match",
            )
        call.signature_valid = True
        events = sms_in.parse(req.form, provider)
        accepted, duplicates = store_events(call, events, req.remote_addr)
        if provider == sms_in.TWILIO:
            return RawResponse(TWIML_EMPTY, content_type="text/xml; charset=utf-8")
        return {
            "status": "accepted" if accepted else "duplicate",
            "accepted": accepted,
            "duplicates": duplicates,
        }
