"""Gemini through the real google-genai SDK against a local REST server."""

from __future__ import annotations

import json

import pytest

from assistant_crm.services.models import ComposeRequest, Passage
from assistant_crm.services.pipeline import gemini
from tests.fakes.gemini_server import FakeGemini
from tests.support import set_settings

FALLBACK = "Report the accident to WCFCB within 3 days on Form No. 6."


@pytest.fixture(params=["sdk", "rest"], autouse=True)
def transport(request, monkeypatch):
    """Every behaviour holds for the google-genai SDK and for the plain REST transport."""
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
def configured(rt, fake):
    gemini._clients.clear()
    set_settings(
        rt,
        gemini_api_key="test-gemini-key",
        gemini_base_url=fake.url,
        gemini_timeout_seconds=2,
        gemini_model="gemini-test",
    )
    return fake


def request(**kw) -> ComposeRequest:
    base = dict(
        user_message="My NRC is 123456/78/1, phone +260971234567. How long to report an accident?",
        intent="information_request",
        language="en",
        fallback=FALLBACK,
        passages=[
            Passage(
                article="report-accident",
                title="Reporting an accident",
                text="Employers report within 3 days.",
                score=0.9,
                source="Lusaka Voice",
            )
        ],
    )
    base.update(kw)
    return ComposeRequest(**base)


def test_no_key_returns_the_template_without_any_request(rt, fake):
    result = gemini.compose(request())
    assert result.text == FALLBACK and result.source == "template"
    assert fake.requests == []


def test_normal_answer_is_grounded_and_masked(configured):
    configured.script = [("answer", "Please report it within 3 days.")]
    result = gemini.compose(request(history=[("user", "hi, my phone is 0977123456"), ("model", "Hello!")]))
    assert result.source == "gemini" and result.text == "Please report it within 3 days."
    req = configured.requests[0]
    assert req["path"] == "/v1beta/models/gemini-test:generateContent"
    assert req["headers"].get("x-goog-api-key") == "test-gemini-key"
    body = json.dumps(req["body"])
    assert "Employers report within 3 days." in body and "Lusaka Voice" in body
    assert "WCFCB" in json.dumps(req["body"]["systemInstruction"])
    assert "123456/78/1" not in body and "971234567" not in body and "0977123456" not in body
    assert [c["role"] for c in req["body"]["contents"]] == ["user", "model", "user"]


def test_429_then_success(configured):
    configured.script = [("status_retry_after", 429, 0), ("answer", "Within 3 days.")]
    result = gemini.compose(request())
    assert result.source == "gemini" and len(configured.requests) == 2


def test_500_every_time_falls_back_with_bounded_attempts(configured):
    configured.script = [("status", 500)]
    result = gemini.compose(request())
    assert result.source == "template" and result.text == FALLBACK and result.error == "HTTP 500"
    assert 1 <= len(configured.requests) <= 6


def test_slower_than_timeout_falls_back(rt, configured):
    set_settings(rt, gemini_timeout_seconds=0.6)
    configured.script = [("sleep", 2.0, "too late")]
    result = gemini.compose(request())
    # Had the client waited for the server, the answer would be "too late" from Gemini.
    assert result.source == "template" and result.text == FALLBACK
    assert len(configured.requests) == 1


@pytest.mark.parametrize("step", [("safety",), ("empty",), ("blocked_prompt",)])
def test_blocked_or_empty_falls_back(configured, step):
    configured.script = [step]
    result = gemini.compose(request())
    assert result.source == "template" and result.text == FALLBACK and result.error


def test_invented_amount_or_nrc_is_rejected(configured):
    configured.script = [("answer", "You will be paid K5,000.00 next week.")]
    assert gemini.compose(request()).source == "template"
    configured.script = [("answer", "Your NRC 123456/78/1 is on file.")]
    assert gemini.compose(request()).source == "template"


def test_amount_from_the_facts_is_allowed(configured):
    configured.script = [("answer", "Your last payment was ZMW 1,250.00.")]
    req = request(facts={"payments": [{"amount": "ZMW 1,250.00"}]}, personal=True)
    assert gemini.compose(req).source == "gemini"


def test_cache_only_for_answers_without_personal_data(configured):
    configured.script = [("answer", "Within 3 days.")]
    assert gemini.compose(request()).source == "gemini"
    assert gemini.compose(request()).source == "cache"
    assert len(configured.requests) == 1
    gemini.compose(request(personal=True))
    gemini.compose(request(personal=True))
    assert len(configured.requests) == 3


def test_logs_carry_no_key_or_prompt(configured, caplog):
    configured.script = [("status", 500)]
    gemini.compose(request())
    text = caplog.text
    assert "test-gemini-key" not in text and "123456/78/1" not in text and "How long" not in text
