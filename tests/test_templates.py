"""Response templates: the fixture, selection order and safe placeholder filling."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from assistant_crm.services.infra.ports import get_runtime, set_runtime
from assistant_crm.services.models import INTENTS
from assistant_crm.services.pipeline import templates
from tests.support import set_settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "assistant_crm" / "fixtures" / "response_template.json"
DOCTYPE = "Response Template"

PIPELINE_KEYS = (
    "clarify",
    "fallback",
    "no_answer",
    "verify_ask",
    "verify_failed",
    "verify_locked",
    "otp_sent",
    "otp_invalid",
    "otp_expired",
    "verified",
    "logout",
    "escalation_waiting",
    "escalation_with_agent",
    "agent_unavailable",
    "records_unavailable",
    "rate_limited",
    "session_expired",
    "greeting",
)
LOCALISED = ("greeting", "verify_ask", "otp_sent", "verified", "escalation_waiting", "goodbye")
# Everything said during verification, sign-out, hand-over and the pipeline's own
# messages: a Bemba or Nyanja conversation must not switch to English for these.
VERIFICATION_KEYS = (
    "greeting",
    "goodbye",
    "otp_sms",
    "verify_ask",
    "verify_need_name",
    "verify_need_nrc",
    "verify_nrc_malformed",
    "verify_failed",
    "verify_locked",
    "verify_pending_reminder",
    "verify_no_phone",
    "otp_sent",
    "otp_invalid",
    "otp_expired",
    "otp_reminder",
    "otp_resend_limit",
    "otp_resend_wait",
    "otp_quota",
    "otp_not_sent",
    "verified",
    "logout",
    "other_person_refused",
    "escalation",
    "escalation_waiting",
    "escalation_with_agent",
    "escalation_apology",
    "agent_unavailable",
    "records_unavailable",
    "session_expired",
    "rate_limited",
    "clarify",
    "no_answer",
    "fallback",
)


def _fixture() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# ----------------------------------------------------------------- the fixture


def test_fixture_is_complete():
    docs = _fixture()
    names = [d["name"] for d in docs]
    assert len(names) == len(set(names))
    have = {(d["template_key"], d["language"], d["channel"]) for d in docs}
    for key in (*INTENTS, *PIPELINE_KEYS):
        assert (key, "en", "all") in have, f"no English template for {key}"
    for key in LOCALISED:
        for lang in ("bem", "nya"):
            assert (key, lang, "all") in have, f"no {lang} template for {key}"
    for d in docs:
        assert d["doctype"] == DOCTYPE and d["enabled"] == 1 and d["body"].strip()
        # The Link to Intent Definition is set only for intent keys.
        assert d.get("intent") == (d["template_key"] if d["template_key"] in INTENTS else None)
        for name in _placeholders(d["body"]):
            assert name.isidentifier(), f"{d['name']}: placeholder {name!r} is not a plain name"


def test_localised_templates_keep_numbers_and_placeholders():
    docs = {(d["template_key"], d["language"]): d["body"] for d in _fixture() if d["channel"] == "all"}
    for key in LOCALISED:
        english = docs[(key, "en")]
        for lang in ("bem", "nya"):
            local = docs[(key, lang)]
            assert local != english
            assert _placeholders(local) == _placeholders(english), (key, lang)
    for lang in ("bem", "nya"):
        assert "123456/78/1" in docs[("verify_ask", lang)]
        assert "6" in docs[("otp_sent", lang)] and "5" in docs[("otp_sent", lang)]


def test_verification_and_escalation_keys_have_bemba_and_nyanja():
    """Issue 3: a Bemba or Nyanja conversation stays in its language through
    verification, the code, sign-out and hand-over; the local text keeps the
    English one's placeholders, numbers (123456/78/1, 6-digit code) and quick-reply count."""
    docs = {(d["template_key"], d["language"]): d for d in _fixture() if d["channel"] == "all"}
    every_otp_key = {d["template_key"] for d in _fixture() if d["template_key"].startswith("otp_")}
    assert every_otp_key <= set(VERIFICATION_KEYS)
    for key in VERIFICATION_KEYS:
        english = docs[(key, "en")]
        for lang in ("bem", "nya"):
            assert (key, lang) in docs, f"no {lang} template for {key}"
            local = docs[(key, lang)]
            assert local["name"] == f"{key}-{lang}-all"
            assert local["body"] != english["body"], (key, lang)
            assert _placeholders(local["body"]) == _placeholders(english["body"]), (key, lang)
            for number in re.findall(r"\d+(?:/\d+)*", english["body"]):
                assert number in local["body"], (key, lang, number)
            assert len(local["quick_replies"].splitlines()) == len(english["quick_replies"].splitlines()), (
                key,
                lang,
            )
    for lang in ("bem", "nya"):
        assert "RESEND" in docs[("otp_reminder", lang)]["body"]  # the keyword the code reacts to


