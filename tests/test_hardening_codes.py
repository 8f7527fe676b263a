"""Issue 12.3: at most 3 one-time codes per phone and per NRC in 15 minutes,
and "resend" no sooner than 60 seconds after the previous code."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from assistant_crm.services.dialogue import gate
from assistant_crm.services.models import InboundMessage, SessionState
from assistant_crm.services.pipeline import intents
from tests.fakes.corebusiness_stub import PEOPLE
from tests.support import ShiftedClock, running_corebusiness_and_sms

A = PEOPLE["S-1001"]


@pytest.fixture
def env(rt):
    with running_corebusiness_and_sms(rt) as (cb, sms):
        clock = ShiftedClock(rt.clock)
        rt.clock = clock
        yield rt, sms, clock


def _session() -> SessionState:
    name = uuid.uuid4().hex[:10]
    return SessionState(name=name, channel="web", platform_sender_id=name)


def _say(s: SessionState, text: str):
    result = intents.classify(text, pending=s.context.get("pending"))
    return gate.check(s, InboundMessage(channel="web", text=text, sender_id=s.platform_sender_id), result)


def _codes_sent(rt, sms) -> int:
    rt.queue.join(timeout=10)
    return len([m for m in sms.sent if A["phone"] in m.to.split(",")])


def test_twelve_sessions_with_resends_send_at_most_three_codes(env):
    rt, sms, clock = env
    sessions = [_session() for _ in range(12)]
    replies = []
    for s in sessions:  # twelve sessions within seconds, same NRC and name
        _say(s, "what is my claim status")
        replies.append(_say(s, f"{A['full_name']} {A['nrc']}").text)
    for _ in range(2):  # then "resend" twice in each, a minute apart
        clock.offset += timedelta(seconds=61)
        replies += [_say(s, "resend").text for s in sessions]
    assert _codes_sent(rt, sms) == 3
    refusal = replies[3]
    m = re.search(r"try again in (\d+) minutes", refusal)
    assert m, refusal
    assert 1 <= int(m.group(1)) <= 15
    # After the window a code can be sent again.
    clock.offset += timedelta(minutes=16)
    s = _session()
    _say(s, "what is my claim status")
    assert "sent" in _say(s, f"{A['full_name']} {A['nrc']}").text
    assert _codes_sent(rt, sms) == 4


def test_resend_waits_sixty_seconds(env):
    rt, sms, clock = env
    s = _session()
    _say(s, "what is my claim status")
    _say(s, f"{A['full_name']} {A['nrc']}")
    assert _codes_sent(rt, sms) == 1
    clock.offset += timedelta(seconds=20)
    early = _say(s, "resend").text
    assert re.search(r"new one in (\d+) seconds", early) and _codes_sent(rt, sms) == 1
    assert int(re.search(r"new one in (\d+) seconds", early).group(1)) <= 40
    clock.offset += timedelta(seconds=41)
    _say(s, "resend")
    assert _codes_sent(rt, sms) == 2


class _Stranger:
    """Someone on WhatsApp from a phone that is not the one on record: a code goes by SMS."""

    def __init__(self, phone: str):
        self.sender = phone

    def say(self, text: str):
        from assistant_crm.services.pipeline import reply

        return reply.handle_message(InboundMessage(channel="whatsapp", text=text, sender_id=self.sender))


def test_resend_after_the_code_quota_gets_the_wait_through_the_pipeline(env):
    """The quota ends the verification (nothing is awaited), so "resend" used to
    reach the classifier and got a clarifying question; it gets the wait."""
    rt, sms, clock = env
    for i in range(3):  # three codes for these details from three phones
        s = _Stranger(f"26097000000{i}")
        s.say("when will I be paid")
        assert "code" in s.say(f"{A['nrc']} {A['full_name']}").text
    late = _Stranger("260970000009")
    late.say("when will I be paid")
    stopped = late.say(f"{A['nrc']} {A['full_name']}")
    assert re.search(r"try again in 15 minutes", stopped.text), stopped.text
    clock.offset += timedelta(minutes=4)
    again = late.say("resend")
    assert again.metadata["source"] == "gate", again.metadata
    assert re.search(r"try again in 11 minutes", again.text), again.text
    assert not again.quick_replies  # no clarifying question
    assert _codes_sent(rt, sms) == 3
    # In Bemba too, asking for a new code in words.
    bemba = late.say("Mwapoleni mukwai")
    assert bemba.metadata["language"] == "bem"
    wait = late.say("Bushe kuti mwantumina code iyipya?")
    assert wait.metadata["source"] == "gate" and "11" in wait.text and "maminiti" in wait.text, wait.text
    # A question about something else is answered as usual meanwhile.
    other = late.say("Where is your Ndola office?")
    assert other.metadata["source"] != "gate", other.text
    # Once the window has passed, "resend" is an ordinary message again and the
    # details get a code.
    clock.offset += timedelta(minutes=12)
    late.say("when will I be paid")
    assert "code" in late.say(f"{A['nrc']} {A['full_name']}").text
    assert _codes_sent(rt, sms) == 4
