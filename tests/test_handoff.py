"""A hand-off that is never a dead end: office hours, the queue, the still-waiting
note, the give-up offer and a quiet assistant once an agent holds the conversation.

Through the pipeline (``reply.handle_message``) and the scheduler's sweep, with
the runtime's clock replaced by one the test moves (the Clock port).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from assistant_crm.services.dialogue import assignment, business_hours, handoff
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import context, reply
from tests.support import set_settings

# Monday 30 November 2026, 10:00 in Lusaka (UTC+2).
MONDAY_10AM = datetime(2026, 11, 30, 8, 0)
HOURS = "Mon-Fri 08:00-17:00\nSat 08:00-12:00"


class MovableClock:
    """The Clock port at a time the test chooses."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock(rt) -> MovableClock:
    rt.clock = MovableClock(MONDAY_10AM)
    set_settings(
        rt,
        business_hours=HOURS,
        business_holidays="2026-12-25 Christmas Day",
        toll_free_number="5599",
        still_waiting_minutes=5,
        handoff_give_up_minutes=20,
        handoff_minutes_per_person=4,
    )
    return rt.clock


def web(text: str, token: str | None = None) -> InboundMessage:
    return InboundMessage(channel="web", text=text, session_id=token)


def hand_off(token: str | None = None):
    first = reply.handle_message(web("Hello", token))
    out = reply.handle_message(web("please connect me to a human agent", first.session_id))
    assert out.handoff is True
    return out


def row_of(rt, token: str) -> dict:
    return rt.store.get_by("Chat Session", {"visitor_token": token})


def bot_texts(rt, name: str) -> list[str]:
    return [r["text"] for r in context.history_rows(name) if r["direction"] == "out"]


# ------------------------------------------------------------ business hours


def test_business_hours_windows_holidays_and_next_opening():
    hours = business_hours.parse(HOURS, "2026-12-25 Christmas Day\nnot a date", "Africa/Lusaka")
    assert hours.describe() == "Mon-Fri 08:00-17:00; Sat 08:00-12:00"
    assert hours.is_open(MONDAY_10AM)
    assert not hours.is_open(datetime(2026, 11, 30, 5, 59))  # 07:59 in Lusaka
    assert hours.is_open(datetime(2026, 11, 30, 6, 0))  # 08:00
    assert not hours.is_open(datetime(2026, 11, 30, 15, 0))  # 17:00: closed
    assert hours.is_open(datetime(2026, 12, 5, 9, 0))  # Saturday 11:00
    assert not hours.is_open(datetime(2026, 12, 6, 9, 0))  # Sunday
    assert not hours.is_open(datetime(2026, 12, 25, 9, 0))  # Christmas, a Friday
    assert hours.holidays == {date(2026, 12, 25): "Christmas Day"}
    # Friday 17:30 -> Saturday 08:00 local = 06:00 UTC.
    assert hours.next_opening(datetime(2026, 12, 4, 15, 30)) == datetime(2026, 12, 5, 6, 0)
    # Christmas Eve 18:00 -> the 25th is a holiday -> Saturday the 26th.
    assert hours.next_opening(datetime(2026, 12, 24, 16, 0)) == datetime(2026, 12, 26, 6, 0)
    assert hours.open_since(MONDAY_10AM) == datetime(2026, 11, 30, 6, 0)


def test_business_hours_on_a_site_clock_in_local_time(rt):
    """Under Frappe the clock gives the site's local time (Africa/Lusaka), not UTC:
    16:30 on a Monday is open and 17:00 closed, as on the office wall."""
    from tests.test_chat_times import LusakaClock

    rt.clock = LusakaClock()
    hours = business_hours.parse(HOURS, "", "Africa/Lusaka")
    assert hours.is_open(datetime(2026, 11, 30, 16, 30))
    assert not hours.is_open(datetime(2026, 11, 30, 17, 0))
    assert not hours.is_open(datetime(2026, 11, 30, 7, 59))
    assert hours.open_since(datetime(2026, 11, 30, 10, 0)) == datetime(2026, 11, 30, 8, 0)
    assert hours.next_opening(datetime(2026, 12, 4, 17, 30)) == datetime(2026, 12, 5, 8, 0)
    assert hours.local_label(datetime(2026, 12, 5, 8, 0)) == "Sat 08:00"


