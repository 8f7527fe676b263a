"""The dialogue state has one owner, and every sentence the dialogue says is a template."""

from __future__ import annotations

import json
import re
from pathlib import Path

from assistant_crm.services.dialogue import policy
from assistant_crm.services.dialogue.state import (
    Candidate,
    CodeChallenge,
    Dialogue,
    Verified,
    Waiting,
    initial_context,
)
from assistant_crm.services.models import SessionState
from assistant_crm.services.pipeline import templates

SERVICES = Path(__file__).resolve().parents[1] / "assistant_crm" / "services"
_CONTEXT_ACCESS = re.compile(r"\.context(\[|\.get\(|\.pop\(|\.setdefault\(|\.update\()")


def test_only_state_py_touches_the_context_keys():
    offenders = [
        f"{path.relative_to(SERVICES)}:{n}"
        for path in SERVICES.rglob("*.py")
        if path.name != "state.py"
        for n, text in enumerate(path.read_text().splitlines(), start=1)
        if _CONTEXT_ACCESS.search(text)
    ]
    assert offenders == []


def test_every_template_key_the_dialogue_uses_ships_in_english():
    used: set[str] = set()
    for name in ("answers.py", "live_answers.py", "gate.py", "policy.py", "escalation.py"):
        source = (SERVICES / "dialogue" / name).read_text()
        used |= set(re.findall(r'(?:say|line|_reply|_say|template_answer)\(\s*"([a-z_]+)"', source))
    shipped = templates.shipped()
    assert used, "no template keys found: the pattern above is stale"
    assert sorted(k for k in used if (k, "en", "all") not in shipped) == []


def test_state_round_trips_through_the_json_context(rt):  # rt: slots are sealed with its key
    s = SessionState(name="s1", context=initial_context())
    d = Dialogue(s)
    d.remember(nrc="123456/78/1", full_name="Mary Banda")
    d.wait_for(Waiting.CODE)
    d.set_challenge(
        CodeChallenge(Candidate("P-1", "Mary Banda", phone="+260971234567"), "h", "2026-01-01T00:00:00")
    )
    back = Dialogue(SessionState(name="s1", context=json.loads(json.dumps(s.context))))
    assert back.waiting is Waiting.CODE and back.in_gate
    assert back.slots.nrc == "123456/78/1" and back.verified is None
    assert back.challenge is not None and back.challenge.candidate.person_id == "P-1"
    back.set_verified(Verified("P-1", "Mary Banda", employer_numbers=["EMP-1"]))
    back.stop_waiting()
    assert back.verified is not None and back.employer_numbers == ["EMP-1"] and back.challenge is None
    assert back.waiting is Waiting.NOTHING
    back.offer_claims("claim_status", ["CLM-1", "CLM-2"])
    assert back.claim_choice is not None and back.claim_choice.numbers == ["CLM-1", "CLM-2"]
    back.end_verification()
    assert back.verified is None and back.claim_choice is None and not back.slots.nrc


def test_every_policy_rule_has_a_name_and_a_reason():
    names = [rule.name for rule in policy.RULES]
    assert len(names) == len(set(names))
    assert all(rule.reason and len(rule.reason) < 120 for rule in policy.RULES)
