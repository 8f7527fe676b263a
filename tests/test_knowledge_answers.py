"""General questions get the fact they ask for, through the whole pipeline.

Each row of ``tests/data/knowledge_answers.jsonl`` is a question written from
``../shared/data/wcfcb_facts.md`` in the ways people ask (personal "my
husband died at work, what do we get", SMS-speak, Bemba and Nyanja, a rule
asked with "my"/"we"), the strings of which the reply must carry one, and the
facts-sheet line it comes from (``fact``, a piece of that line). Every line of
the facts sheet has questions. Each question is the first message of a new web
chat: ``send_message`` on the standalone server with Gemini configured against
the local fake, which keeps the grounded draft word for word (so the reply is
the pipeline's own answer, passed through Gemini's grounding check). No
question may be sent to identity verification, a clarifying question or the
out-of-scope answer: they need nobody's records.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant_crm.runtime.standalone import create_runtime, shutdown
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import set_runtime
from assistant_crm.services.pipeline import answer_check, gemini
from tests import shared_data
from tests.fakes.gemini_server import FakeGemini
from tests.support import ServerThread
from tests.test_conversations import Visitor

ROWS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "knowledge_answers.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    fake.script = [("echo_draft",)]
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def kb_server(tmp_path_factory, seeded_sqlite, gemini_fake) -> Iterator[str]:
    """One standalone server for the whole table (each question opens its own chat)."""
    from assistant_crm.standalone.wsgi import create_app

    tmp = tmp_path_factory.mktemp("knowledge_answers")
    db = tmp / "kb.sqlite3"
    shutil.copyfile(seeded_sqlite, db)
    overrides = {
        "gemini_api_key": "test-key",
        "gemini_base_url": gemini_fake.url,
        "gemini_timeout_seconds": 3,
        "chat_rate_limit_per_minute": 0,
        "files_path": str(tmp / "files"),
    }
    runtime = create_runtime(f"sqlite:///{db}", overrides=overrides, environ={}, workers=1)
    srv = ServerThread(create_app(runtime)).start()
    yield srv.url
    srv.stop()
    runtime.queue.join(timeout=10)
    shutdown(runtime)
    set_runtime(None)


@pytest.mark.parametrize("row", ROWS, ids=[r["question"][:50] for r in ROWS])
def test_general_question_is_answered_with_its_fact(kb_server, gemini_fake, row):
    gemini.BREAKERS.reset()  # one question's timeout must not switch Gemini off for the next
    asked_before = len(gemini_fake.requests)
    answer = Visitor(kb_server).send(row["question"])
    reply, meta = answer["reply"], answer["metadata"]
    assert any(f.lower() in reply.lower() for f in row["facts"]), (
        f"{row['question']!r} -> [{answer['intent']} / {meta.get('policy')}] {reply[:200]!r}"
    )
    assert meta.get("policy") not in ("gate", "clarify"), meta.get("policy")
    assert meta["source"] == "gemini", meta.get("compose_error")
    if meta.get("kb_article"):  # (or the intent's own template: claim_submission's carries Form No. 6)
        grounding = json.dumps(gemini_fake.requests[asked_before:])
        assert "KNOWLEDGE (from the WCFCB knowledge base)" in grounding


# The other side: a question about one's own case still needs the records (the
# gate asks who the person is), and a complaint still goes to a person, however
# well a passage matches its words.
ABOUT_ONES_OWN_CASE = [
    "my claim was lodged in March for my injured hand, what stage is it at now?",
    "did the medical report I dropped at the Ndola office reach you?",
    "my pension has not been received this month",
    "we got a demand letter for arrears but we paid in April, why?",
    "what is our assessment for this year? we have 30 workers",
    "Bushe mwailandira amapepala yandi?",
    "my husband's claim file is waiting on one document, which one is it?",
    "why was my claim rejected?",
    "Could you tell me why my claim for my injured hand was rejected? I have all the papers.",
    "Kodi mwalandira Form 6 ya bwana wanga?",
    "when will I get my next pension payment?",
]
COMPLAINTS = [
    "I have been waiting 3 months for my compensation and nobody answers the phone. Why?",
    "Why is nobody replying to my letters about my late husband's pension?",
    "this is useless, why can't you just pay people what they are owed??",
    "I want to speak to a person about my pension",
]


@pytest.mark.parametrize("question", ABOUT_ONES_OWN_CASE)
def test_a_question_about_ones_own_case_goes_to_verification(kb_server, question):
    answer = Visitor(kb_server).send(question)
    assert answer["metadata"].get("policy") == "gate", (answer["intent"], answer["metadata"].get("policy"))
    assert not answer["metadata"].get("kb_article")


@pytest.mark.parametrize("question", COMPLAINTS)
def test_a_complaint_or_a_request_for_a_person_is_handed_off(kb_server, question):
    answer = Visitor(kb_server).send(question)
    assert answer["handoff"] is True, (
        answer["intent"],
        answer["metadata"].get("policy"),
        answer["reply"][:120],
    )


def test_every_line_of_the_facts_sheet_has_questions():
    """A line added to the facts sheet needs its questions here (and an article that answers them)."""
    facts = shared_data.require(shared_data.FACTS_ENV, "wcfcb_facts.md").read_text("utf-8")
    lines = [" ".join(b.split()) for b in re.findall(r"^- (.+?)(?=^- |^#|\Z)", facts, re.M | re.S)]
    assert len(lines) >= 20
    asked: dict[str, int] = {}
    for row in ROWS:
        owners = [line for line in lines if row["fact"] in line]
        assert len(owners) == 1, f"{row['fact']!r} names {len(owners)} lines of the facts sheet"
        asked[owners[0]] = asked.get(owners[0], 0) + 1
    missing = [line[:80] for line in lines if asked.get(line, 0) < 3]
    assert not missing, f"facts with fewer than 3 questions: {missing}"


def test_the_table_asks_in_many_ways():
    questions = [r["question"] for r in ROWS]
    assert len(questions) == len(set(questions))
    personal = [q for q in questions if re.search(r"\b(my|our|we|i|im)\b", q, re.I)]
    local = [q for q in questions if re.search(r"\b(bushe|kodi|ndi|ni|nshiku|masiku)\b", q, re.I)]
    sms = [q for q in questions if re.search(r"\b(wat|hw|d|nw|4|mch)\b", q)]
    assert len(personal) >= 25 and len(local) >= 8 and len(sms) >= 3, (len(personal), len(local), len(sms))


def test_the_format_example_nrc_survives_only_in_public_text():
    """The NRC article's example (123456/78/1) reaches Gemini whole, so an answer about
    the format can carry it; anyone's real number is still masked, and an answer
    may hold the example only when the knowledge it was given shows it."""
    passage = "An NRC number looks like 123456/78/1."
    assert mask_text(passage, keep_example=True) == passage
    assert mask_text(passage) == "An NRC number looks like ******/**/1."
    assert mask_text("mine is 214563/11/1", keep_example=True) == "mine is ******/**/1"
    assert answer_check.problem("Type it like 123456/78/1.", passage) is None
    assert answer_check.problem("Type it like 123456/78/1.", "Type it like this.")
    assert answer_check.problem("Yours is 214563/11/1.", passage + " 214563/11/1")