def test_business_hours_forms_and_typos():
    every_day = business_hours.parse("Daily 00:00-24:00")
    assert every_day.is_open(datetime(2026, 12, 6, 23, 59))
    listed = business_hours.parse("Mon, Wed 09:00-10:00\nTuesday 9.00-10.00", tz_name="UTC")
    assert listed.windows[0] == listed.windows[2] == listed.windows[1] == ((time(9), time(10)),)
    # Unreadable lines are skipped (a typo must not close the office); an unknown zone falls back to Zambia's.
    sloppy = business_hours.parse(
        "Someday 08:00-17:00\nMon-Fri 17:00-08:00\nMon-Fri 08:00-17:00", tz_name="Mars/Base"
    )
    assert sloppy.lines == ("Mon-Fri 08:00-17:00",)
    assert sloppy.is_open(MONDAY_10AM)


# ------------------------------------------------------------------ the start


def test_in_hours_the_person_hears_their_place_and_the_wait_and_agents_take_turns(rt, clock):
    assignment.set_available("ann@wcfcb.example", True)
    assignment.set_available("ben@wcfcb.example", True)
    assignment.set_available("cat@wcfcb.example", False)
    first = hand_off()
    assert "number 1 in the queue" in first.text
    assert "about 2 minutes" in first.text  # 1 person x 4 minutes / 2 agents
    clock.advance(minutes=1)
    second = hand_off()
    assert "number 2 in the queue" in second.text and "about 4 minutes" in second.text
    clock.advance(minutes=1)
    third = hand_off()
    assert "number 3 in the queue" in third.text
    agents = [row_of(rt, r.session_id)["assigned_agent"] for r in (first, second, third)]
    assert agents[0] != agents[1] and agents[2] == agents[0]
    assert set(agents) == {"ann@wcfcb.example", "ben@wcfcb.example"}
    row = row_of(rt, first.session_id)
    assert row["status"] == "waiting_for_agent" and row["waiting_since"] == MONDAY_10AM
    assert row["handoff_reason"] == "asked" and row["handoff_stage"] == "waiting"
    info = handoff.waiting_info(row["name"])
    assert info["queue_position"] == 1 and info["waiting_since"] == MONDAY_10AM.isoformat() + "+00:00"


def test_in_hours_with_nobody_available_the_person_hears_all_are_busy(rt, clock):
    out = hand_off()
    assert "All our staff are busy" in out.text and "number 1 in the queue" in out.text
    assert row_of(rt, out.session_id)["assigned_agent"] is None


@pytest.mark.parametrize(
    "at",
    [datetime(2026, 11, 30, 18, 0), datetime(2026, 12, 6, 9, 0), datetime(2026, 12, 25, 9, 0)],
    ids=["evening", "sunday", "christmas"],
)
def test_out_of_hours_gives_the_hours_the_toll_free_number_and_keeps_the_message(rt, clock, at):
    assignment.set_available("ann@wcfcb.example", True)
    clock.at = at
    out = hand_off()
    assert "Our office is closed right now (opening hours: Mon-Fri 08:00-17:00; Sat 08:00-12:00)" in out.text
    assert "call us free on 5599. Leave your message here" in out.text
    assert "Leave your message here and we'll reply in this chat" in out.text
    row = row_of(rt, out.session_id)
    assert row["status"] == "waiting_for_agent" and row["handoff_out_of_hours"] == 1
    assert row["assigned_agent"] is None  # nobody is on duty to assign it to
    # The person's later messages wait in the inbox for the morning, unanswered.
    later = reply.handle_message(web("My claim number is WC-2024-001234", out.session_id))
    assert later.suppressed is True
    clock.advance(hours=3)
    assert handoff.sweep() == 0


def test_no_toll_free_number_no_toll_free_sentence(rt, clock):
    set_settings(rt, toll_free_number="")
    clock.at = datetime(2026, 11, 30, 18, 0)
    out = hand_off()
    assert "call us" not in out.text and "Leave your message here" in out.text