def test_bemba_and_nyanja_verification_prompts_render(rt):
    nya = templates.render("verify_need_name", language="nya").text
    assert nya.startswith("Zikomo") and "NRC" in nya
    assert templates.render("verify_need_name", language="bem").text.startswith("Natotela")
    assert "10" in templates.render("verify_locked", language="bem", data={"minutes": 10}).text
    assert "30" in templates.render("session_expired", language="nya").text  # default value
    r = templates.render("otp_reminder", language="nya", data={"masked_phone": "+260 97*** **67"})
    assert "+260 97*** **67" in r.text
    r = templates.render("escalation_with_agent", language="bem", data={"agent_name": "Natasha"})
    assert r.text.startswith("Natasha ")


def test_shipped_text_covers_every_key_in_english():
    """The fallback is the fixture itself: every key has an English row for all channels."""
    shipped = templates.shipped()
    for key in (*INTENTS, *PIPELINE_KEYS):
        assert (key, "en", "all") in shipped, key
    body = shipped[("claim_status", "en", "all")][0]
    assert "{first_name}" in body and "{plural}" not in body  # several claims: claim_status_several


def test_the_template_module_writes_no_text_of_its_own():
    """One source: no template sentence is written in templates.py."""
    source = Path(templates.__file__).read_text()
    for (key, language, _channel), (body, _replies) in templates.shipped().items():
        if language == "en" and len(body) > 30:
            assert body[:30] not in source, key


# ------------------------------------------------------------------ rendering


def test_render_from_seeded_store(rt):
    r = templates.render("verify_ask")
    assert "NRC" in r.text and "123456/78/1" in r.text
    r = templates.render("otp_sent", data={"masked_phone": "+260 97*** **67"})
    assert "+260 97*** **67" in r.text
    r = templates.render("verified", data={"first_name": "Mary"})
    assert r.text == "Thank you, Mary, you're verified."
    r = templates.render("claim_status_several", data={"first_name": "Mary"})
    assert r.text == "Here is the latest on your claims, Mary:"
    r = templates.render("records_unavailable")
    assert r.text == "I can't reach our records right now; please try again in a few minutes."
    r = templates.render("clarify")
    assert r.text.startswith("I want to be sure I help with the right thing.") and len(r.quick_replies) >= 2


def test_missing_placeholders_leave_tidy_text(rt):
    assert templates.render("verified").text == "Thank you, you're verified."
    assert templates.render("claim_status").text == "Here is the latest on your claim:"
    assert templates.render("goodbye").text.startswith("Thank you for contacting WCFCB. ")
    assert "30 minutes" in templates.render("verify_locked").text  # default value
    assert "10 minutes" in templates.render("verify_locked", data={"minutes": 10}).text


def test_greeting_uses_the_assistant_name_setting(rt):
    assert "Mwana" in templates.render("greeting").text
    set_settings(rt, assistant_name="Chipo")
    r = templates.render("greeting")
    assert "I'm Chipo, the WCFCB assistant" in r.text
    assert "Talk to an agent" in r.quick_replies


def test_bemba_nyanja_and_language_fallback(rt):
    assert templates.render("greeting", language="bem").text.startswith("Mwapoleni!")
    assert templates.render("greeting", language="nya").text.startswith("Muli bwanji!")
    assert "123456/78/1" in templates.render("verify_ask", language="nya").text
    assert templates.render("greeting", language="toi").text.startswith("Mwabonwa!")
    # Tonga has greeting, verification and hand-off only: the rest is English.
    assert templates.render("out_of_scope", language="toi").text.startswith("I'm sorry")
    assert templates.render("out_of_scope", language="bem").text.startswith("Mutwelele")


def test_selection_order_most_specific_first(rt):
    def add(lang: str, channel: str) -> str:
        return rt.store.insert(
            DOCTYPE,
            {
                "template_key": "probe",
                "language": lang,
                "channel": channel,
                "enabled": 1,
                "body": f"{lang}/{channel}",
            },
        )

    names = {
        (lang, ch): add(lang, ch)
        for lang, ch in [("en", "all"), ("en", "sms"), ("bem", "all"), ("bem", "sms")]
    }
    templates.invalidate()
    assert templates.render("probe", language="bem", channel="sms").text == "bem/sms"
    assert templates.render("probe", language="bem", channel="web").text == "bem/all"
    assert templates.render("probe", language="nya", channel="sms").text == "en/sms"
    assert templates.render("probe", language="nya", channel="web").text == "en/all"

    rt.store.update(DOCTYPE, names[("bem", "sms")], {"enabled": 0})  # disabled templates are skipped
    templates.invalidate()
    assert templates.render("probe", language="bem", channel="sms").text == "bem/all"
    rt.store.delete(DOCTYPE, names[("bem", "all")])
    templates.invalidate()
    assert templates.render("probe", language="bem", channel="sms").text == "en/sms"


