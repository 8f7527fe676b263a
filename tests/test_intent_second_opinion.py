"""Gemini's second opinion on unsure intents, against the local v1beta fake (SDK and REST)."""

from __future__ import annotations

import json

import pytest

from assistant_crm.services.models import INTENTS
from assistant_crm.services.pipeline import gemini, intent_second_opinion, intents
from tests.fakes.gemini_server import FakeGemini
from tests.support import set_settings

# A message the offline classifier reads as a payment question; with the
# threshold at 1.0 every classifier answer counts as unsure and may be asked about.
TEXT = "my pension money has not come this month"


@pytest.fixture(params=["sdk", "rest"], autouse=True)
def transport(request, monkeypatch):
    if request.param == "sdk" and gemini.genai is None:
        pytest.skip("google-genai not installed")
    monkeypatch.setattr(gemini, "USE_SDK", request.param == "sdk")
    return request.param


@pytest.fixture
def fake():
    f = FakeGemini().start()
    yield f
    f.stop()


@pytest.fixture
def unsure(rt, fake):
    """Gemini configured against the fake, and every classifier answer below the threshold."""
    gemini._clients.clear()
    set_settings(
        rt,
        gemini_api_key="test-gemini-key",
        gemini_base_url=fake.url,
        gemini_model="gemini-test",
        intent_confidence_threshold=1.0,
    )
    intents.reload()
    yield fake
    intents.reload()


def offline(text: str = TEXT):
    return intents.classify(text, second_opinion=False)


def answer(name: str) -> tuple:
    return ("answer", json.dumps({"intent": name}))


def test_gemini_names_the_intent_with_a_json_schema_of_the_twelve_and_the_guide(unsure):
    unsure.script = [answer("escalation")]
    base = offline()
    assert base.intent == "payment_inquiry"
    result = intents.classify(TEXT)
    assert result.intent == "escalation" and result.source == "gemini"
    assert intents.is_confident(result)
    # The offline answer stays among the alternatives for the clarifying buttons.
    assert result.alternatives[0][0] == "payment_inquiry"
    assert all(name != "escalation" for name, _ in result.alternatives)

    [req] = unsure.requests
    assert req["path"] == "/v1beta/models/gemini-test:generateContent"
    body = req["body"]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert sorted(schema["properties"]["intent"]["enum"]) == sorted(INTENTS)
    instruction = json.dumps(body["systemInstruction"])
    assert "boundary rules" in instruction and "A near-miss that names another body" in instruction
    assert TEXT in json.dumps(body["contents"])


def test_the_answer_is_cached_per_normalised_text(unsure):
    unsure.script = [answer("escalation")]
    assert intents.classify(TEXT).intent == "escalation"
    again = intents.classify("  My PENSION money has not come this month ")
    assert again.intent == "escalation" and again.source == "gemini"
    assert len(unsure.requests) == 1


@pytest.mark.parametrize(
    "step",
    [
        ("answer", json.dumps({"intent": "pay_me_now"})),  # not one of the twelve
        ("answer", "payment_inquiry? or escalation"),  # not JSON
        ("answer", json.dumps({"label": "escalation"})),  # no intent field
        ("status", 500),
        ("status", 429),
        ("safety",),
        ("empty",),
    ],
)
def test_any_failure_keeps_the_offline_answer(unsure, step):
    unsure.script = [step]
    result = intents.classify(TEXT)
    base = offline()
    assert (result.intent, result.source, result.confidence) == (base.intent, "classifier", base.confidence)
    assert len(unsure.requests) == 1  # one attempt: the budget leaves no room for retries


def test_a_failure_is_not_cached(unsure):
    unsure.script = [("status", 500), answer("service_request")]
    assert intents.classify(TEXT).source == "classifier"
    assert intents.classify(TEXT).intent == "service_request"
    assert len(unsure.requests) == 2


def test_slower_than_the_budget_keeps_the_offline_answer(unsure):
    unsure.script = [
        ("sleep", intent_second_opinion.BUDGET_SECONDS + 1.0, json.dumps({"intent": "greeting"}))
    ]
    result = intents.classify(TEXT)
    # Had the client waited for the server, the answer would be Gemini's "greeting".
    assert result.intent == "payment_inquiry" and result.source == "classifier"


def test_a_confident_offline_answer_never_asks(rt, fake):
    set_settings(rt, gemini_api_key="test-gemini-key", gemini_base_url=fake.url, gemini_model="gemini-test")
    fake.script = [answer("escalation")]
    result = intents.classify("where is my pension money, it has not come this month")
    assert result.source == "classifier" and intents.is_confident(result)
    assert intents.classify("hello").source == "rule"
    assert fake.requests == []


def test_without_a_key_nothing_is_asked(rt, fake):
    set_settings(rt, gemini_base_url=fake.url, intent_confidence_threshold=1.0)
    result = intents.classify(TEXT)
    assert result.source == "classifier" and fake.requests == []


def test_parse_intent_accepts_only_the_allowed_names():
    assert intent_second_opinion.parse_intent('{"intent": "goodbye"}') == "goodbye"
    assert intent_second_opinion.parse_intent('{"intent": "goodbye"}', allowed=("greeting",)) is None
    assert intent_second_opinion.parse_intent('["goodbye"]') is None
    assert intent_second_opinion.parse_intent("") is None
