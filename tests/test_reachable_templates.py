"""Every text a conversation can reach is a Response Template in English, Bemba
and Nyanja, and in Tonga and Lozi too for greeting, verification and hand-off
(issue 11, part 6).

The keys are found in the code itself, not in a list kept by hand: every
string in ``assistant_crm/`` that names a template, every key passed to the
wording helpers, and the keys the code builds (the clarifying question's
labels, the words for a claim's or a payment's status).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from assistant_crm.services.dialogue import answers, live_answers
from assistant_crm.services.dialogue.state import Dialogue, initial_context
from assistant_crm.services.models import IntentResult, SessionState
from assistant_crm.services.pipeline import templates

ROOT = Path(__file__).resolve().parent.parent
CODE = ROOT / "assistant_crm"
FIXTURE = ROOT / "assistant_crm" / "fixtures" / "response_template.json"
HELPERS = {"say", "line", "_reply", "_say", "_render", "render", "template_answer", "_notice"}
# Greeting, verification and hand-off: what a Tonga or Lozi speaker must be able to read.
TOI_LOZ = re.compile(
    r"^(greeting|goodbye|verify_|otp_|verified$|logout$|session_expired$|escalation|handoff_|agent_"
    r"|conversation_closed$|label_escalation$)"
)
LABEL_LIMIT = 20  # a WhatsApp reply button's title


def _rows() -> dict[tuple[str, str], dict]:
    rows = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {(r["template_key"], r["language"]): r for r in rows if r["channel"] == "all"}


def _code_keys() -> tuple[set[str], set[str]]:
    """(keys passed as a literal to a wording helper, every other string in the code)."""
    called: set[str] = set()
    strings: set[str] = set()
    for path in CODE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                first = node.args[0]
                if name in HELPERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    called.add(first.value)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"[a-z][a-z0-9_]*", node.value):
                    strings.add(node.value)
    return called, strings


def _built_keys() -> set[str]:
    """The keys the code puts together from a record value or an intent name."""
    keys = set(answers.INTENT_LABEL_KEYS.values())
    keys |= {
        live_answers.word_key(group, value)
        for group, values in live_answers.WORDS.items()
        for value in values
    }
    return keys


def reachable() -> set[str]:
    english = {k for (k, language) in _rows() if language == "en"}
    called, strings = _code_keys()
    return called | (strings & english) | _built_keys()


def test_the_code_reaches_templates_through_every_route():
    called, strings = _code_keys()
    assert {"verify_ask", "payment_line_scheduled", "handoff_give_up", "csat_ask"} <= called
    assert "payment_next" in strings  # chosen into a variable, then said
    assert "label_claim_status" in _built_keys() and "word_claim_status_under_review" in _built_keys()
    assert "agent_joined" in strings and "conversation_closed" in strings  # api/agent.py's notices


def test_every_reachable_key_is_in_english_bemba_and_nyanja():
    rows = _rows()
    keys = reachable()
    missing = sorted(f"{k}-{lang}" for k in keys for lang in ("en", "bem", "nya") if (k, lang) not in rows)
    assert not missing, f"no row for {missing}"


def test_greeting_verification_and_handoff_are_in_tonga_and_lozi():
    rows = _rows()
    keys = {k for k in reachable() if TOI_LOZ.match(k)}
    assert {"greeting", "verify_ask", "otp_sent", "escalation", "agent_joined", "label_escalation"} <= keys
    missing = sorted(f"{k}-{lang}" for k in keys for lang in ("toi", "loz") if (k, lang) not in rows)
    assert not missing, f"no row for {missing}"


def test_local_labels_fit_a_button_and_differ_from_english():
    rows = _rows()
    for key in answers.INTENT_LABEL_KEYS.values():
        english = rows[(key, "en")]["body"]
        for language in ("bem", "nya", "toi", "loz"):
            row = rows.get((key, language))
            if row is None:
                continue
            assert len(row["body"]) <= LABEL_LIMIT, row["name"]
            assert row["body"] != english, row["name"]


def test_clarification_labels_are_those_of_the_conversations_language(rt):

    for language, expected in (
        ("nya", ["Claim yanga", "Ndalama zanga", "Ndipatseni munthu"]),
        ("bem", ["Claim yandi", "Ndalama shandi", "Mpeleniko umuntu"]),
        ("en", ["Check my claim", "My payments", "Talk to an agent"]),
    ):
        session = SessionState(
            name=f"s-{language}", channel="whatsapp", language=language, context=initial_context()
        )
        result = IntentResult(intent="claim_status", confidence=0.4, alternatives=[("payment_inquiry", 0.38)])
        draft = answers.clarify(session, result)
        assert draft.quick_replies == expected
        # The tapped local label is read back as its intent.
        assert [intent for _, intent in Dialogue(session).options] == [
            "claim_status",
            "payment_inquiry",
            "escalation",
        ]
    assert templates.render("clarify", language="nya").text != templates.render("clarify").text
