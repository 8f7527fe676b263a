"""Stage 2: sessions, history, language and slots, on a real standalone runtime."""

from __future__ import annotations

from datetime import timedelta

from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import context


def web(text="hi", session_id=None):
    return InboundMessage(channel="web", text=text, session_id=session_id, sender_id=session_id or "")


def test_new_web_session_has_an_unguessable_token(rt):
    s = context.load_session(web())
    assert s.name and s.visitor_token
    assert s.visitor_token != s.name
    assert len(s.visitor_token) >= 40
    row = rt.store.get("Chat Session", s.name)
    assert row["visitor_token"] == s.visitor_token
    assert row["channel"] == "web" and row["status"] == "bot"


def test_same_token_same_session_unknown_or_malformed_token_new_session(rt):
    s = context.load_session(web())
    again = context.load_session(web(session_id=s.visitor_token))
    assert again.name == s.name
    for bad in ("x" * 43, "not a token!", "'; drop table x; --", s.name, ""):
        other = context.load_session(web(session_id=bad))
        assert other.name != s.name
        assert other.visitor_token != s.visitor_token


def test_store_is_the_truth_when_the_cache_is_empty(rt):
    s = context.load_session(web())
    s.context["slots"] = {"nrc": "123456/78/1"}
    s.language = "nya"
    context.save_session(s)
    rt.cache.delete(context._state_key(s.name))
    rt.cache.delete(context._token_key(s.visitor_token))
    back = context.load_session(web(session_id=s.visitor_token))
    assert back.name == s.name
    assert back.language == "nya"
    assert back.context["slots"]["nrc"] == "123456/78/1"


def test_history_is_ordered_and_windowed(rt):
    s = context.load_session(web())
    names = [
        context.append_history(s, "in" if i % 2 == 0 else "out", "user" if i % 2 == 0 else "bot", f"m{i}")
        for i in range(14)
    ]
    context.save_session(s)
    last = context.history(s, limit=10)
    assert [m["text"] for m in last] == [f"m{i}" for i in range(4, 14)]
    assert last[-1]["id"] == names[-1]
    assert s.message_count == 14
    assert rt.store.get("Chat Session", s.name)["message_count"] == 14


def _age(rt, session, minutes):
    past = rt.clock.now() - timedelta(minutes=minutes)
    rt.store.update("Chat Session", session.name, {"last_activity": past})
    context.invalidate(session.name)


def test_expired_web_session_resumes_unverified_with_history(rt):
    s = context.load_session(web())
    context.append_history(s, "in", "user", "hello")
    s.verified_person_id = "P-1"
    s.context["auth"] = {"full_name": "Mary Banda"}
    s.context["slots"] = {"nrc": "123456/78/1"}
    context.save_session(s)
    _age(rt, s, 31)
    back = context.load_session(web(session_id=s.visitor_token))
    assert back.name == s.name
    assert back.verified_person_id is None
    assert "auth" not in back.context and not back.context.get("slots")
    assert [m["text"] for m in context.history(back)] == ["hello"]


def test_expired_whatsapp_session_is_closed_and_a_new_one_opened(rt):
    msg = InboundMessage(channel="whatsapp", text="hi", sender_id="260971234567")
    s = context.load_session(msg)
    assert s.phone == "+260971234567"
    assert context.load_session(msg).name == s.name  # open session reused
    _age(rt, s, 45)
    fresh = context.load_session(msg)
    assert fresh.name != s.name
    assert rt.store.get("Chat Session", s.name)["status"] == "closed"


def test_a_session_held_by_an_agent_survives_idle_expiry(rt):
    msg = InboundMessage(channel="telegram", text="hi", sender_id="42")
    s = context.load_session(msg)
    s.verified_person_id = "P-9"
    context.set_status(s, "with_agent", "staff-agent")
    _age(rt, s, 60)
    back = context.load_session(msg)
    assert back.name == s.name
    assert back.status == "with_agent"
    assert back.verified_person_id is None


def test_language_switches_only_when_clear(rt):
    s = context.load_session(web())
    assert s.language == "en"
    assert context.update_language(s, "bem", "Mwapoleni") == "bem"
    assert context.update_language(s, "en", "ok") == "bem"  # too short to switch back
    assert context.update_language(s, "en", "how do I report an accident") == "en"
    assert context.update_language(s, "xx", "whatever") == "en"


def test_slots_keep_the_latest_identifiers(rt):
    s = context.load_session(web())
    context.update_slots(s, ["123456/78/1"], [], [])
    context.update_slots(s, [], ["CLM-2025-00871"], ["+260971234567"])
    slots = Dialogue(s).slots  # the NRC and phone are kept encrypted in the context
    assert (slots.nrc, slots.claim_number, slots.phone) == ("123456/78/1", "CLM-2025-00871", "+260971234567")
    assert "123456" not in str(s.context) and "971234567" not in str(s.context)
    assert not slots.full_name
