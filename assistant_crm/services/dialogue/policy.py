"""Which source answers a message: a person, a clarifying question, the knowledge
base, the verification gate, live data or the intent's template.

The pipeline asks :func:`before_gate` once the intent is known and
:func:`after_gate` once the gate has let the turn through. Every decision names
the :class:`Rule` that made it (the rule's name goes into the reply's metadata
as ``policy``); the rules, in the order they are tried, are listed in
:data:`RULES` with a one-line reason each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum

from assistant_crm.services.dialogue import escalation
from assistant_crm.services.dialogue.asked import Asked, asked
from assistant_crm.services.dialogue.state import Dialogue, Waiting
from assistant_crm.services.models import IntentResult, Passage, SessionState
from assistant_crm.services.pipeline import intents, knowledge
from assistant_crm.services.pipeline.normalise import Normalised


class Source(str, Enum):
    PERSON = "escalation"
    CLARIFY = "clarify"
    KNOWLEDGE = "kb"
    GATE = "gate"
    LIVE = "live"
    TEMPLATE = "template"


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str


GATE_ANSWER = Rule(
    "gate_answer", "a message answering the gate's NRC or code question belongs to the locked intent"
)
HAND_OFF = Rule("hand_off", "the person asked for a person, is upset, or the bot keeps misunderstanding")
CLOSE_CALL = Rule(
    "close_call_knowledge", "a hesitant message needing no personal record is answered by a good KB passage"
)
CLARIFY = Rule("clarify", "the top two intents are close and no KB passage answers well: ask which")
CLEAR_LEAD = Rule("clear_lead", "a hesitant top intent well ahead of the next is acted on without asking")
GENERAL_QUESTION = Rule(
    "general_question", "a question that needs no personal record is answered from the KB, even with my/our"
)
GATE = Rule("gate", "the gate decides whether the person must be verified first")
KNOWLEDGE_INTENT = Rule("knowledge_intent", "questions, claims and registration are answered from the KB")
LIVE_DATA = Rule("live_data", "a verified person's own records answer their personal question")
TEMPLATE = Rule("template", "everything else gets the intent's own template")
RULES = (
    GATE_ANSWER,
    HAND_OFF,
    CLOSE_CALL,
    CLARIFY,
    CLEAR_LEAD,
    GENERAL_QUESTION,
    GATE,
    KNOWLEDGE_INTENT,
    LIVE_DATA,
    TEMPLATE,
)

# Intents whose answer is a knowledge-base passage.
KB_INTENTS = (
    "information_request",
    "claim_submission",
    "employer_registration",
    "service_request",
    "out_of_scope",
)
# An out_of_scope message answered from the knowledge base needs a clearly
# relevant passage, or small talk would get a random article.
OUT_OF_SCOPE_KB_MIN_SCORE = 0.6
# A general question under a personal intent is answered from the KB only with
# a clear match (the KB's own "no answer" line is 0.38).
GENERAL_KB_MIN_SCORE = 0.45
# A hesitant classification is answered from the KB with a good match.
CLOSE_CALL_KB_MIN_SCORE = 0.55
# Two intents are "close" when the second scores at least this share of the first;
# under ACT_MIN_CONFIDENCE the top intent is too weak to act on without asking.
CLOSE_RATIO = 0.5
ACT_MIN_CONFIDENCE = 0.3
# A general question (no I/we, nothing about an account's position, phrased as a
# question) is answered from the KB's best passage from this score: the KB's own
# topic-match line. "Up to what monthly wage are employer assessments calculated?"
GENERAL_QUESTION_KB_MIN_SCORE = 0.3

# Words that make a message about the person's own records (English, Bemba, Nyanja).
_PERSONAL_RE = re.compile(
    r"\b(my|mine|our|ours|me|myself|status|yandi|yesu|wandi|changa|yanga|wanga|zanga|langa|anga)\b", re.I
)
# Local-language possessives: without a reliable question form, "my ..." in Bemba or
# Nyanja is read as a question about the person's records.
_LOCAL_POSSESSIVE_RE = re.compile(
    r"\b(yandi|yesu|wandi|shandi|shesu|lyandi|changa|yanga|wanga|zanga|langa|anga|yathu|zathu|wathu)\b", re.I
)
# The state of the person's own records: whether something happened, where it is,
# how much is owed, "check/track my ...". A rule ("what documents do I need",
# "when do we pay our assessment") asks none of these.
_RECORD_STATE_RE = re.compile(
    r"\b(status|progress|update\s+on|where\s+is|where'?s|what\s+about\s+(my|our)|check\s+(my|our)|"
    r"track|follow\s+up|has\s+(my|our)|have\s+(my|our|you)|did\s+(you|i|we)\s+(get|receive)|"
    r"is\s+my|are\s+my|was\s+my|were\s+my|why\s+(was|is|has|were|have)\s+(my|our)|when\s+will\s+(i|we|my|our)|"
    r"how\s+much\s+(do|does|did|will)\s+(i|we)|my\s+(balance|arrears|account)|our\s+(balance|arrears|account)|"
    r"(my|our)\s+\w+\s+(approved|paid|processed|ready|received|rejected|pending|missing|stuck|delayed)|"
    r"show\s+(me\s+)?(my|our)|list\s+(my|our)|see\s+(my|our)|view\s+(my|our))\b",
    re.I,
)
_RULE_QUESTION_RE = re.compile(
    r"^\s*(what|when|where|which|who|how|is|are|do|does|can|could|should|must|may|will|am|if|up\s+to)\b", re.I
)
_FIRST_PERSON_RE = re.compile(r"\b(i|i'm|im|i've|ive|i'd|we|we're|us|ine|ifwe|ife)\b", re.I)
# The position of an account or a case ("how much do we owe", "which documents are
# missing"): asked with "I"/"we" it is about the person's own records.
_ACCOUNT_RE = re.compile(
    r"\b(owe|owed|owes|owing|balance|balances|arrears|outstanding|debt|debts|missing|pending|delayed|stuck)\b",
    re.I,
)
_EMPLOYER_NUMBER_RE = re.compile(r"(?<![A-Za-z0-9])EMP[\s\-_/]?\d{3,8}(?!\d)", re.I)
_GENERAL_QUESTION_RE = re.compile(
    r"\?|^\s*(what|when|where|which|who|why|how|is|are|do|does|can|could|should|must|will|up\s+to)\b", re.I
)
# A request for a person in so many words. An answer to the gate's question that
# only says "please help me" is read by the classifier as escalation, and is not.
_ASKS_FOR_PERSON_RE = re.compile(
    r"\b(agents?|human|officer|operator|manager|supervisor|staff|customer\s+care|real\s+person|a\s+person|"
    r"someone|somebody|talk\s+to|speak\s+(to|with)|call\s+me|munthu|umuntu|ndiyankhule|ndiyimbireni)\b",
    re.I,
)


# Intents a question about one's records is never, and the intent each kind of question is.
_NOT_A_QUESTION = ("greeting", "goodbye", "out_of_scope")
_INTENT_ASKED = {
    Asked.NEXT_PAYMENT: "payment_inquiry",
    Asked.LAST_PAYMENT: "payment_inquiry",
    Asked.WHY_REJECTED: "claim_status",
    Asked.MISSING_DOCUMENTS: "document_status",
}


@dataclass
class Decision:
    """Who answers this turn, by which rule."""

    source: Source
    rule: Rule
    intent: str
    passage: Passage | None = None
    escalation_reason: str = ""


# ------------------------------------------------------------------ intents


def picked_option(session: SessionState, text: str) -> str | None:
    """The intent behind a tapped quick reply (or its number) of a clarifying question."""
    dialogue = Dialogue(session)
    if dialogue.waiting is not Waiting.CLARIFY:
        return None
    wanted = text.strip().lower().rstrip(".")
    for i, (label, intent) in enumerate(dialogue.options, start=1):
        if wanted == label.lower() or wanted == str(i):
            return intent
    return None


def numbered_choice(session: SessionState, text: str) -> str:
    """On SMS (and by habit elsewhere) people answer "2" for the second option
    offered; read it as that option's label. Not while the gate waits for an
    answer of its own (a claim choice, a code), nor for a clarifying question
    (:func:`picked_option` maps the number straight to the intent)."""
    dialogue = Dialogue(session)
    labels = dialogue.last_quick_replies
    number = text.strip().rstrip(".)")
    if not labels or not number.isdigit() or dialogue.in_gate or dialogue.waiting is Waiting.CLARIFY:
        return text
    index = int(number)
    return labels[index - 1] if 1 <= index <= len(labels) else text


def classify(session: SessionState, norm: Normalised) -> tuple[IntentResult, bool]:
    """The intent of the message and whether to act on it without asking.

    An answer to the gate's own question (NRC and name, a code, a claim choice)
    goes to the gate however the classifier scored it."""
    picked = picked_option(session, norm.text)
    if picked:
        return IntentResult(intent=picked, confidence=1.0, source="context"), True
    dialogue = Dialogue(session)
    result = intents.classify(norm.text, pending=dialogue.waiting.value or None)
    confident = bool(intents.is_confident(result)) or dialogue.in_gate
    kind = asked(norm.text)
    if kind is not Asked.OVERVIEW and result.intent in _NOT_A_QUESTION and needs_records(norm):
        # "Ndalama yanga ili liti?" read as a greeting: it asks when the person is paid.
        result, confident = replace(result, intent=_INTENT_ASKED[kind], source="asked"), True
    if confident:
        dialogue.understood()
        dialogue.stop_waiting(Waiting.CLARIFY)
        dialogue.clear_options()
    else:
        dialogue.hesitated()
    if result.intent == "escalation" and _answers_gate_question(session, result, norm):
        # "Hello, I am Thandiwe Nakamba. NRC 438190/11/1. Please help me" answers
        # the NRC question; "help me" is no request for a person. The gate gets it.
        result = replace(result, intent=str(session.locked_intent))
    return result, confident


def _answers_gate_question(session: SessionState, result: IntentResult, norm: Normalised) -> bool:
    return (
        result.source == "context"
        and Dialogue(session).waiting in (Waiting.IDENTITY, Waiting.CODE)
        and bool(session.locked_intent)
        and not _ASKS_FOR_PERSON_RE.search(norm.text)
    )


# ---------------------------------------------------------------- decisions


def before_gate(session: SessionState, result: IntentResult, confident: bool, norm: Normalised) -> Decision:
    """A person, a clarifying question, a general KB answer, or on to the gate."""
    reason = escalation.reason_to_escalate(
        result.intent if confident else "", norm.text, Dialogue(session).low_confidence_streak
    )
    if reason:
        intent = "escalation" if reason == "asked" else result.intent
        return Decision(Source.PERSON, HAND_OFF, intent, escalation_reason=reason)
    if not confident:
        passage = _close_call_passage(session, result, norm)
        if passage is not None:
            Dialogue(session).understood()
            return Decision(Source.KNOWLEDGE, CLOSE_CALL, "information_request", passage)
        if is_close(result):
            return Decision(Source.CLARIFY, CLARIFY, result.intent)
        Dialogue(session).understood()
    passage = _general_passage(session, result.intent, norm)
    if passage is not None:
        return Decision(Source.KNOWLEDGE, GENERAL_QUESTION, result.intent, passage)
    return Decision(Source.GATE, GATE, result.intent)


def after_gate(session: SessionState, intent: str, norm: Normalised) -> Decision:
    """The gate let ``intent`` through: the KB, live data or the template answers it."""
    if intent in KB_INTENTS:
        passage = knowledge.best(norm.text, language=session.language)
        if passage is not None and intent == "out_of_scope" and passage.score < OUT_OF_SCOPE_KB_MIN_SCORE:
            passage = None
        return Decision(Source.KNOWLEDGE, KNOWLEDGE_INTENT, intent, passage)
    if intents.intent_config(intent).needs_live_data and session.is_verified:
        return Decision(Source.LIVE, LIVE_DATA, intent)
    return Decision(Source.TEMPLATE, TEMPLATE, intent)


def is_close(result: IntentResult) -> bool:
    """Whether the top two intents are close: the second scores at least CLOSE_RATIO of
    the first, or the first is too weak to act on at all (below ACT_MIN_CONFIDENCE)."""
    if result.confidence < ACT_MIN_CONFIDENCE or not result.alternatives:
        return True
    return result.alternatives[0][1] >= CLOSE_RATIO * result.confidence


def _close_call_passage(session: SessionState, result: IntentResult, norm: Normalised) -> Passage | None:
    """A KB passage when the classifier hesitates and the message needs no personal record.

    "What is the minimum monthly pension now?" splits between
    information_request and payment_inquiry; a good knowledge-base match on a
    message needing nobody's records answers it better than a clarifying question.
    """
    if Dialogue(session).in_gate or needs_records(norm):
        return None
    if _PERSONAL_RE.search(norm.text) and not _RULE_QUESTION_RE.search(norm.text):
        return None  # "my thing from before": about their own affairs, not a rule
    passage = knowledge.best(norm.text, language=session.language)
    if passage is None or passage.score < CLOSE_CALL_KB_MIN_SCORE:
        return None
    return passage


def _general_passage(session: SessionState, intent: str, norm: Normalised) -> Passage | None:
    """A KB passage for a general question under a personal intent, before any verification.

    "When are assessments due?" or "Documents needed" classify as
    employer_contributions / document_status, which need a verified person.
    Asking for an NRC to tell someone a public fact is wrong, so a message that
    names nobody's records (no "my"/"our", no NRC, claim or phone number) and
    has a clear knowledge-base match is answered from the KB. Anything
    personal still goes through the gate.
    """
    if Dialogue(session).in_gate or not intents.intent_config(intent).requires_auth:
        return None
    if needs_records(norm) or (session.is_verified and not _RULE_QUESTION_RE.search(norm.text)):
        return None
    personal = bool(_PERSONAL_RE.search(norm.text) or _FIRST_PERSON_RE.search(norm.text))
    if personal and not _RULE_QUESTION_RE.search(norm.text):
        return None  # "I want to know about my payments": a request about their own records
    passage = knowledge.best(norm.text, language=session.language)
    if passage is not None and passage.score >= GENERAL_KB_MIN_SCORE:
        return passage
    if personal or not _general_question(norm.text):
        return None
    # Phrased as a question about the rules, not the person's position: a decent
    # match answers it better than asking for an NRC.
    found = knowledge.search(norm.text, language=session.language, top_k=1)
    if not found or found[0].score < GENERAL_QUESTION_KB_MIN_SCORE:
        return None
    return found[0]


def needs_records(norm: Normalised) -> bool:
    """Whether answering needs the person's own records: an NRC, claim, phone or
    employer number; a question about their records' state ("where is my payment",
    "is my claim approved", "how much do we owe"); a local-language "my ...";
    or "I"/"we" with an account's position. "my"/"our" alone do not: "what
    documents do I need for my claim?" is a question about the rules."""
    if norm.nrcs or norm.claim_numbers or norm.phones or norm.otp_code:
        return True
    text = norm.text
    if _EMPLOYER_NUMBER_RE.search(text) or _RECORD_STATE_RE.search(text) or _LOCAL_POSSESSIVE_RE.search(text):
        return True
    personal = _FIRST_PERSON_RE.search(text) or _PERSONAL_RE.search(text)
    if personal and asked(text) is not Asked.OVERVIEW:
        return True  # "when will I be paid", "which documents are missing"
    return bool(personal and _ACCOUNT_RE.search(text))


def _general_question(text: str) -> bool:
    """A question about how things are ("When does the assessment year start?"), not
    about the asker ("I", "we") or an account's position (balance, arrears)."""
    return bool(
        _GENERAL_QUESTION_RE.search(text)
        and not _FIRST_PERSON_RE.search(text)
        and not _ACCOUNT_RE.search(text)
    )
