"""Ratings (CSAT): asked once after an agent closes or the assistant resolves a
conversation; 1-5 and an optional comment on the Chat Session; late or second
ratings ignored politely. Over HTTP and through the pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from assistant_crm.services.dialogue import csat
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import context, reply
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


def test_after_an_agent_closes_the_visitor_rates_and_comments(server, rt, clock):
    v, name = _closed_by_agent(server, rt)
    last = v.messages()["messages"][-1]
    assert last["text"].startswith("How did we do?")
    assert last["quick_replies"] == RATING_BUTTONS
    token = v.session_id
    rated = v.send("4 Good")
    assert rated["session_id"] == token  # still the closed conversation
    assert rated["reply"].startswith("Thank you! Is there anything you would like to tell us?")
    assert rated["quick_replies"] == ["No, thanks"]
    clock.advance(seconds=20)
    thanks = v.send("The agent was quick, thank you")
    assert thanks["reply"] == "Thank you for your feedback."
    clock.advance(seconds=5)
    again = v.send("5")  # a second rating
    assert again["reply"].startswith("You've already rated that conversation")
    row = rt.store.get("Chat Session", name)
    assert (row["csat"], row["csat_comment"], row["status"]) == (
        4,
        "The agent was quick, thank you",
        "closed",
    )
    assert row["csat_at"] == MONDAY_10AM  # the rating's time, not the comment's
    shown = staff(server, "GET", "get_conversation", session_id=name).json()["message"]["session"]
    assert shown["csat"] == 4 and shown["csat_comment"] == "The agent was quick, thank you"
    # The rating exchange is in the closed conversation's transcript; the next message starts afresh.
    texts = [r["text"] for r in context.history_rows(name)]
    assert texts[-6:] == [
        "4 Good",
        rated["reply"],
        "The agent was quick, thank you",
        thanks["reply"],
        "5",
        again["reply"],
    ]
    fresh = v.send("Hello")
    assert fresh["session_id"] != token and fresh["intent"] == "greeting"


def test_a_rating_an_hour_late_is_ignored_politely(server, rt, clock):
    v, name = _closed_by_agent(server, rt)
    clock.advance(minutes=61)
    late = v.send("5")
    assert late["reply"].startswith("Thank you, but rating for that conversation has closed")
    assert rt.store.get("Chat Session", name)["csat"] is None


def test_no_thanks_leaves_no_comment(server, rt, clock):
    v, name = _closed_by_agent(server, rt)
    v.send("5 Excellent")
    assert v.send("No, thanks")["reply"] == "Thank you for your feedback."
    row = rt.store.get("Chat Session", name)
    assert row["csat"] == 5 and not row["csat_comment"]


def test_a_message_that_is_no_rating_goes_to_the_assistant_and_ends_the_question(server, rt, clock):
    v, name = _closed_by_agent(server, rt)
    answered = v.send("What is the minimum monthly pension?")
    assert answered["session_id"] != session_name_token(rt, name)
    assert "pension" in answered["reply"].lower()
    v.session_id = session_name_token(rt, name)
    ignored = v.send("5")  # asked once: a rating after moving on is no rating
    assert ignored["reply"] and not ignored["reply"].startswith("Thank you!")
    assert rt.store.get("Chat Session", name)["csat"] is None


def session_name_token(rt, name: str) -> str:
    return rt.store.get("Chat Session", name)["visitor_token"]


def test_the_assistant_asks_after_a_goodbye_that_ends_an_answered_conversation_once(rt, clock):
    first = reply.handle_message(InboundMessage(channel="web", text="What is the minimum monthly pension?"))
    token = first.session_id
    bye = reply.handle_message(InboundMessage(channel="web", text="Goodbye", session_id=token))
    assert bye.intent == "goodbye"
    assert "How did we do?" in bye.text and bye.quick_replies == RATING_BUTTONS
    rated = reply.handle_message(InboundMessage(channel="web", text="5 Excellent", session_id=token))
    assert rated.metadata["source"] == "csat"
    reply.handle_message(InboundMessage(channel="web", text="no", session_id=token))
    row = rt.store.get_by("Chat Session", {"visitor_token": token})
    assert row["csat"] == 5 and row["status"] == "bot"
    # Asked once per conversation.
    again = reply.handle_message(InboundMessage(channel="web", text="Goodbye", session_id=token))
    assert again.intent == "goodbye" and "How did we do?" not in again.text


def test_no_rating_question_after_a_goodbye_when_nothing_was_answered(rt, clock):
    first = reply.handle_message(InboundMessage(channel="web", text="Hello"))
    bye = reply.handle_message(InboundMessage(channel="web", text="Goodbye", session_id=first.session_id))
    assert bye.intent == "goodbye" and "How did we do?" not in bye.text


def test_ratings_can_be_switched_off(rt, clock):
    set_settings(rt, csat_enabled=0)
    first = reply.handle_message(InboundMessage(channel="web", text="What is the minimum monthly pension?"))
    bye = reply.handle_message(InboundMessage(channel="web", text="Goodbye", session_id=first.session_id))
    assert "How did we do?" not in bye.text


def test_on_sms_the_rating_is_a_number(rt, clock):
    sender = "260971234567"

    def sms(text: str):
        return reply.handle_message(InboundMessage(channel="sms", text=text, sender_id=sender))

    sms("What is the minimum monthly pension?")
    bye = sms("Goodbye")
    assert "reply with a number from 1 (poor) to 5 (excellent)" in bye.text and bye.quick_replies == []
    assert "\n1. " not in bye.text  # no numbered buttons to confuse with the rating
    assert sms("4").text == "Thank you! Reply with a comment if you like, or NO to skip."
    assert sms("NO").text == "Thank you for your feedback."
    rt.queue.join(timeout=10)
    row = rt.store.get_by("Chat Session", {"platform_sender_id": sender})
    assert row["csat"] == 4 and not row["csat_comment"]
    sent = [m["payload"]["text"] for m in rt.store.list("Omnichannel Message", {"recipient_id": sender})]
    assert "Thank you for your feedback." in sent


def test_summary_counts_ratings_in_a_period(rt, clock):
    names = []
    for rating in (5, 4, 4):
        first = reply.handle_message(
            InboundMessage(channel="web", text="What is the minimum monthly pension?")
        )
        reply.handle_message(InboundMessage(channel="web", text="bye", session_id=first.session_id))
        reply.handle_message(InboundMessage(channel="web", text=str(rating), session_id=first.session_id))
        names.append(first.session_id)
    out = csat.summary(since=MONDAY_10AM - timedelta(hours=1))
    assert out["count"] == 3 and out["average"] == 4.33
    assert out["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}
    assert out["asked"] == 3 and out["response_rate"] == 1.0
    assert csat.summary(since=datetime(2027, 1, 1))["count"] == 0


def test_a_long_comment_is_cleaned_and_capped(server, rt, clock):
    v, name = _closed_by_agent(server, rt)
    v.send("3")
    v.send("slow\x00 reply " + "x" * 1900)
    comment = rt.store.get("Chat Session", name)["csat_comment"]
    assert comment.startswith("slow reply xxx") and len(comment) == csat.MAX_COMMENT
