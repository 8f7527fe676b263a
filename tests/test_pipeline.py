"""The reply pipeline in process, and its small helpers (format, anger, rate limit, files, metrics)."""

from __future__ import annotations

import pytest

from assistant_crm.services.delivery import attachments
from assistant_crm.services.dialogue import escalation
from assistant_crm.services.infra import metrics, rate_limit
from assistant_crm.services.infra.errors import NotFound, PayloadTooLarge, RateLimited, UnsupportedMediaType
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import channel_format, context, reply


def web(text, session_id=None):
    return InboundMessage(channel="web", text=text, session_id=session_id, sender_id=session_id or "")


# ------------------------------------------------------------------ helpers


def test_sms_format_numbers_quick_replies_and_stays_short():
    long_text = "The Board pays pensions. " * 40
    text, quick = channel_format.format_for_channel(long_text, ["Check my claim", "Talk to an agent"], "sms")
    assert quick == []
    assert len(text) <= channel_format.SMS_MAX_CHARS
    assert text.endswith("\n1. Check my claim\n2. Talk to an agent")
    web_text, web_quick = channel_format.format_for_channel("Hi **there**", ["A"], "web")
    assert web_text == "Hi **there**" and web_quick == ["A"]
    sms_text, _ = channel_format.format_for_channel("Hi **there**", [], "sms")
    assert sms_text == "Hi there"


@pytest.mark.parametrize(
    "text,angry",
    [
        ("This bot is useless", True),
        ("YOU PEOPLE NEVER ANSWER ME!!!", True),
        ("I am so frustrated!!!", True),
        ("Where is my money you thieves", True),
        ("How do I report an accident?", False),
        ("HELLO!!!", False),
        ("I want to make a complaint", False),
        ("NRC 123456/78/1 JOHN BANDA", False),
    ],
)
def test_anger_detection(text, angry):
    assert escalation.is_angry(text) is angry


def test_reasons_to_escalate():
    assert escalation.reason_to_escalate("escalation", "agent please", 0) == "asked"
    assert escalation.reason_to_escalate("claim_status", "USELESS SERVICE!!!", 0) == "anger"
    assert escalation.reason_to_escalate("", "hmm", 3) == "low_confidence"
    assert escalation.reason_to_escalate("greeting", "hi", 2) is None


def test_rate_limit_counts_per_key(rt):
    for _ in range(3):
        rate_limit.hit("test:a", 3, 60)
    with pytest.raises(RateLimited) as e:
        rate_limit.hit("test:a", 3, 60)
    assert 1 <= e.value.retry_after <= 60
    assert e.value.headers["Retry-After"] == str(e.value.retry_after)
    rate_limit.hit("test:b", 3, 60)  # another key is unaffected
    assert rate_limit.remaining("test:b", 3, 60) == 2
    rate_limit.hit("test:c", 0, 60)  # 0 disables


