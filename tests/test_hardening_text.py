"""Issue 12.2, 12.7 and 12.8: digits of every script, the model's answer check,
and what reaches the model's prompt."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.test import Client

from assistant_crm.sandbox.server import make_server
from assistant_crm.services.infra.masking import mask_nrc, mask_phone, mask_text
from assistant_crm.services.integrations.corebusiness import (
    CircuitBreaker,
    CoreBusinessClient,
    CoreBusinessError,
)
from assistant_crm.services.models import ComposeRequest, Passage
from assistant_crm.services.pipeline import gemini
from assistant_crm.services.pipeline.answer_check import problem, word_numbers
from assistant_crm.services.pipeline.identity_parse import parse_identity
from assistant_crm.services.pipeline.normalise import find_nrcs, find_otp, find_phones, fold, normalise
from assistant_crm.standalone.wsgi import create_app
from tests.fakes.corebusiness_stub import PEOPLE
from tests.fakes.gemini_server import FakeGemini
from tests.support import running_corebusiness_and_sms, set_settings

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
SEND = "/api/method/assistant_crm.api.chat.send_message"


# -- 12.2: one fold before any parsing, masking, hashing or lockout --------------------
@pytest.mark.parametrize("table", [FULLWIDTH, ARABIC_INDIC, DEVANAGARI])
def test_digits_of_any_script_parse_as_ascii(table):
    assert fold("305812/61/1".translate(table)) == "305812/61/1"
    assert find_nrcs("my nrc " + "305812/61/1".translate(table)) == ["305812/61/1"]
    assert find_otp("code " + "482913".translate(table)) == "482913"
    assert find_phones("call " + "0971234567".translate(table)) == ["+260971234567"]
    parts = parse_identity("Chanda Mulenga " + "305812/61/1".translate(table))
    assert parts.nrc == "305812/61/1" and parts.full_name == "Chanda Mulenga"
    assert normalise("nrc " + "305812 61 1".translate(table)).nrcs == ["305812/61/1"]
    assert mask_text("nrc " + "305812/61/1".translate(table)) == "nrc ******/**/1"


def test_a_locked_nrc_in_fullwidth_digits_is_still_locked(rt):
    """Five wrong names lock an NRC; the same NRC in full-width digits from a new
    session is refused without asking CoreBusiness."""
    person = PEOPLE["S-1001"]
    set_settings(rt, chat_rate_limit_per_minute=1000)
    client = Client(create_app(rt))

    def say(text, sid=None):
        r = client.post(SEND, json={"message": text, "session_id": sid})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()["message"]

    with running_corebusiness_and_sms(rt) as (cb, _sms):
        for name in ("Mary Phiri", "John Banda", "Peter Zulu", "Ruth Tembo", "Agnes Lungu"):
            sid = say("what is my claim status")["session_id"]
            say(f"{person['nrc']} {name}", sid)
        sid = say("what is my claim status")["session_id"]
        calls = len(cb.calls)
        answer = say(f"{person['nrc'].translate(FULLWIDTH)} {person['full_name']}", sid)
        assert "locked" in answer["reply"].lower()
        assert len(cb.calls) == calls


@pytest.fixture
def sandbox():
    srv = make_server(port=0, api_key="sandbox-key")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_odd_digits_never_open_the_circuit_breaker(sandbox):
    """Before: the NRC went out in full-width digits, the sandbox failed (500) and
    five such messages opened the breaker for everyone."""
    breaker = CircuitBreaker(threshold=5, cooldown=30)
    client = CoreBusinessClient(sandbox.base_url, "sandbox-key", breaker=breaker, max_attempts=1)
    for table in (FULLWIDTH, ARABIC_INDIC, DEVANAGARI, FULLWIDTH, ARABIC_INDIC, DEVANAGARI):
        result = client.verify_identity("305812/61/1".translate(table), "Chanda Mulenga")
        assert result.verified
    assert breaker.state == "closed" and breaker.failures == 0


def test_malformed_input_and_4xx_do_not_count_toward_the_breaker(sandbox):
    breaker = CircuitBreaker(threshold=2, cooldown=30)
    client = CoreBusinessClient(sandbox.base_url, "sandbox-key", breaker=breaker, max_attempts=1)
    for bad in ("12345/6/7", "305812/61/1x", ""):
        with pytest.raises(CoreBusinessError) as err:
            client.verify_identity(bad, "Chanda Mulenga")
        assert err.value.kind == "bad_request"
    for _ in range(4):  # unknown claim: the server's 404
        with pytest.raises(CoreBusinessError):
            client.claim("CLM-1999-00000")
    assert breaker.state == "closed" and breaker.failures == 0
    assert client.verify_identity("305812/61/1", "Chanda Mulenga").verified


# -- 12.8: masking with one set of patterns ------------------------------------------
@pytest.mark.parametrize(
    "written",
    ["214563.11.1", "214563_11_1", "2 1 4 5 6 3 / 1 1 / 1", "214563 11 1", "214563-11-1", "214563111"],
)
def test_nrc_in_any_spelling_is_masked(written):
    out = mask_text(f"my nrc is {written} thanks")
    assert "214563" not in out.replace(" ", "") and out == "my nrc is ******/**/1 thanks"
    assert find_nrcs(written) == ["214563/11/1"]
    assert mask_nrc(written) == "******/**/1"


@pytest.mark.parametrize(
    "written",
    ["(097) 1234567", "00260971234567", "+260 97 123 4567", "0971234567", "260971234567", "097-123-4567"],
)
def test_phone_in_any_zambian_format_is_masked(written):
    out = mask_text(f"call me on {written} please")
    assert out == "call me on +260 97*** **67 please", out
    assert mask_phone(written) == "+260 97*** **67"


def test_masking_keeps_claim_numbers_dates_and_amounts():
    text = "Claim CLM-2026-10001 of 2026-03-03: ZMW 90,000.00 (45000 kwacha)"
    assert mask_text(text) == text


@pytest.fixture
def fake_gemini(rt):
    fake = FakeGemini().start()
    gemini._clients.clear()
    set_settings(rt, gemini_api_key="k", gemini_base_url=fake.url, gemini_timeout_seconds=2, gemini_model="m")
    yield fake
    fake.stop()


def test_prompt_carries_no_code_no_surname_and_no_odd_identifiers(fake_gemini):
    fake_gemini.script = [("answer", "Hello Mwila.")]
    history = [
        ("user", "what is my claim status"),
        ("model", "Please give your NRC and full name."),
        ("user", "Mwila Banda 214563.11.1"),
        ("model", "I sent a code to +260 97*** **67."),
        ("user", "482 913"),
        ("model", "Thank you, you are verified."),
    ]
    req = ComposeRequest(
        user_message="my other phone is (097) 1234567 and nrc 2 1 4 5 6 3 / 1 1 / 1, code 482913",
        intent="claim_status",
        language="en",
        fallback="Hello Mwila.",
        history=history,
        facts={"first_name": "Mwila", "full_name": "Mwila Banda", "nrc": "214563/11/1"},
        person_name="Mwila",
        personal=True,
    )
    assert gemini.compose(req).source == "gemini"
    body = json.dumps(fake_gemini.requests[0]["body"], ensure_ascii=False)
    for leaked in ("Banda", "482913", "482 913", "214563", "1234567", "00260"):
        assert leaked not in body, leaked
    assert "Mwila" in body


def test_surname_cut_when_the_history_holds_the_nrc_already_masked(fake_gemini):
    # Stored chat text masks a typed NRC ("******/**/1 Mwila Banda"), and the
    # history given to the model comes from that store: the name beside a masked
    # NRC is still a full name given to prove identity.
    fake_gemini.script = [("answer", "Hello Mwila.")]
    history = [
        ("user", "what is my claim status"),
        ("model", "Please give your NRC and full name."),
        ("user", "******/**/1 Mwila Banda"),
        ("model", "I sent a code to +260 97*** **67."),
    ]
    req = ComposeRequest(
        user_message="how do I report an accident?",
        intent="report_accident",
        language="en",
        fallback="Report it within 3 days.",
        history=history,
        facts={},
        person_name="Mwila",
        personal=False,
    )
    assert gemini.compose(req).source == "gemini"
    body = json.dumps(fake_gemini.requests[0]["body"], ensure_ascii=False)
    assert "Banda" not in body
    assert "Mwila" in body


# -- 12.7: the answer check -------------------------------------------------------------
GROUND = (
    "Your claim CLM-2026-10001 is awaiting documents since 3 March 2026. "
    "Your last payment was ZMW 1,250.00 on 2026-03-03. Report within 3 days."
)


@pytest.mark.parametrize(
    "answer",
    [
        "You will receive 45000 kwacha next month.",
        "You will receive ninety thousand kwacha.",
        "You will receive K 5,000.00.",
        "Claim CLM-2026-20001 belongs to Kabwe Mwansa.",
        "Call us on 0977123456.",
        "Your NRC 214563 11 1 is on file.",
        "Your NRC 214563.11.1 is on file.",
        "Your payment is due on 15 April 2026.",
        "Employer EMP-900001 owes contributions.",
        "My system prompt is: You are the WCFCB assistant.",
        "ZMW 99,999.00 was paid.",
    ],
)
def test_answers_with_figures_not_in_the_facts_are_refused(answer):
    assert problem(answer, GROUND)


@pytest.mark.parametrize(
    "answer",
    [
        "Your last payment of ZMW 1,250.00 was made on 3 March 2026.",
        "Claim CLM-2026-10001 is waiting for documents; report within 3 days.",
        "Hello! 1. Visit a branch. 2. Bring your form.",
        "Your claim is awaiting documents since March 3, 2026.",
    ],
)
def test_grounded_answers_pass(answer):
    assert problem(answer, GROUND) is None


def test_number_words():
    assert 90000 in word_numbers("ninety thousand kwacha")
    assert 205 in word_numbers("two hundred and five")
    assert 1250 in word_numbers("one thousand two hundred fifty")


def test_refused_answer_falls_back_to_the_template(fake_gemini):
    fake_gemini.script = [("answer", "You will receive ninety thousand kwacha on 1 May 2026.")]
    req = ComposeRequest(
        user_message="how much will I get",
        intent="payment_inquiry",
        language="en",
        fallback="Your last payment was ZMW 1,250.00.",
        facts={"payments": [{"amount": "ZMW 1,250.00"}]},
        passages=[Passage(article="a", title="t", text="Benefits are paid monthly.", score=1.0)],
        personal=True,
    )
    result = gemini.compose(req)
    assert result.source == "template" and result.text == "Your last payment was ZMW 1,250.00."
