"""The agent desk API and the dashboard over HTTP."""

from __future__ import annotations

import requests

from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import reply
from tests.support import set_settings
from tests.test_conversations import AGENT, AGENT_KEY, MANAGER_KEY, STAFF_KEYS, Visitor, session_name, staff


def _waiting_visitor(server, rt) -> tuple[Visitor, str]:
    v = Visitor(server)
    v.send("Hello")
    assert v.send("please connect me to a human agent")["handoff"] is True
    return v, session_name(rt, v)


def test_staff_endpoints_need_a_key(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    r = requests.get(server + AGENT + "list_conversations", timeout=30)
    assert r.status_code == 401
    bad = staff(server, "GET", "list_conversations", key="wrong-key")
    assert bad.status_code == 401
    assert staff(server, "GET", "list_conversations").status_code == 200
    assert staff(server, "GET", "get_summary", key=MANAGER_KEY).status_code == 200


def test_list_filters_by_status_and_refuses_unknown_status(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    _, waiting_name = _waiting_visitor(server, rt)
    calm = Visitor(server)
    calm.send("Hello")
    open_ = staff(server, "GET", "list_conversations").json()["message"]
    assert {waiting_name, session_name(rt, calm)} <= {c["session_id"] for c in open_}
    only_waiting = staff(server, "GET", "list_conversations", status="waiting_for_agent").json()["message"]
    assert [c["session_id"] for c in only_waiting] == [waiting_name]
    assert only_waiting[0]["last_message"]
    bad = staff(server, "GET", "list_conversations", status="sleeping")
    assert bad.status_code == 400
    assert "status must be one of" in bad.text


def test_two_agents_cannot_hold_one_conversation(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    _, name = _waiting_visitor(server, rt)
    assert staff(server, "POST", "take", session_id=name).status_code == 200
    other = staff(server, "POST", "take", session_id=name, key=MANAGER_KEY)
    assert other.status_code == 409
    assert "already with" in other.text
    other_reply = staff(server, "POST", "reply", session_id=name, text="hi", key=MANAGER_KEY)
    assert other_reply.status_code == 409
    row = rt.store.get("Chat Session", name)
    assert row["status"] == "with_agent" and row["assigned_agent"] == "staff-agent"


def test_reply_checks_its_input(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    _, name = _waiting_visitor(server, rt)
    assert staff(server, "POST", "reply", session_id=name, text="   ").status_code == 400
    assert staff(server, "POST", "reply", session_id=name, text="x" * 4001).status_code == 400
    missing = staff(server, "POST", "reply", session_id="nope", text="hello")
    assert missing.status_code == 404


def test_agent_reply_on_whatsapp_goes_to_the_outbox(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    msg = InboundMessage(
        channel="whatsapp", text="I need a person", sender_id="260971234567", platform_message_id="wamid.1"
    )
    first = reply.handle_message(msg)
    assert first.handoff is True
    name = rt.store.get_by("Chat Session", {"platform_sender_id": "260971234567"})["name"]
    sent = staff(server, "POST", "reply", session_id=name, text="Hello from Jane at WCFCB")
    assert sent.status_code == 200, sent.text
    rt.queue.join(timeout=10)
    outbound = rt.store.list("Omnichannel Message", {"direction": "outbound", "recipient_id": "260971234567"})
    texts = [o["payload"]["text"] for o in outbound]
    assert "Hello from Jane at WCFCB" in texts
    # While the agent holds it, the person's next message gets no bot answer.
    quiet = reply.handle_message(InboundMessage(channel="whatsapp", text="thanks", sender_id="260971234567"))
    assert quiet.suppressed is True
    assert rt.store.count("Omnichannel Message", {"direction": "outbound"}) == len(outbound)


def test_close_then_the_visitor_starts_afresh_and_actions_are_audited(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    v, name = _waiting_visitor(server, rt)
    staff(server, "POST", "take", session_id=name)
    staff(server, "POST", "reply", session_id=name, text="Sorted, goodbye")
    closed = staff(server, "POST", "close", session_id=name)
    assert closed.json()["message"]["status"] == "closed"
    old_token = v.session_id
    r = v.send("Hello again")
    assert r["session_id"] != old_token
    assert r["intent"] == "greeting"
    actions = [
        a["action"] for a in rt.store.list("Assistant Audit Log", {"subject": name}, order_by="sequence asc")
    ]
    assert actions[0] == "escalation"
    assert {"take", "agent_reply", "close"} <= set(actions)
    assert staff(server, "POST", "release", session_id=name).status_code == 409  # closed stays closed


def test_dashboard_summary_counts_today(server, rt):
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    _waiting_visitor(server, rt)
    Visitor(server).send("What is the minimum pension?")
    s = staff(server, "GET", "get_summary").json()["message"]
    assert s["waiting_for_agent"] == 1
    assert s["open_conversations"] == 2
    assert s["messages_by_channel"]["web"] == 3
    assert s["handoffs_today"] == 1
    assert s["intents_today"]["escalation"] == 1
    assert s["latency_p50_ms"] is not None and s["latency_p95_ms"] >= s["latency_p50_ms"]
    assert s["failed_deliveries"] == 0
    assert AGENT_KEY not in str(s)


def test_dashboard_summary_survives_an_emptied_cache(server, rt):
    """A restart without Redis empties the in-process cache: today's figures come from the database."""
    set_settings(rt, staff_api_keys=STAFF_KEYS)
    _waiting_visitor(server, rt)
    Visitor(server).send("What is the minimum pension?")
    before = staff(server, "GET", "get_summary").json()["message"]
    rt.cache.clear()
    after = staff(server, "GET", "get_summary").json()["message"]
    assert before["messages_today"] == 3 and before["handoffs_today"] == 1
    assert after == before
