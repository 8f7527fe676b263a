"""The bot's answers that need no personal record: knowledge passages, intent
templates, clarifying questions, hand-off, and the wording helpers every
answer uses.

Every sentence is a Response Template (``fixtures/response_template.json``),
so each language can have it; this module only chooses the templates and the
values that fill them. Answers from the verified person's CoreBusiness records
are in :mod:`dialogue.live_answers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant_crm.services.dialogue import escalation
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.models import IntentResult, Passage, SessionState
from assistant_crm.services.pipeline import templates

# The quick-reply label of each intent a clarifying question can offer: a
# Response Template each, so that the buttons are in the conversation's
# language (and a tapped label is read back through Dialogue.options).
INTENT_LABEL_KEYS = {
    "claim_submission": "label_claim_submission",
    "claim_status": "label_claim_status",
    "payment_inquiry": "label_payment_inquiry",
    "employer_contributions": "label_employer_contributions",
    "employer_registration": "label_employer_registration",
    "document_status": "label_document_status",
    "information_request": "label_information_request",
    "service_request": "label_service_request",
    "escalation": "label_escalation",
}
# What a clarifying question offers when the classifier's guesses offer too little.
_CLARIFY_DEFAULTS = ("claim_status", "payment_inquiry", "information_request")


@dataclass
class Draft:
    """The answer being built during one turn."""

    text: str = ""
    quick_replies: list[str] = field(default_factory=list)
    intent: str = ""
    confidence: float = 0.0
    source: str = "template"  # template | kb | live | gemini | cache | gate | escalation | error
    handoff: bool = False
    low_confidence: bool = False
    personal: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    passages: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ wording


def say(key: str, session: SessionState, data: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """Template ``key`` in the conversation's language and channel: (text, quick replies)."""
    rendered = templates.render(
        key, language=session.language or "en", channel=session.channel or "all", data=data or {}
    )
    return rendered.text, list(rendered.quick_replies)


def line(key: str, session: SessionState, **data: Any) -> str:
    """One sentence of an answer (its template's text only)."""
    return say(key, session, data)[0]


def intent_label(session: SessionState, intent: str) -> str:
    """The button label offering ``intent``, in the conversation's language."""
    return line(INTENT_LABEL_KEYS[intent], session)


def first_name(session: SessionState) -> str:
    """The verified person's first name ("" before verification)."""
    if not session.is_verified:
        return ""
    full = Dialogue(session).verified_name or session.display_name or ""
    return full.split()[0].title() if full.strip() else ""


def template_data(session: SessionState, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": first_name(session), "first_name": first_name(session)}
    data.update(extra or {})
    return data


def template_answer(session: SessionState, key: str, **extra: Any) -> Draft:
    """The intent's (or any key's) own template as the answer."""
    text, replies = say(key, session, template_data(session, extra))
    if key == "greeting":
        text = _greet_by_name(text, first_name(session))
    return Draft(text=text, quick_replies=replies, source="template")


def _greet_by_name(text: str, name: str) -> str:
    """Put the verified person's first name into a greeting that lacks it ("Hello Mary! ...")."""
    if not name or name.lower() in text.lower():
        return text
    m = re.match(r"^(\w+(?: \w+)?)([!,.])", text)
    if m and len(m.group(1)) <= 20:
        return f"{m.group(1)} {name}{m.group(2)}{text[m.end() :]}"
    return f"{name}, {text}"


def hand_off(session: SessionState, decision: Any, confidence: float, low_confidence: bool) -> Draft:
    """Queue the conversation for a person (a policy ``Decision``) and say what happens next."""
    reason = decision.escalation_reason
    rendered = escalation.escalate(session, reason, channel=session.channel or "all")
    return Draft(
        text=rendered.text,
        quick_replies=list(rendered.quick_replies),
        intent=decision.intent,
        confidence=confidence,
        source="escalation",
        handoff=True,
        low_confidence=low_confidence,
        metadata={"escalation_reason": reason, "policy": decision.rule.name},
    )


# ---------------------------------------------------------- clarification


def clarify(session: SessionState, result: IntentResult, rule: str = "clarify") -> Draft:
    """A clarifying question offering the likeliest intents (and a person)."""
    ranked = [result.intent] + [name for name, _ in result.alternatives]
    names: list[str] = []
    for name in ranked:
        if name in INTENT_LABEL_KEYS and name != "escalation" and name not in names:
            names.append(name)
        if len(names) == 3:
            break
    for name in _CLARIFY_DEFAULTS:  # too few likely intents: offer the usual ones too
        if len(names) < 2 and name not in names:
            names.append(name)
    names.append("escalation")
    options = [(intent_label(session, name), name) for name in names]
    Dialogue(session).ask_to_clarify(options)
    text, _ = say("clarify", session, template_data(session))
    return Draft(
        text=text,
        quick_replies=[label for label, _ in options],
        intent=result.intent,
        confidence=result.confidence,
        low_confidence=True,
        metadata={"policy": rule},
    )


# -------------------------------------------------------------- knowledge


def knowledge(session: SessionState, intent: str, passage: Passage | None) -> Draft:
    """A knowledge-base passage as the answer, with its source title.

    Without a passage: ``no_answer`` for a question, the intent's own template
    for the other knowledge intents (it carries the essential facts).
    """
    if passage is None:
        return template_answer(session, "no_answer" if intent == "information_request" else intent)
    title = passage.title or passage.source
    text = passage.text.strip()
    if title:
        text = line("kb_source", session, answer=text, source=title)
    if intent == "information_request":
        # The template is "{answer}" by default; the desk may wrap it.
        text = line(intent, session, **template_data(session, {"answer": text, "source": title}))
    return Draft(
        text=text,
        source="kb",
        passages=[passage],
        metadata={
            "kb_article": passage.article,
            "kb_title": passage.title,
            "kb_score": round(passage.score, 4),
        },
    )
