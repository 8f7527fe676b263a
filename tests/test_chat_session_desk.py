"""The Frappe desk's Chat Session form: the transcript HTML, labelled statuses,
display names for people without one, and the agents' availability rules.

The controllers run against the small stand-in for Frappe of
``test_doctype_controllers``; the transcript is rendered from real Chat
History rows made by the pipeline."""

from __future__ import annotations

from datetime import datetime

import pytest

from assistant_crm.assistant_crm.doctype.chat_session import transcript
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import context, reply
from tests.test_doctype_controllers import (  # noqa: F401 (fake_frappe is a fixture)
    FakeValidationError,
    _settings_meta,
    controller,
    fake_frappe,
)


def test_transcript_shows_every_author_in_order_and_escapes_everything(rt):
    first = reply.handle_message(InboundMessage(channel="web", text="<script>alert(1)</script> Hello"))
    reply.handle_message(InboundMessage(channel="web", text="I want an agent", session_id=first.session_id))
    name = rt.store.get_by("Chat Session", {"visitor_token": first.session_id})["name"]
    session = context.get_session(name)
    context.append_history(
        session, "out", "agent", "Hi, this is Jane.\nHow can I help?", agent="jane@wcfcb.example"
    )
    context.append_history(session, "out", "system", "Jane from WCFCB has joined the conversation.")
    context.append_history(
        session,
        "in",
        "user",
        "[file] form.pdf",
        attachments=[
            {"url": "/files/chat/form.pdf", "name": "form.pdf"},
            {"url": "javascript:alert(1)", "name": "evil"},
        ],
    )
    html = transcript.render(context.history_rows(name))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Hello" in html
    assert html.index("Hello") < html.index("I want an agent") < html.index("Hi, this is Jane.")
    assert "Hi, this is Jane.<br>How can I help?" in html
    assert "jane@wcfcb.example · " in html and "Assistant · " in html and "Person · " in html
    assert 'class="acrm-msg acrm-system"' in html
    assert 'href="/files/chat/form.pdf"' in html and "javascript:" not in html
    assert 'class="acrm-chip">Check my claim<' in html  # the greeting's buttons
    assert "No messages yet" in transcript.render([])


def test_statuses_have_labels():
    assert transcript.status_label("waiting_for_agent") == "Waiting for an agent"
    assert transcript.status_label("with_agent") == "With an agent"
    assert transcript.status_label("bot") == "With the assistant"
    assert transcript.status_label("closed") == "Closed"
    assert transcript.status_label("snoozed") == "Snoozed"


def test_people_without_a_name_get_a_readable_one(fake_frappe):  # noqa: F811
    mod = controller("chat_session")
    web = mod.ChatSession(name="4f2a9c1d0e", channel="web", status="bot")
    web.flags.from_engine = True  # the engine's own insert gets the name too
    web.validate()
    assert web.display_name == "Web visitor 4f2a"
    sms = mod.ChatSession(name="77aa", channel="sms", phone="+260971234567", status="bot")
    sms.validate()
    assert sms.display_name.startswith("+260") and "1234567" not in sms.display_name
    named = mod.ChatSession(name="88bb", channel="telegram", display_name="Mary Banda", status="bot")
    named.validate()
    assert named.display_name == "Mary Banda"
    assert mod.visitor_label("telegram", "9c9c1234") == "Telegram user 9c9c"


def test_transcript_time_and_odd_rows():
    html = transcript.render(
        [
            {
                "direction": "in",
                "author": "user",
                "text": "hi",
                "creation": datetime(2026, 11, 30, 8, 5),
                "intent": "greeting",
            },
            {
                "direction": "out",
                "author": "bot",
                "text": None,
                "creation": "not a date",
                "quick_replies": "not json",
            },
        ]
    )
    assert "Person · 30 Nov 08:05 · greeting" in html and "Assistant · <" not in html


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"business_hours": "Mon-Fri 8-5"}, "Mon-Fri 8-5"),
        ({"business_holidays": "25 December"}, "25 December"),
        ({"business_timezone": "Mars/Base"}, "Mars/Base"),
        ({"still_waiting_minutes": 0}, "at least 1"),
        ({"handoff_give_up_minutes": -5}, "at least 1"),
    ],
)
def test_settings_refuse_unreadable_hours_and_zero_minutes(fake_frappe, values, needle):  # noqa: F811
    mod = controller("assistant_crm_settings")
    doc = mod.AssistantCRMSettings(new=False, **values)
    doc.meta = _settings_meta(mod)
    with pytest.raises(FakeValidationError, match=needle):
        doc.validate()


def test_settings_accept_readable_hours(fake_frappe):  # noqa: F811
    mod = controller("assistant_crm_settings")
    doc = mod.AssistantCRMSettings(
        new=False,
        business_hours="Mon-Fri 08:00-17:00\nSat 08:00-12:00",
        business_holidays="2026-12-25 Christmas Day\n2027-01-01",
        business_timezone="Africa/Lusaka",
        still_waiting_minutes=5,
    )
    doc.meta = _settings_meta(mod)
    doc.validate()


def test_the_migrate_patch_names_old_sessions(fake_frappe, monkeypatch):  # noqa: F811
    import importlib
    import sys
    import types
    from pathlib import Path

    written = {}
    fake_frappe.get_all = lambda doctype, filters, fields, limit_page_length: [
        types.SimpleNamespace(name="4f2a9c1d0e", channel="web", phone=""),
        types.SimpleNamespace(name="77aa0000", channel="whatsapp", phone="+260971234567"),
    ]
    fake_frappe.db = types.SimpleNamespace(
        set_value=lambda dt, name, field, value, update_modified: written.__setitem__(name, value)
    )
    patches = [
        line.strip()
        for line in (Path(__file__).parents[1] / "assistant_crm" / "patches.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "["))
    ]
    assert "assistant_crm.patches.name_unnamed_chat_sessions" in patches
    for dotted in patches:
        monkeypatch.delitem(sys.modules, dotted, raising=False)
        assert callable(importlib.import_module(dotted).execute), dotted
    importlib.import_module("assistant_crm.patches.name_unnamed_chat_sessions").execute()
    assert written["4f2a9c1d0e"] == "Web visitor 4f2a"
    assert written["77aa0000"].startswith("+260") and "1234567" not in written["77aa0000"]
    sys.modules.pop("assistant_crm.patches.name_unnamed_chat_sessions", None)
