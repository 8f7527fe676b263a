"""The web chat API used by the chat bubble (guest access).

``/api/method/assistant_crm.api.chat.<function>`` in both runtimes.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from assistant_crm.api.endpoint import current_request, endpoint, set_response_cookie
from assistant_crm.services.delivery import attachments, message_signals
from assistant_crm.services.dialogue import uploads, web_session
from assistant_crm.services.infra import rate_limit
from assistant_crm.services.infra.errors import AppError, NotFound, ServiceUnavailable, ValidationError
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.infra.times import to_store
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import context
from assistant_crm.services.pipeline.normalise import MAX_LENGTH

log = logging.getLogger("assistant_crm.chat")

MAX_POLL_SECONDS = 25
POLL_INTERVAL_SECONDS = 0.5
# Where a waiting request would hold a whole server process (gunicorn's sync workers,
# Frappe's production default), get_messages answers at once and asks the client to
# come back after this many seconds instead.
SHORT_POLL_SECONDS = 2
_short_poll_logged = False
# A whole office or campus may share one public IP: the per-IP limit is a
# multiple of the per-session one.
IP_LIMIT_FACTOR = 5
POLL_LIMIT_FACTOR = 10
UPLOAD_BODY_BYTES = attachments.MAX_BYTES + 256 * 1024


def _limits(session_id: str | None, kind: str = "msg", factor: int = 1) -> None:
    per_minute = get_runtime().settings.int("chat_rate_limit_per_minute")
    if per_minute <= 0:
        return
    ip = current_request().remote_addr or "unknown"
    rate_limit.hit(f"{kind}-ip:{ip}", per_minute * IP_LIMIT_FACTOR * factor, 60)
    if session_id:
        rate_limit.hit(f"{kind}-session:{session_id}", per_minute * factor, 60)


def _check_session_id(session_id: Any) -> str | None:
    if session_id in (None, ""):
        return None
    if not isinstance(session_id, str):
        log.info("send_message refused: session_id is %s", type(session_id).__name__)
        raise ValidationError("session_id must be a string or null", field="session_id")
    return session_id.strip() or None


@endpoint(allow_guest=True, methods=("POST",), max_body_bytes=64 * 1024)
def send_message(message: Any, session_id: Any = None) -> dict[str, Any]:
    """Answer one chat message from the web bubble.

    In: ``{"message": str, "session_id": str|null}``. Out: ``{"reply",
    "session_id", "intent", "confidence", "quick_replies", "handoff",
    "metadata"}``. Keep the returned ``session_id`` for the next message; an
    unknown one starts a new session.

    The message is stored and echoed exactly as typed (cleaned of control
    characters): HTML in it stays text and is never rendered as markup by us
    (the bubble and the desk use text nodes). Under Frappe this endpoint must
    be whitelisted with ``xss_safe=True`` on purpose, so Frappe's guest
    sanitiser does not rewrite what the person wrote ("<3" or "a < b").

    400 for an empty, non-string or over-2,000-character message; 429 with
    ``Retry-After`` when the session or IP sends too fast.
    """
    from assistant_crm.services.pipeline import reply

    if not isinstance(message, str):
        log.info("send_message refused: message is %s", type(message).__name__)
        raise ValidationError("message must be a string", field="message")
    if not message.strip():
        log.info("send_message refused: empty message")
        raise ValidationError("message is empty", field="message")
    if len(message.strip()) > MAX_LENGTH:
        log.info("send_message refused: %s characters", len(message))
        raise ValidationError(f"message is longer than {MAX_LENGTH} characters", field="message")
    sid = _check_session_id(session_id)
    _limits(sid)
    req = current_request()
    msg = InboundMessage(
        channel="web",
        text=message,
        sender_id=sid or "",
        session_id=sid,
        remote_ip=req.remote_addr or "",
        received_at=get_runtime().clock.now(),
        web_cookie=req.cookie(web_session.COOKIE),
    )
    try:
        answer = reply.handle_message(msg)
        _apply_cookie(answer.cookie)
        return answer.as_api()
    except AppError:
        raise
    except Exception:
        # The pipeline answers its own failures; this is the store or cache
        # itself being down. Say so plainly (503) rather than a bare 500.
        log.exception("send_message failed outside the pipeline")
        raise ServiceUnavailable("the assistant is unavailable right now; please try again shortly") from None


def _apply_cookie(value: str | None) -> None:
    """Set (a new or rotated value) or expire ("") the browser-binding cookie."""
    if value is None:
        return
    set_response_cookie(web_session.COOKIE, value, max_age=web_session.cookie_max_age() if value else None)


def _session_or_404(session_id: Any):
    if not isinstance(session_id, str) or not session_id.strip():
        raise ValidationError("session_id is required", field="session_id")
    session = context.get_session_by_token(session_id.strip())
    if session is None:
        log.info("unknown web session id")
        raise NotFound("unknown session_id; send a message to start a new session")
    return session


def _since_time(session_name: str, since: str | None) -> tuple[datetime | None, str | None]:
    """(time to read after, message name to skip) for ``since`` (a message id or ISO time)."""
    if not since:
        return None, None
    rt = get_runtime()
    row = rt.store.get(context.HISTORY_DOCTYPE, since)
    if row and row.get("session") == session_name:
        created = row.get("creation")
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        return created, since
    try:
        parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            "since must be a message id of this session or an ISO date-time", field="since"
        ) from None
    # An offset-less time is taken as the store's own (naive) time.
    return to_store(parsed), None


def _messages_after(
    session_name: str, after: datetime | None, skip: str | None, hide_personal: bool = True
) -> list[dict[str, Any]]:
    if after is None:
        rows = context.history_rows(session_name, limit=200)
    else:
        rt = get_runtime()
        rows = rt.store.list(
            context.HISTORY_DOCTYPE,
            {"session": session_name, "creation": (">=", after)},
            order_by="creation asc, name asc",
            limit=200,
        )
    return [context.as_api_message(r, hide_personal=hide_personal) for r in rows if r.get("name") != skip]


def _wait_for_messages(
    session_name: str, after: datetime | None, skip: str | None, wait: float, hide_personal: bool = True
) -> list[dict[str, Any]]:
    """The messages after ``after``; when there are none, wait up to ``wait``
    seconds for one.

    The wait is on the session's wake-up signal (``message_signals``: set
    when a message of the session is committed, in this process or, with
    Redis, another), registered before the first read so nothing committed
    in between is missed: an idle visitor makes no database query. A runtime
    without signals (Frappe, whose desk has its own realtime) polls every
    half second.
    """
    deadline = time.monotonic() + wait
    signals = message_signals.signals()
    if signals is None or wait <= 0:
        # Under Frappe the request is one REPEATABLE READ transaction: every read would
        # see the snapshot of the first, and the agent's reply only after the wait.
        new_snapshot = getattr(get_runtime().store, "new_snapshot", None)
        messages = _messages_after(session_name, after, skip, hide_personal)
        while not messages and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_SECONDS)
            if callable(new_snapshot):
                new_snapshot()
            messages = _messages_after(session_name, after, skip, hide_personal)
        return messages
    with signals.listen(session_name) as woken:
        messages = _messages_after(session_name, after, skip, hide_personal)
        while not messages:
            left = deadline - time.monotonic()
            if left <= 0 or not woken.wait(left):
                break
            woken.clear()
            messages = _messages_after(session_name, after, skip, hide_personal)
    return messages


@endpoint(allow_guest=True, methods=("GET", "POST"))
def get_messages(session_id: Any = None, since: str | None = None, timeout: Any = 0) -> dict[str, Any]:
    """The web session's messages after ``since`` (a message id or an ISO time), oldest first.

    Long-poll: with ``timeout`` (seconds, at most 25) the call waits until a
    new message arrives (an agent's reply) or the time is up; while it waits
    it makes no database query (see :func:`_wait_for_messages`). Without
    ``since`` it returns the latest 200 messages.

    Messages written while the person was verified (``personal``) come with
    their text only to the browser the verification is bound to, while it
    lasts (30 idle minutes, until "logout"); anyone else holding the token (or
    the same browser after logout or idle expiry) gets them as ``hidden: true``
    with a fixed notice instead of the text (issue 12.12).

    On a server that answers one request at a time per process (gunicorn's sync
    workers: Frappe in production) the call never waits: a few waiting visitors
    would hold every worker and stop the whole site. It answers at once with
    ``poll_after`` (seconds), which the bubble waits before asking again.
    """
    session = _session_or_404(session_id)
    try:
        wait = float(timeout or 0)
    except (TypeError, ValueError):
        raise ValidationError("timeout must be a number of seconds", field="timeout") from None
    wait = max(0.0, min(wait, MAX_POLL_SECONDS))
    poll_after = None
    if wait > 0 and current_request().serves_one_at_a_time:
        wait, poll_after = 0.0, SHORT_POLL_SECONDS
        _log_short_poll_once()
    _limits(session.visitor_token, kind="poll", factor=POLL_LIMIT_FACTOR)
    after, skip = _since_time(session.name, since)
    shown = web_session.personal_allowed(session, current_request().cookie(web_session.COOKIE))
    messages = _wait_for_messages(session.name, after, skip, wait, hide_personal=not shown)
    fresh = context.get_session(session.name) or session
    answer = {
        "session_id": session_id,
        "status": fresh.status,
        "messages": messages,
        "last_id": messages[-1]["id"] if messages else (since or None),
    }
    if poll_after is not None:
        answer["poll_after"] = poll_after
    return answer


def _log_short_poll_once() -> None:
    global _short_poll_logged
    if not _short_poll_logged:
        _short_poll_logged = True
        log.info(
            "get_messages: no long-poll on a server that answers one request at a time per process "
            "(gunicorn sync workers); the chat asks every %s s. Realtime (socket.io) pushes replies at once.",
            SHORT_POLL_SECONDS,
        )


@endpoint(allow_guest=True, methods=("POST",), max_body_bytes=UPLOAD_BODY_BYTES)
def upload_file(session_id: Any = None, **_ignored: Any) -> dict[str, Any]:
    """Attach a file (multipart field ``file``) to a web session.

    Images (JPEG, PNG, GIF, WebP) and PDF up to 5 MB, checked by their bytes;
    413 when too big, 415 for any other type. Returns the file's URL.
    """
    session = _session_or_404(session_id)
    _limits(session.visitor_token, kind="upload")
    # A file links to the verified person's open claim only from their own browser.
    web_session.enforce(session, current_request().cookie(web_session.COOKIE), get_runtime().clock.now())
    req = current_request()
    upload = req.files.get("file") if req.files else None
    if upload is None:
        log.info("upload refused: no file part")
        raise ValidationError("missing file: send it as multipart/form-data field 'file'", field="file")
    data = upload.read(attachments.MAX_BYTES + 1)
    stored = attachments.save_upload(session.name, upload.filename or "file", upload.mimetype or "", data)
    att = {"url": stored.url, "mime_type": stored.mime_type, "name": stored.name, "size": stored.size}
    ack = uploads.acknowledge(session, [att])  # links the file to an open claim of a verified person
    name = context.append_history(session, "in", "user", f"[file] {stored.name}", attachments=[att])
    context.append_history(
        session, "out", "bot", ack.text, intent=ack.intent, quick_replies=ack.quick_replies
    )
    context.save_session(session)
    return {
        "file_url": stored.url,
        "name": stored.name,
        "mime_type": stored.mime_type,
        "size": stored.size,
        "message_id": name,
        "reply": ack.text,
    }


@endpoint(allow_guest=True, methods=("POST",), max_body_bytes=4 * 1024)
def logout(session_id: Any = None) -> dict[str, Any]:
    """End the verification, as typing "logout" in the chat does: in this session
    and, from the browser the verification is bound to, in every other session
    of the same person ("everywhere"). Expires the binding cookie. Always
    ``{"ok": true, "other_sessions": n}`` for a known session; 404 for an unknown one.
    """
    from assistant_crm.services.dialogue import gate

    session = _session_or_404(session_id)
    _limits(session.visitor_token)
    rt = get_runtime()
    web_session.enforce(session, current_request().cookie(web_session.COOKIE), rt.clock.now())
    others = gate.logout(session)
    context.save_session(session, touch=False)
    set_response_cookie(web_session.COOKIE, "")
    log.info("web session %s: logout (%s other sessions ended)", session.name, others)
    return {"ok": True, "other_sessions": others}


@endpoint(allow_guest=True, methods=("GET",))
def get_config() -> dict[str, Any]:
    """Public branding and behaviour for the chat bubble (no secrets)."""
    from assistant_crm.services.pipeline import templates

    rt = get_runtime()
    s = rt.settings
    language = s.str("default_language")
    try:
        greeting = templates.render(
            "greeting",
            language=language,
            channel="web",
            data={"name": "", "first_name": "", "assistant_name": s.str("assistant_name")},
        )
        greeting_text, greeting_replies = greeting.text, list(greeting.quick_replies)
    except Exception:
        log.exception("greeting template failed")
        greeting_text, greeting_replies = "", []
    return {
        "assistant_name": s.str("assistant_name"),
        "brand_primary_colour": s.str("brand_primary_colour"),
        "brand_accent_colour": s.str("brand_accent_colour"),
        "logo_url": s.str("logo_url"),
        "chat_auto_launch_seconds": s.int("chat_auto_launch_seconds"),
        "default_language": language,
        "greeting": greeting_text,
        "quick_replies": greeting_replies,
        "max_message_length": MAX_LENGTH,
        "max_upload_bytes": attachments.MAX_BYTES,
        "poll_timeout_seconds": MAX_POLL_SECONDS,
    }