def test_attachments_sniff_name_and_refuse_escapes(rt, tmp_path):
    assert attachments.sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert attachments.sniff(b"GIF89a...") == "image/gif"
    assert attachments.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert attachments.sniff(b"MZ\x90\x00") is None
    assert attachments.safe_name("../../etc/passwd") == "passwd"
    assert attachments.safe_name("C:\\Users\\me\\Photo 1 (copy).JPG") == "Photo-1-copy-.JPG"
    stored = attachments.save_upload("sess1", "scan.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"0" * 64)
    data, mime = attachments.open_file(stored.url)
    assert mime == "image/jpeg" and data.startswith(b"\xff\xd8")
    # A PNG named .exe is stored with the extension its bytes deserve.
    png = attachments.save_upload("sess1", "tool.exe", "", b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    assert png.name == "tool.png"
    for bad in (
        "/files/../secret",
        "/files/assistant_crm/../../x",
        "/etc/passwd",
        "/files/assistant_crm/sess1/nope.png",
    ):
        with pytest.raises(NotFound):
            attachments.open_file(bad)
    with pytest.raises(PayloadTooLarge):
        attachments.save_upload(
            "s", "a.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * attachments.MAX_BYTES
        )
    with pytest.raises(UnsupportedMediaType):
        attachments.save_upload("s", "a.pdf", "application/pdf", b"\x89PNG\r\n\x1a\n")


def test_percentiles_from_the_histogram():
    hist = {"2": 0, "5": 50, "10": 45, "20": 5, "inf": 0}
    assert metrics.percentile_from_histogram(hist, 50) == 5.0
    assert metrics.percentile_from_histogram(hist, 95) == 10.0
    assert metrics.percentile_from_histogram(hist, 99) == 20.0
    assert metrics.percentile_from_histogram({"5": 0}, 50) is None


# ------------------------------------------------------------------ the pipeline


def test_a_turn_is_stored_timed_and_counted(rt):
    r = reply.handle_message(web("What is the minimum monthly pension?"))
    assert "K400" in r.text
    session = context.get_session_by_token(r.session_id)
    rows = rt.store.list("Chat History", {"session": session.name}, order_by="creation asc")
    assert [(x["direction"], x["author"]) for x in rows] == [("in", "user"), ("out", "bot")]
    for row in rows:
        assert {"normalise", "context", "intent", "auth", "live_data", "compose", "total"} <= set(
            row["stage_timings"]
        )
        assert all(v >= 0 for v in row["stage_timings"].values())
    assert rows[1]["intent"] == r.intent and rows[1]["confidence"] == pytest.approx(r.confidence, abs=1e-4)
    day = metrics.day_summary()
    assert day["messages_by_channel"]["web"] == 1
    assert day["intents"][r.intent] == 1
    assert sum(day["latency_histogram_ms"].values()) == 1


def test_sms_reply_is_short_numbered_and_queued(rt):
    msg = InboundMessage(channel="sms", text="Hello", sender_id="+260971234567", sender_phone="+260971234567")
    r = reply.handle_message(msg)
    assert r.intent == "greeting"
    assert r.quick_replies == []
    assert len(r.text) <= channel_format.SMS_MAX_CHARS
    assert r.metadata["outbox"]
    row = rt.store.get("Omnichannel Message", r.metadata["outbox"])
    assert row["direction"] == "outbound" and row["platform"] == "sms"
    assert row["recipient_id"] == "+260971234567"
    session = context.get_session(row["session"])
    assert session.phone == "+260971234567"


def test_a_held_session_gets_no_reply_but_keeps_the_message(rt):
    first = reply.handle_message(web("Hello"))
    session = context.get_session_by_token(first.session_id)
    context.set_status(session, "with_agent", "staff-agent")
    r = reply.handle_message(web("are you there?", first.session_id))
    assert r.suppressed is True and r.text == ""
    texts = [m["text"] for m in context.history(session)]
    assert texts[-1] == "are you there?"
    assert rt.store.count("Chat History", {"session": session.name, "direction": "out"}) == 1


def test_whatsapp_question_goes_to_the_outbox_with_quick_replies(rt):
    msg = InboundMessage(
        channel="whatsapp", text="Hi", sender_id="260961234567", platform_message_id="wamid.X"
    )
    r = reply.handle_message(msg)
    row = rt.store.get("Omnichannel Message", r.metadata["outbox"])
    assert row["payload"]["text"] == r.text
    assert row["payload"]["quick_replies"] == r.quick_replies


def test_a_number_reply_picks_the_offered_option(rt):
    sender = "260971234568"
    first = reply.handle_message(InboundMessage(channel="whatsapp", text="Hello", sender_id=sender))
    assert "Report an accident" in first.quick_replies
    number = str(first.quick_replies.index("Report an accident") + 1)
    second = reply.handle_message(InboundMessage(channel="whatsapp", text=number, sender_id=sender))
    assert second.intent == "claim_submission"
    assert "3 days" in second.text
    # The stored message is what the person typed.
    session = context.get_session(rt.store.get("Omnichannel Message", second.metadata["outbox"])["session"])
    assert context.history(session)[-2]["text"] == number


def test_sms_clarifying_question_is_answered_by_number(rt):
    from tests.support import set_settings, unclear_messages

    set_settings(rt, intent_confidence_threshold=0.999)
    sender = "+260971234569"
    first = reply.handle_message(
        InboundMessage(channel="sms", text=unclear_messages(1)[0], sender_id=sender, sender_phone=sender)
    )
    options = [line for line in first.text.splitlines() if line[:2].rstrip(".").isdigit()]
    assert options and options[-1].endswith("Talk to an agent")
    second = reply.handle_message(
        InboundMessage(channel="sms", text=options[-1].split(".")[0], sender_id=sender, sender_phone=sender)
    )
    assert second.handoff is True


# ------------------------------------------------ a verified person end to end


@pytest.fixture
def corebusiness(rt):
    from tests.support import running_corebusiness

    with running_corebusiness(rt, timeout_seconds=2) as stub:
        yield stub
        rt.queue.join(timeout=10)


def test_whatsapp_person_verifies_gets_their_claims_and_is_greeted_by_name(rt, corebusiness):
    from tests.fakes.corebusiness_stub import PEOPLE

    person = PEOPLE["S-1001"]
    sender = person["phone"].lstrip("+")

    def say(text):
        return reply.handle_message(InboundMessage(channel="whatsapp", text=text, sender_id=sender))

    asked = say("what is the status of my claim")
    assert asked.intent == "claim_status"
    assert "NRC" in asked.text  # the gate asks who they are; nothing personal yet
    answered = say(f"{person['nrc']} {person['full_name']}")
    assert answered.intent == "claim_status"  # the locked intent resumed after verification
    assert answered.metadata["source"] == "live"
    assert "CLM-" in answered.text
    hello = say("Hello")
    assert hello.intent == "greeting"
    assert "Thandiwe" in hello.text
    # Logging out drops the verification: the next personal question asks again.
    out = say("logout")
    assert "signed out" in out.text.lower()
    again = say("what is the status of my claim")
    assert "CLM-" not in again.text and "NRC" in again.text
    # No full NRC or phone number in the session's stored history of bot replies.
    session = context.get_session(rt.store.get("Omnichannel Message", again.metadata["outbox"])["session"])
    bot_texts = [m["text"] for m in context.history(session, limit=50) if m["author"] == "bot"]
    assert all(person["nrc"] not in t for t in bot_texts)


# ------------------------------------------------ regressions (QA black-box bugs)


@pytest.mark.parametrize(
    "answer",
    [
        "Hello, I am {name}. NRC {nrc}. Please help me",
        "NRC {nrc} and my names are {name}, I am a pensioner",
    ],
    ids=["polite-help-me", "i-am-a-pensioner"],
)
def test_identity_answer_with_extra_words_is_verified_not_escalated(rt, corebusiness, answer):
    """An answer to the NRC question that also says "please help me" goes to the gate, not to an agent."""
    from tests.fakes.corebusiness_stub import PEOPLE

    person = PEOPLE["S-1001"]
    sender = person["phone"].lstrip("+")

    def say(text):
        return reply.handle_message(InboundMessage(channel="whatsapp", text=text, sender_id=sender))

    say("what is my claim status")
    answered = say(answer.format(name=person["full_name"], nrc=person["nrc"]))
    assert not answered.handoff and answered.intent == "claim_status", answered.text
    assert answered.metadata["source"] == "live" and "CLM-" in answered.text
    assert answered.metadata["status"] != "waiting_for_agent"


def test_identity_answer_asking_for_an_agent_in_so_many_words_still_escalates(rt, corebusiness):
    from tests.fakes.corebusiness_stub import PEOPLE

    person = PEOPLE["S-1001"]
    first = reply.handle_message(web("what is my claim status"))
    out = reply.handle_message(
        web(f"{person['nrc']} {person['full_name']}, I want to talk to an agent", first.session_id)
    )
    assert out.handoff is True and out.intent == "escalation"


@pytest.mark.parametrize(
    "question,fact",
    [
        ("Up to what monthly wage are employer assessments calculated?", "14,400"),
        ("When does the assessment year start and end?", "31 March"),
    ],
)
def test_general_employer_question_is_answered_from_the_kb_without_an_nrc(rt, question, fact):
    r = reply.handle_message(web(question))
    assert r.metadata["source"] == "kb", r.text
    assert fact in r.text and "NRC" not in r.text


@pytest.mark.parametrize(
    "text",
    [
        "what is my contribution balance",
        "how much do we owe",
        "how much do we owe in assessments?",
        "my claim status",
        "what is the contribution balance for EMP-008812?",
        "Which documents are missing?",
    ],
)
def test_personal_records_questions_still_ask_for_verification(rt, text):
    r = reply.handle_message(web(text))
    assert r.metadata["source"] == "gate" and "NRC" in r.text, (r.intent, r.text)
