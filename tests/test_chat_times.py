"""Message times leave the server as ISO 8601 with an offset, in both runtimes.

Standalone stores naive UTC; Frappe stores naive times in the site's time zone
(``FrappeClock.timezone``). A runtime whose clock says Africa/Lusaka (as a
Zambian Frappe site) must give ``+02:00`` times naming the right instant, and
a ``since`` time with an offset must select the same messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import requests

from assistant_crm.services.infra import times
from tests.test_conversations import CHAT, Visitor

LUSAKA = ZoneInfo("Africa/Lusaka")


class LusakaClock:
    """The clock of a Frappe site in Zambia: naive local time."""

    timezone = "Africa/Lusaka"

    def now(self) -> datetime:
        return datetime.now(LUSAKA).replace(tzinfo=None)


def _messages(server: str, session_id: str, **params) -> list[dict]:
    r = requests.get(server + CHAT + "get_messages", params={"session_id": session_id, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["message"]["messages"]


def test_standalone_times_carry_the_utc_offset(server):
    v = Visitor(server)
    v.send("hello")
    msgs = _messages(server, v.session_id)
    assert msgs and all(m["created"].endswith("+00:00") for m in msgs)
    instant = datetime.fromisoformat(msgs[-1]["created"])
    assert abs(instant - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_site_timezone_times_carry_the_site_offset_and_the_right_instant(rt, server):
    rt.clock = LusakaClock()
    rt.store.clock = rt.clock
    v = Visitor(server)
    v.send("hello")
    msgs = _messages(server, v.session_id)
    assert msgs and all(m["created"].endswith("+02:00") for m in msgs)
    # The instant is now, not two hours off (the bug the bubble showed on a Zambian site).
    instant = datetime.fromisoformat(msgs[-1]["created"])
    assert abs(instant - datetime.now(timezone.utc)) < timedelta(minutes=5)
    # `since` with an offset selects from that instant on, whichever offset it is written in.
    v.send("what services do you offer")
    msgs = _messages(server, v.session_id)
    last = datetime.fromisoformat(msgs[-1]["created"])
    expected = [m["id"] for m in msgs if datetime.fromisoformat(m["created"]) >= last]
    assert msgs[0]["id"] not in expected
    for since in (last.isoformat(), last.astimezone(timezone.utc).isoformat()):
        assert [m["id"] for m in _messages(server, v.session_id, since=since)] == expected, since


def test_to_iso_and_to_store_round_trip(rt):
    rt.clock = LusakaClock()
    naive_local = datetime(2026, 11, 29, 21, 4, 0)
    assert times.to_iso(naive_local) == "2026-11-29T21:04:00+02:00"
    assert times.to_store(datetime(2026, 11, 29, 19, 4, tzinfo=timezone.utc)) == naive_local
    assert times.to_store(naive_local) == naive_local
    assert times.to_iso(None) is None


def test_staff_console_and_make_com_times_use_the_site_zone(rt):
    """The agent API's times carry the site's offset (the console read naive ones as
    UTC), and the Make.com replay window compares real Unix seconds."""
    from assistant_crm.api import agent
    from assistant_crm.services.dialogue import handoff

    rt.clock = LusakaClock()
    naive_local = datetime(2026, 11, 29, 21, 4, 0)
    assert agent._iso(naive_local) == "2026-11-29T21:04:00+02:00"
    assert times.unix(naive_local) == datetime(2026, 11, 29, 19, 4, tzinfo=timezone.utc).timestamp()
    assert times.utc_iso(naive_local) == "2026-11-29T19:04:00Z"
    assert abs(times.unix(rt.clock.now()) - datetime.now(timezone.utc).timestamp()) < 300
    assert handoff.waiting_info("no-such-session")["waiting_since"] is None
