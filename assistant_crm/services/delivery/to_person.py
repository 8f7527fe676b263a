"""Deliver a message already stored in Chat History to the person, on their channel.

The one place that knows how a message reaches the person outside the HTTP
answer to their own message: queued in the outbox on every channel but web;
on web, pushed to the bubble through the runtime's realtime hook when there is
one (Frappe: ``assistant_crm_message`` on ``task_id=<visitor token>`` with one
``get_messages`` item, or only ``{"refresh": true}`` for a personal one,
docs/chat-bubble.md; standalone: the bubble's poll finds
the stored row). Used by the assistant's own notes (``dialogue/outreach.py``)
and by the agents' messages (``api/agent.py``).
"""

from __future__ import annotations

import logging

from assistant_crm.services.delivery import outbox
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import OutboundMessage, SessionState
from assistant_crm.services.pipeline import context, templates

log = logging.getLogger("assistant_crm.to_person")


def deliver(
    session: SessionState,
    message_name: str,
    text: str,
    *,
    quick_replies: list[str] | None = None,
    author: str = "bot",
    publish: bool = True,
    strict: bool = False,
) -> None:
    """Send the stored message ``message_name`` (``text``) to the session's person.

    ``publish=False``: on web the text goes back in the HTTP answer already.
    ``strict``: a message that cannot be queued raises (an agent's reply must
    say it failed); otherwise it is logged, and the row stays in Chat History
    for an agent to see and resend."""
    if session.channel != "web":
        try:
            outbox.enqueue_outbound(
                OutboundMessage(
                    channel=session.channel,
                    recipient_id=session.platform_sender_id,
                    text=text,
                    session_id=session.name,
                    quick_replies=list(quick_replies or []),
                    recipient_phone=session.phone,
                    menu_label=templates.menu_label(
                        list(quick_replies or []), session.language, session.channel
                    ),
                )
            )
        except Exception:
            log.exception("could not queue a message for session %s", session.name)
            if strict:
                raise
        return
    rt = get_runtime()
    realtime = rt.extras.get("publish_realtime") if publish else None
    if not callable(realtime) or not session.visitor_token:
        return
    try:
        row = rt.store.get(context.HISTORY_DOCTYPE, message_name) or {}
        # A personal message goes only as {"refresh": true}: anyone holding the token
        # can join that room; the bubble fetches it through get_messages (issue 12.12).
        realtime("assistant_crm_message", context.realtime_item(row), task_id=session.visitor_token)
    except Exception:  # the row is stored: the bubble's next poll shows it
        log.exception("realtime publish failed for %s", session.name)
