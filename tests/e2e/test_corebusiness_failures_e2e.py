"""CoreBusiness failing on purpose (independent fake): the person gets a plain
reply in bounded time, the HTTP answer is never a 500, nothing personal leaks."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import Chat, Server
from tests.e2e.helpers import assert_no_full_nrc, otp_for, person

pytestmark = pytest.mark.e2e

A = person("P-E2E-0001")
UNREACHABLE = r"can.?t reach|unavailable|try again|not available|problem"


@pytest.mark.parametrize("mode", ["500", "malformed", "hang", "503"])
def test_verify_with_corebusiness_failing(cb_fail_server: Server, mode: str) -> None:
    srv = cb_fail_server
    chat = Chat(srv)
    chat.say("what is my claim status")
    srv.cb.fail(mode)
    try:
        t0 = time.monotonic()
        out = chat.say(f"{A['nrc']} {A['full_name']}")
        took = time.monotonic() - t0
    finally:
        srv.cb.fail(None)
    assert took < 20, f"the turn took {took:.1f} s"
    assert re.search(UNREACHABLE, out["reply"], re.I), out["reply"]
    assert not re.search(r"CLM-\d{4}-\d{5}", out["reply"])
    assert_no_full_nrc(out["reply"])
    assert srv.alive()


def test_429_with_retry_after_is_retried_then_succeeds(cb_fail_server: Server) -> None:
    srv = cb_fail_server
    chat = Chat(srv)
    chat.say("what is my claim status")
    # a breaker opened by the previous test may need its cool-down: retry for a bounded time
    srv.cb.fail("429", times=1)
    before = len(srv.sms.messages_to(A["phone"]))
    deadline = time.monotonic() + 40
    out = chat.say(f"{A['nrc']} {A['full_name']}")
    while "*" not in out["reply"] and time.monotonic() < deadline:
        time.sleep(2)
        out = chat.say(f"{A['nrc']} {A['full_name']}")
    assert "*" in out["reply"], out["reply"]
    code = otp_for(srv.sms, A["phone"], before)
    out = chat.say(code)
    assert "CLM-2026-04471" in out["reply"], out["reply"]
