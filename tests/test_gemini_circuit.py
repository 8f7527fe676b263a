"""The circuit breaker in front of Gemini (issue 10, Health), against the local
Gemini fake: repeated failures or timeouts open it; while open no request goes
out and the template answer (and the offline intent) answer at once; after the
cool-down one trial call closes it again. Its state is in the console's Health
section and in ``assistant-crm doctor``, shared through the cache."""

from __future__ import annotations

import pytest

from assistant_crm.services.infra.circuit_breaker import Breakers
from assistant_crm.services.models import ComposeRequest, IntentResult
from assistant_crm.services.pipeline import gemini, intent_second_opinion
from assistant_crm.standalone import doctor
from tests.support import set_settings
from tests.test_gemini import configured, fake  # noqa: F401 - the fake and the settings pointing at it
from tests.test_staff_console_api import DASH, MANAGER_PW, MANAGER_USER, Staff, staff_accounts  # noqa: F401

FALLBACK = "To report an accident, use Form No. 6 within 3 days."


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """A hand-moved clock for the breakers (threshold 3, cool-down 30 s)."""
    now = [0.0]
    monkeypatch.setattr(gemini, "BREAKERS", Breakers("gemini", 3, 30, clock=lambda: now[0]))
    return now


@pytest.fixture
def gem(rt, configured, clock):  # noqa: F811
    """Gemini configured against the fake (tests/test_gemini.py), with a short time budget."""
    set_settings(rt, gemini_timeout_seconds=0.6)
    return configured


def compose():
    request = ComposeRequest(
        user_message="How do I report an accident?",
        intent="claim_submission",
        language="en",
        fallback=FALLBACK,
        personal=True,  # never answered from the cache: every call reaches the breaker
    )
    return gemini.compose(request)


def test_repeated_server_errors_open_it_and_nothing_is_sent_while_open(gem, clock):
    gem.script = [("status", 400)]  # our request refused: proves nothing, never opens it
    for _ in range(4):
        assert compose().source == "template"
    assert gemini.circuit_state()["state"] == "closed"
    gem.script = [("status", 503)]
    for _ in range(3):
        assert compose().text == FALLBACK
    assert gemini.circuit_state() | {"since": ""} == {"state": "open", "failures": 3, "since": ""}
    sent = len(gem.requests)
    result = compose()
    assert result.text == FALLBACK and result.source == "template" and result.error == "circuit open"
    assert len(gem.requests) == sent  # nothing went out
    # The intent second opinion shares the breaker: the offline answer, no request.
    unsure = IntentResult(intent="claim_status", confidence=0.2, alternatives=[("payment_inquiry", 0.19)])
    assert (
        intent_second_opinion.consult("ndalama", unsure, 0.5, ["claim_status", "payment_inquiry"]) is unsure
    )
    assert len(gem.requests) == sent
    # After the cool-down one trial call goes out; an answer closes it.
    gem.script = [("answer", "Please use Form No. 6 within 3 days.")]
    clock[0] = 31
    assert compose().source == "gemini"
    assert gemini.circuit_state()["state"] == "closed" and len(gem.requests) == sent + 1


def test_timeouts_open_it_too(gem):
    gem.script = [("sleep", 2.0, "too late")]
    for _ in range(3):
        assert compose().text == FALLBACK
    assert gemini.circuit_state()["state"] == "open"


def test_a_failed_trial_reopens_it(gem, clock):
    gem.script = [("status", 500)]
    for _ in range(3):
        compose()
    clock[0] = 31
    sent = len(gem.requests)
    assert compose().source == "template"
    assert len(gem.requests) > sent and gemini.circuit_state()["state"] == "open"


def test_health_and_doctor_show_the_state_as_other_processes_left_it(gem, rt, server, staff_accounts):  # noqa: F811
    gem.script = [("status", 503)]
    for _ in range(3):
        compose()
    manager = Staff(server, MANAGER_USER, MANAGER_PW)
    circuits = {c["name"]: c for c in manager.get(DASH + "health").json()["message"]["circuits"]}
    assert circuits["Gemini"]["state"] == "open" and circuits["Gemini"]["failures"] == 3
    assert circuits["CoreBusiness"]["state"] in ("off", "closed")
    # Another process (doctor) has no breaker of its own: it reads the shared state.
    gemini.BREAKERS = Breakers("gemini")
    lines = [doctor.circuit_line(c) for c in doctor.circuits(rt.settings)]
    assert any(
        line.startswith("Gemini circuit: open since ") and "(3 failures in a row)" in line for line in lines
    )


def test_failures_since_the_last_change_are_shown_too(gem, clock):
    gem.script = [("status", 503)]
    compose()
    compose()
    assert gemini.circuit_state() == {"state": "closed", "failures": 2}  # nothing shared yet
    compose()  # opens: shared
    gem.script = [("answer", "Please use Form No. 6 within 3 days.")]
    clock[0] = 31
    compose()  # the trial closes it: shared
    gem.script = [("status", 503)]
    compose()
    state = gemini.circuit_state()
    assert state["state"] == "closed" and state["failures"] == 1 and state["since"]


def test_off_when_gemini_is_not_configured(rt):
    assert gemini.circuit_state() == {"state": "off", "failures": 0}
    assert doctor.circuit_line({"name": "Gemini", "state": "off", "failures": 0}) == "Gemini circuit: off"