def test_channel_specific_sms_greeting(rt):
    sms = templates.render("greeting", channel="sms").text
    assert sms.startswith("WCFCB Mwana:") and len(sms) <= 160
    assert templates.render("greeting", channel="web").text.startswith("Hello!")


def test_edit_is_seen_after_invalidate(rt):
    row = rt.store.get_by(DOCTYPE, {"template_key": "rate_limited", "language": "en", "channel": "all"})
    assert templates.render("rate_limited").text.startswith("You're sending messages")
    rt.store.update(
        DOCTYPE, row["name"], {"body": "Slow down please, {first_name}.", "quick_replies": "OK\n\nLater\n"}
    )
    templates.invalidate()
    r = templates.render("rate_limited", data={"first_name": "Ben"})
    assert r.text == "Slow down please, Ben."
    assert r.quick_replies == ["OK", "Later"]


def test_shipped_text_when_store_is_empty(rt):
    """The fallback is the fixture file, every language of it (no English-only copy)."""
    for row in rt.store.list(DOCTYPE, fields=["name"]):
        rt.store.delete(DOCTYPE, row["name"])
    templates.invalidate()
    assert templates.render("records_unavailable").text.startswith("I can't reach our records")
    assert (
        templates.render("verified", language="bem", data={"first_name": "Ana"}).text
        == "Natotela, Ana, twaishiba ukuti ni mwe."
    )


def test_builtin_text_when_the_database_is_lost(rt, caplog):
    templates.invalidate()
    rt.store.engine.dispose()
    db = Path(rt.extras["database_url"].removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    r = templates.render("records_unavailable")
    assert r.text == "I can't reach our records right now; please try again in a few minutes."
    assert "store unavailable" in caplog.text


def test_builtin_text_without_a_runtime():
    saved = None
    try:
        saved = get_runtime()
    except RuntimeError:
        pass
    set_runtime(None)
    try:
        templates.invalidate()
        r = templates.render("greeting")
        assert r.text.startswith("Hello! I'm Mwana")
    finally:
        set_runtime(saved)


def test_unknown_key_gives_the_fallback_text(rt, caplog):
    r = templates.render("no_such_key")
    assert r.text == templates.shipped()[("fallback", "en", "all")][0]
    assert "no_such_key" in caplog.text


class _Secret:
    password = "s3cret-value"  # noqa: S105

    def __str__(self) -> str:
        return "visible"


@pytest.mark.parametrize(
    "body",
    [
        "{__class__}",
        "{0.__class__}",
        "{x.__class__.__init__.__globals__}",
        "{x.password}",
        "{x[0]}",
        "{0}",
        "{}",
        "{x!r}",
        "{x:{y}}",
        "{first_name.__class__.__mro__}",
    ],
)
def test_format_string_attacks_are_harmless(rt, body):
    rt.store.insert(
        DOCTYPE,
        {"template_key": "attack", "language": "en", "channel": "all", "enabled": 1, "body": f"[{body}]"},
    )
    templates.invalidate()
    r = templates.render("attack", data={"x": _Secret(), "y": "10", "first_name": "Mary"})
    for leak in ("class", "globals", "s3cret", "function", "mro", "object at"):
        assert leak not in r.text
    assert r.text.startswith("[")


def test_fill_plain_names_specs_and_broken_templates():
    assert templates.fill("{a} and {b}", {"a": 1, "b": ["x", "y"]}) == "1 and x, y"
    assert templates.fill("K{amount:,.2f}", {"amount": 1234.5}) == "K1,234.50"
    assert templates.fill("K{amount:,.2f}", {"amount": "n/a"}) == "Kn/a"  # spec ignored for text
    assert templates.fill("{x!r}", {"x": "plain"}) == "plain"  # conversions are not applied
    assert templates.fill("broken {unclosed", {"unclosed": "?"}) == "broken unclosed"
    assert templates.fill("}{", {}) == ""
    assert templates.fill("{{literal}} {a}", {"a": "A"}) == "{literal} A"


@pytest.mark.parametrize(
    ("language", "everywhere"),
    [("en", "everywhere"), ("bem", "konse konse"), ("nya", "kulikonse"), ("toi", "koonse"), ("loz", "hohle")],
)
def test_logout_says_it_signs_out_everywhere(rt, language, everywhere):
    # "logout" ends the person's verification in every session, on every
    # channel (issue 12.12): the reply says so in the person's language.
    assert everywhere in templates.render("logout", language=language).text