def test_the_handoff_speaks_bemba_and_nyanja(rt, clock):
    for language, words in (("bem", "pa mulongo"), ("nya", "pa mzere")):
        first = reply.handle_message(web("Hello"))
        session = context.get_session(row_of(rt, first.session_id)["name"])
        session.language = language
        context.save_session(session)
        rendered = handoff.start(session, "asked", channel="web")
        assert words in rendered.text, rendered.text


# ------------------------------------------------------------ while waiting


def test_quiet_then_one_still_waiting_note_then_the_give_up_offer_then_keep_waiting(rt, clock):
    out = hand_off()
    token = out.session_id
    name = row_of(rt, token)["name"]
    clock.advance(minutes=1)
    assert reply.handle_message(web("hello? anyone?", token)).suppressed is True
    clock.advance(minutes=3)
    assert handoff.sweep() == 0  # 4 minutes: not yet
    clock.advance(minutes=1)
    assert handoff.sweep() == 1
    assert handoff.sweep() == 0  # one note, not one per sweep
    assert bot_texts(rt, name)[-1].startswith("You're still in the queue (number 1)")
    clock.advance(minutes=5)
    assert reply.handle_message(web("ok", token)).suppressed is True  # quiet between notes
    clock.advance(minutes=10)  # 20 minutes waited
    assert handoff.sweep() == 1
    last = context.history_rows(name)[-1]
    assert "none of our staff has been able to take your conversation" in last["text"]
    assert context.as_api_message(last)["quick_replies"] == ["Back to the assistant", "Keep waiting"]
    kept = reply.handle_message(web("Keep waiting", token))
    assert kept.suppressed is False and "you stay in the queue" in kept.text
    assert row_of(rt, token)["status"] == "waiting_for_agent"
    clock.advance(hours=2)
    assert handoff.sweep() == 0  # no more notes for someone who chose to wait
    assert reply.handle_message(web("still here", token)).suppressed is True


def test_back_to_the_assistant_after_the_give_up_offer(rt, clock):
    assignment.set_available("ann@wcfcb.example", True)
    out = hand_off()
    token = out.session_id
    clock.advance(minutes=25)
    assert handoff.sweep() == 1
    back = reply.handle_message(web("Back to the assistant", token))
    assert "You're back with the assistant" in back.text and back.handoff is False
    row = row_of(rt, token)
    assert row["status"] == "bot" and row["assigned_agent"] is None and row["handoff_stage"] in ("", None)
    answered = reply.handle_message(web("What is the minimum monthly pension?", token))
    assert answered.suppressed is False and answered.intent != "escalation"


def test_a_note_that_fell_due_comes_with_the_persons_next_message(rt, clock):
    out = hand_off()
    clock.advance(minutes=6)
    note = reply.handle_message(web("is anyone there?", out.session_id))
    assert note.suppressed is False and note.text.startswith("You're still in the queue")
    name = row_of(rt, out.session_id)["name"]
    rows = context.history_rows(name)
    assert [r["text"] for r in rows[-2:]] == ["is anyone there?", note.text]
    assert handoff.sweep() == 0  # already sent


def test_waiting_out_of_hours_counts_only_business_hours(rt, clock):
    clock.at = datetime(2026, 12, 4, 14, 58)  # Friday 16:58 in Lusaka
    hand_off()
    clock.at = datetime(2026, 12, 4, 15, 30)  # closed
    assert handoff.sweep() == 0
    clock.at = datetime(2026, 12, 5, 6, 3)  # Saturday 08:03: three minutes into the day
    assert handoff.sweep() == 0
    clock.at = datetime(2026, 12, 5, 6, 5)
    assert handoff.sweep() == 1


def test_once_an_agent_holds_it_the_assistant_never_answers(rt, clock):
    out = hand_off()
    session = context.get_session(row_of(rt, out.session_id)["name"])
    context.set_status(session, "with_agent", "ann@wcfcb.example")
    handoff.taken(session, "ann@wcfcb.example")
    before = len(bot_texts(rt, session.name))
    for text in ("Back to the assistant", "agent", "What is the minimum pension?", "Keep waiting"):
        clock.advance(minutes=30)
        assert reply.handle_message(web(text, out.session_id)).suppressed is True
        assert handoff.sweep() == 0
    assert len(bot_texts(rt, session.name)) == before


