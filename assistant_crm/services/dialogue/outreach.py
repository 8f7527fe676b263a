"""Messages the assistant sends on its own, outside a reply to the person's message:
the "still waiting" note, the give-up offer, the rating question after an agent closes.

The message is stored in Chat History (so the web bubble's poll and the agents'
transcript show it) and delivered by ``delivery/to_person.py`` (the outbox for
the other channels, the runtime's realtime hook for the web visitor).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from assistant_crm.services.delivery import to_person
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import Rendered, SessionState
from assistant_crm.services.pipeline import context

log = logging.getLogger("assistant_crm.outreach")


def for_channel(rendered: Rendered, channel: str) -> tuple[str, list[str]]:
    """Text and buttons as the channel shows them: on SMS the buttons become numbered lines."""
    text = (rendered.text or "").strip()
    replies = [q for q in rendered.quick_replies if q]
    if channel != "sms" or not replies:
        return text, replies
    return text + "".join(f"\n{i}. {label}" for i, label in enumerate(replies, start=1)), []


def send(
    session: SessionState,
    rendered: Rendered,
    *,
    author: str = "bot",
    intent: str = "",
    publish: bool = True,
    after: datetime | None = None,
    touch: bool = False,
) -> str:
    """Store and deliver ``rendered`` to the person; returns the Chat History name.

    ``publish=False`` when the text goes back in the HTTP answer to the web
    visitor's own message (the bubble shows it from there). The session is saved
    without touching its idle clock (a note from us is no activity of theirs).
    ``after``: the person's message this answers, so the answer sorts after it
    (and ``touch``: that message is their activity)."""
    text, replies = for_channel(rendered, session.channel)
    created = get_runtime().clock.now()
    if after is not None and created <= after:
        created = after + timedelta(microseconds=1)
    name = context.append_history(
        session, "out", author, text, intent=intent or None, quick_replies=replies or None, created=created
    )
    # "2" on SMS (or a tapped button) answers the options just sent.
    Dialogue(session).offered(list(rendered.quick_replies))
    context.save_session(session, touch=touch)
    to_person.deliver(session, name, text, quick_replies=replies, author=author, publish=publish)
    return name


def notify_staff(session: SessionState, message_name: str) -> None:
    """Tell the desk a person wrote in a conversation staff hold (Frappe realtime, when present)."""
    publish = get_runtime().extras.get("publish_realtime")
    if callable(publish):
        try:
            publish("assistant_crm_agent_message", {"session": session.name, "message": message_name})
        except Exception:
            log.exception("realtime notify failed for %s", session.name)
