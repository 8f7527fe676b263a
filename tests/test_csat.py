"""Ratings (CSAT): asked once after an agent closes or the assistant resolves a
conversation; 1-5 and an optional comment on the Chat Session; late or second
ratings ignored politely. Over HTTP and through the pipeline."""

from __future__ import annotations

import pytest

from assistant_crm.services.dialogue import csat
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import reply
from tests.support import set_settings
from tests.test_conversations import STAFF_KEYS, Visitor, session_name, staff
from tests.test_handoff import MONDAY_10AM, MovableClock

RATING_BUTTONS = ["5 Excellent", "4 Good", "3 OK", "2 Poor", "1 Very poor"]


@pytest.fixture
def clock(rt) -> MovableClock:
    rt.clock = MovableClock(MONDAY_10AM)
    set_settings(rt, business_hours="Daily 00:00-24:00", staff_api_keys=STAFF_KEYS)
    return rt.clock


@pytest.mark.parametrize(
    "text,rating",
    [
        ("5", 5),
        ("4 Good", 4),
        (" 3/5 ", 3),
        ("2 stars", 2),
        ("⭐⭐⭐", 3),
        ("1 Very poor", 1),
        ("5 Zabwino kwambiri", 5),
        ("6", None),
        ("10", None),
        ("0", None),
        ("3 days ago I applied for my claim", None),
        ("hello", None),
        ("", None),
    ],
)
def test_parse_rating(text, rating):
    assert csat.parse_rating(text) == rating


def _closed_by_agent(server, rt) -> tuple[Visitor, str]:
    v = Visitor(server)
    v.send("Hello")
    assert v.send("please connect me to a human agent")["handoff"] is True
    name = session_name(rt, v)
    assert staff(server, "POST", "take", session_id=name).status_code == 200
    assert staff(server, "POST", "reply", session_id=name, text="Your claim is approved.").status_code == 200
    assert staff(server, "POST", "close", session_id=name).status_code == 200
    return v, name


def session_name_token(rt, name: str) -> str:
    return rt.store.get("Chat Session", name)["visitor_token"]


def test_no_rating_question_after_a_goodbye_when_nothing_was_answered(rt, clock):
    first = reply.handle_message(InboundMessage(channel="web", text="Hello"))
    bye = reply.handle_message(InboundMessage(channel="web", text="Goodbye", session_id=first.session_id))
    assert bye.intent == "goodbye" and "How did we do?" not in bye.text


def test_ratings_can_be_switched_off(rt, clock):
    set_settings(rt, csat_enabled=0)
    first = reply.handle_message(InboundMessage(channel="web", text="What is the minimum monthly pension?"))
    bye = reply.handle_message(InboundMessage(channel="web", text="Goodbye", session_id=first.session_id))
    assert "How did we do?" not in bye.text
