"""Scripted web-chat conversations over HTTP against ``assistant-crm serve``."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Chat
from tests.e2e.helpers import assert_no_full_nrc

pytestmark = pytest.mark.e2e


def test_greeting(chat: Chat) -> None:
    out = chat.say("Good morning!")
    assert out["intent"] == "greeting"
    assert out["session_id"]
    assert 0.0 <= out["confidence"] <= 1.0
    assert_no_full_nrc(out["reply"])


# Questions worded here for the first time; each answer must carry the fact.
KB_CASES = [
    (
        "accident_days",
        "My worker got hurt at the site yesterday. How many days do we have to notify the Board about it?",
        r"\b(3|three)\s*(working\s*)?days?\b",
    ),
    (
        "minimum_pension",
        "whats the lowest monthly pension a person can get from wcfcb these days?",
        r"\bK\s?400\b|\b400(\.00)?\b",
    ),
    (
        "assessment_due",
        "As an employer, on which date do the yearly assessments become due?",
        r"\b1(st)?\s+April\b|\bApril\s+1(st)?\b",
    ),
    (
        "register_days",
        "I just opened a small bakery with three staff. How soon must I register my business with the fund?",
        r"\b(14|fourteen)\s*days\b",
    ),
    (
        "funeral_grant",
        "How much is given as the funeral grant when a worker dies on duty?",
        r"25[ ,.]?000\s*fee\s*units",
    ),
    (
        "earnings_ceiling",
        "What's the maximum monthly earnings used to work out the employer assessment?",
        r"14[ ,.]?400",
    ),
]


# General employer questions classified employer_contributions: answered from the KB, no NRC asked.
GATED_CASES = [
    ("ceiling_wage", "Up to what monthly wage are employer assessments calculated?", r"14[ ,.]?400"),
    ("assessment_year", "When does the assessment year start and end?", r"1\s+April.*31\s+March"),
]


@pytest.mark.parametrize(
    "question,pattern",
    [pytest.param(*c[1:], id=c[0]) for c in KB_CASES] + [pytest.param(*c[1:], id=c[0]) for c in GATED_CASES],
)
def test_knowledge_answers_contain_the_fact(chat: Chat, question: str, pattern: str) -> None:
    out = chat.say(question)
    assert re.search(pattern, out["reply"], re.IGNORECASE), f"{out['intent']}: {out['reply']!r}"
    assert_no_full_nrc(out["reply"])


def test_out_of_scope(chat: Chat) -> None:
    out = chat.say("Which team do you think will win the Super League this season, Zesco or Power Dynamos?")
    assert out["intent"] == "out_of_scope", out
    assert not re.search(r"CLM-\d{4}-\d{5}", out["reply"])
    assert not out["handoff"]


def test_escalation_hands_over_to_a_person(chat: Chat) -> None:
    chat.say("hi")
    out = chat.say("This bot is useless, I want to talk to a human officer right now")
    assert out["intent"] == "escalation", out
    assert out["handoff"] is True, out
    assert re.search(r"agent|officer|colleague|person|staff|team", out["reply"], re.I), out["reply"]


def test_unknown_session_id_starts_a_new_session(chat: Chat) -> None:
    r = chat.raw("hello", session_id="not-a-real-session-token-123")
    assert r.status_code == 200, r.text
    assert r.json()["message"]["session_id"] != "not-a-real-session-token-123"


def test_html_is_echoed_as_text_not_500(chat: Chat) -> None:
    out = chat.say("<script>alert(1)</script> hello <b>there</b>")
    assert "<script>" not in out["reply"]


def test_unicode_and_html_stored_exactly_and_agent_reply_reaches_web(server, chat: Chat) -> None:
    import requests

    from tests.e2e.helpers import find_conversation, staff_headers

    text = "Muli shani 👋🏾 — mwaiseni! مرحبا ✅ <b>a < b</b> ñ"
    chat.say(text)
    r = requests.post(
        server.api("assistant_crm.api.chat.get_messages"), json={"session_id": chat.session_id}, timeout=10
    )
    assert r.status_code == 200, r.text
    msgs = r.json()["message"]["messages"]
    assert any(m.get("text") == text for m in msgs), [m.get("text") for m in msgs]
    # escalate and let an agent answer with unicode; the web visitor gets it by polling
    chat.say("please connect me to an agent")
    staff = staff_headers()
    name = find_conversation(server, "web", text)
    assert name, "the web conversation with the unicode text was not found by the agent API"
    agent_text = "Mwapoleni 🙏🏽 Natasha here — tili pano «OK»"
    a = requests.post(
        server.api("assistant_crm.api.agent.reply"),
        json={"session_id": name, "text": agent_text},
        headers=staff,
        timeout=10,
    )
    assert a.status_code == 200, a.text
    r = requests.post(
        server.api("assistant_crm.api.chat.get_messages"), json={"session_id": chat.session_id}, timeout=10
    )
    assert any(m.get("text") == agent_text for m in r.json()["message"]["messages"]), r.text[:1000]