def test_on_sms_the_offer_is_numbered_and_1_goes_back_to_the_assistant(rt, clock):
    sender = "260971234567"
    first = reply.handle_message(
        InboundMessage(channel="sms", text="I want to talk to an agent", sender_id=sender)
    )
    assert first.handoff is True
    clock.advance(minutes=21)
    assert handoff.sweep() == 1
    rt.queue.join(timeout=10)
    sent = rt.store.list(
        "Omnichannel Message", {"direction": "outbound", "recipient_id": sender}, order_by="creation asc"
    )
    offer = sent[-1]["payload"]["text"]
    assert offer.endswith("\n1. Back to the assistant\n2. Keep waiting")
    back = reply.handle_message(InboundMessage(channel="sms", text="1", sender_id=sender))
    assert "You're back with the assistant" in back.text
    assert rt.store.get_by("Chat Session", {"platform_sender_id": sender})["status"] == "bot"


def test_availability_for_the_console(rt, clock):
    assignment.set_available("ann@wcfcb.example", True)
    assignment.set_available("ann@wcfcb.example", False)
    assignment.set_available("ben@wcfcb.example", True)
    assert assignment.available_agents() == ["ben@wcfcb.example"]
    assert [(a["agent"], a["available"]) for a in assignment.availability()] == [
        ("ann@wcfcb.example", False),
        ("ben@wcfcb.example", True),
    ]
    with pytest.raises(ValueError):
        assignment.set_available("  ", True)


def test_the_whole_wait_on_mariadb_with_redis(mariadb_rt):
    """The compare-and-set steps and the queue order hold on MariaDB too."""
    rt = mariadb_rt
    rt.clock = MovableClock(MONDAY_10AM)
    set_settings(rt, business_hours=HOURS, still_waiting_minutes=5, handoff_give_up_minutes=20)
    assignment.set_available("ann@wcfcb.example", True)
    first = hand_off()
    clock = rt.clock
    clock.advance(seconds=30)
    second = hand_off()
    assert "number 2 in the queue" in second.text
    assert row_of(rt, first.session_id)["assigned_agent"] == row_of(rt, second.session_id)["assigned_agent"]
    clock.advance(minutes=5)
    assert handoff.sweep() == 2 and handoff.sweep() == 0
    clock.advance(minutes=15)
    assert handoff.sweep() == 2
    back = reply.handle_message(web("Back to the assistant", first.session_id))
    assert "You're back with the assistant" in back.text
    name = row_of(rt, first.session_id)["name"]
    assert context.history_rows(name)[-1]["text"] == back.text
    assert handoff.queue_position(row_of(rt, second.session_id)["name"]) == 1


def test_out_of_hours_the_person_can_go_back_to_the_assistant_in_one_tap(rt, clock):
    """At night a person who asked for staff waits till morning, and the assistant
    stays quiet meanwhile: the out-of-hours (and all-busy) message offers the way
    back, in the conversation's language. On WhatsApp the 24-character Nyanja
    label comes back clipped to 20 and is still understood."""
    from tests.fakes.corebusiness_stub import PEOPLE
    from tests.support import running_corebusiness

    clock.at = datetime(2026, 11, 30, 18, 0)  # a Monday evening: closed
    sender = PEOPLE["S-1001"]["phone"].lstrip("+")

    def say(text: str):
        return reply.handle_message(InboundMessage(channel="whatsapp", text=text, sender_id=sender))

    with running_corebusiness(rt, timeout_seconds=2):
        say("Moni, muli bwanji?")
        closed = say("Ndipatseni munthu")
        assert closed.handoff and closed.quick_replies == ["Bwererani kwa wothandiza"], closed.quick_replies
        assert say("Ndalama zanga zidzabwera liti?").suppressed  # waits for the agents
        back = say("Bwererani kwa wotha…")  # the WhatsApp button's title, as tapped
        assert not back.suppressed and back.text.startswith("Mwabwerera"), back.text
        asked = say("Ndalama zanga zidzabwera liti?")
        assert asked.metadata["source"] == "gate" and asked.metadata["language"] == "nya", asked.text
    # In English, the busy message offers it too.
    clock.at = MONDAY_10AM
    out = hand_off()
    assert out.quick_replies == ["Back to the assistant"]
    back = reply.handle_message(web("Back to the assistant", out.session_id))
    assert back.text.startswith("You're back with the assistant"), back.text
