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
NOT_A_REQUEST = Rule(
    "not_a_request",
    "a calm question on a Board topic that asks for no person is answered, whatever word made it read as one",
)
CLOSE_CALL = Rule(
    "close_call_knowledge",
    "a hesitant message needing no personal record is answered by a KB passage that answers it well",
)
CLARIFY = Rule("clarify", "the top two intents are close and no KB passage answers well: ask which")
CLEAR_LEAD = Rule("clear_lead", "a hesitant top intent well ahead of the next is acted on without asking")
GENERAL_QUESTION = Rule(
    "general_question", "a question that needs no personal record is answered from the KB, even with my/our"
)
GATE = Rule("gate", "the gate decides whether the person must be verified first")
KNOWLEDGE_INTENT = Rule("knowledge_intent", "questions, claims and registration are answered from the KB")
OUT_OF_SCOPE_KB = Rule(
    "out_of_scope_kb",
    "a question read as out of scope that names no other body but matches a KB topic well is answered from it",
)
LIVE_DATA = Rule("live_data", "a verified person's own records answer their personal question")
TEMPLATE = Rule("template", "everything else gets the intent's own template")
RULES = (
    GATE_ANSWER,
    NOT_A_REQUEST,
    HAND_OFF,
    CLOSE_CALL,
    CLARIFY,
    CLEAR_LEAD,
    GENERAL_QUESTION,
    GATE,
    KNOWLEDGE_INTENT,
    OUT_OF_SCOPE_KB,
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
# relevant passage, or small talk would get a random article ...
OUT_OF_SCOPE_KB_MIN_SCORE = 0.6
# ... or, for a question naming no other body, a passage that the KB says
# answers it well, on two or more of the article's topic words or with this
# score: a Board topic is never "out of scope" ("what does the 2 at the end of
# my NRC mean", "why do you need a code when I gave my NRC", "can I chat in
# Tonga": the classifier reads the Board's own trivia as out of scope).
OUT_OF_SCOPE_TOPIC_KB_MIN_SCORE = 0.5
OUT_OF_SCOPE_TWO_TOPIC_KB_MIN_SCORE = 0.4
# A question with "my"/"our" is general only when the passage matches two or more
# of its article's topic words: "my pension?" matches one and asks about records.
PERSONAL_KB_MIN_TOPIC_WORDS = 2
# ... or when it scores this much (the line before issue 11's rule: "where do I
# collect my pension in Mansa" matches one topic word, strongly).
PERSONAL_KB_MIN_SCORE = 0.45
# A local-language "my"/"our" ("Assessment year yathu imayamba liti?") without a
# question about the records' state: general only with a strong topic match.
LOCAL_POSSESSIVE_KB_MIN_SCORE = 0.55
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
    # (not "can I get/have my pension paid as a lump sum": how it can be paid)
    # (nor "our company paid for the operation, will the board refund us": the employer paid)
    r"(?<!\bget\s)(?<!\bhave\s)(?<!\bwant\s)(my|our)\s+(?!company|employer|business|boss|firm)\w+\s+"
    r"(approved|paid|processed|ready|received|rejected|pending|missing|stuck|delayed)|"
    r"show\s+(me\s+)?(my|our)|list\s+(my|our)|see\s+(my|our)|view\s+(my|our)|"
    r"(do|did)\s+you\s+have\s+(my|our)|(got|received)\s+(my|our)|news\s+(on|about|of)|"
    r"happening\s+(with|to)\s+(my|our)|going\s+on\s+with|"
    r"confirm\s+(it|that|if|whether|receipt|you|my|our)|on\s+file|(mine|ours)\s+(is|was|has|still)|"
    r"(less|more|lower|higher|short)\s+than\s+(usual|expected|before|last|normal)|"
    r"(my|our)\s+(\w+\s+){0,2}(amount|figure|bill|invoice)|"
    r"not\s+(yet\s+)?(been\s+)?(received|arrived|come|reached)|(what|which)\s+stage|heard\s+nothing|"
    r"(did|has|have)\b[^.?!]{0,50}\b(reach\w*|arriv\w*|go\s+thr\w*|get\s+to\s+you)|(my|our)\s+file\b|\b(file|case)\s+(is|was|has|still)\b|penalt\w*|demand\s+letter|"
    r"what\s+(is|was|will\s+be)\s+(my|our)\s+(assessment|contribution|pension|balance|grant|payment)s?\b|"
    r"ngongole)\b",
    re.I,
)
# The same in Bemba, Nyanja and Lozi: "where is it", "how far has it got", "how is it
# going", "not received", "has not arrived", "did you receive it?"
_LOCAL_RECORD_STATE_RE = re.compile(
    r"\b(\w*fika|ili\s+kuti|yafika\s+kuti|yafika\s+pi|ilikwi|ilipi|sindinalandire|sinalandire|sitinalandire|"
    r"nshilapokelela|nshapokelela|tatulapokelela|tailaisa|taifika|tailafika|sinafike|ikuyenda\s+bwanji|"
    r"ilecitwapo|mwalandira|mwailandira|mwayilandira|mwazilandira|mwapokelela|mwaipokelela|mwapokele\w*|"
    r"ipokelela|fumani|mwaifumana)\b",
    re.I,
)
# Something done (or not) to a case: with "my"/"we" it asks about the person's own
# ("has anyone looked at my file", "did they pay my grant"); without, it may be a
# fact ("how much has the Board paid out in benefits").
_HAPPENED_RE = re.compile(
    r"\bdid\s+(you|they)\b|\b(has|have|had)\s+(anyone|anybody|somebody|someone|the\s+\w+|it|they|you)\b"
    r"[^.?!]{0,50}\b(paid|approved|processed|looked|sent|reached|arrived|come|received|done|decided|assessed|"
    r"examined)\b",
    re.I,
)
# A question, wherever it starts: a question word opening any clause (after a full
# stop or comma, or a preposition: "in which year", "by how much"), a "?", or a
# Bemba/Nyanja question word. "Our engineer earns K25,000, do we pay on all of
# it?" is a question about the rules even though it opens with "our"; "has my
# grant been paid?" is a question too, about the person's case: needs_records
# catches those first.
_QUESTION_RE = re.compile(
    r"\?|(^|[.,;:!?]\s*)((in|on|at|by|from|for|to|up\s+to|since|until)\s+)?"
    r"(what|wat|wht|when|wen|where|whr|which|who|whom|whose|why|how|hw|is|are|do|does|can|could|"
    r"should|must|may|will|would|am|if|explain|describe|tell\s+me)\b|"
    r"\b(on|in|at|by|from|for|to|until|since)\s+(which|what|whose)\b|"
    # an auxiliary before its subject anywhere: "instead of monthly payments can I get ..."
    r"\b(can|could|may|should|must|do|does|did|will|would|shall)\s+(i|we|you|they|he|she)\b|"
    # an embedded question: "my accountant asks when ...", "I want to know how ..."
    r"\b(ask|asks|asked|asking|know|wondering|wonders|find\s+out|explain)\s+(what|when|where|which|who|why|how|if|whether)\b|"
    r"\b(bushe|kodi|liti|lilali|cinshi|chinshi|chani|chiyani|bwanji|zingati|angati|shinga|nshi)\b",
    re.I,
)
# "I"/"we", and in Nyanja and Bemba the first person is a verb prefix: "ndidzalipidwa"
# (I will be paid), "sindinalandire" (I have not received), "napokelele" (I received).
_FIRST_PERSON_RE = re.compile(
    r"\b(i|i'm|im|i've|ive|i'd|we|we're|us|ine|ifwe|ife)\b|"
    r"\b(ndidza|ndina|sindina|ndiku|tidza|tina|sitina|tiku|nkalipilw|nkapokel|nshila|nshapokel|napokel|"
    r"nalipokel|twapokel)\w*",
    re.I,
)
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


def tapped_label(session: SessionState, text: str) -> str:
    """The whole label of a tapped button whose title the platform got clipped
    ("Back to the assistan…": WhatsApp and Messenger titles hold 20 characters, a
    list row 24), else ``text``. The button comes back as the person's message,
    and the hand-off and the clarifying question match labels by their full text."""
    stripped = (text or "").strip()
    ellipsis = next((e for e in ("…", "...") if stripped.endswith(e)), "")  # normalising spells it out
    if not ellipsis:
        return text
    stem = stripped[: -len(ellipsis)].rstrip().lower()
    if not stem:
        return text
    for label in Dialogue(session).last_quick_replies:
        if len(label) > len(stem) and label.lower().startswith(stem):
            return label
    return text


def is_offered_label(session: SessionState, text: str) -> bool:
    """Whether ``text`` is one of the buttons the assistant offered last (as tapped)."""
    wanted = (text or "").strip().lower()
    return bool(wanted) and any(
        wanted == label.strip().lower() for label in Dialogue(session).last_quick_replies
    )


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
    if reason == "asked" and (passage := _question_heard_as_a_request(session, norm)) is not None:
        return Decision(Source.KNOWLEDGE, NOT_A_REQUEST, "information_request", passage)
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


def after_gate(
    session: SessionState, intent: str, norm: Normalised, result: IntentResult | None = None
) -> Decision:
    """The gate let ``intent`` through: the KB, live data or the template answers it
    (``result``, the classifier's reading of this message, when it is the intent)."""
    if intent == "out_of_scope":
        return _out_of_scope(
            session, norm, result if result is not None and result.intent == intent else None
        )
    if intent in KB_INTENTS:
        return Decision(Source.KNOWLEDGE, KNOWLEDGE_INTENT, intent, _in_scope_passage(session, norm))
    if intents.intent_config(intent).needs_live_data and session.is_verified:
        return Decision(Source.LIVE, LIVE_DATA, intent)
    return Decision(Source.TEMPLATE, TEMPLATE, intent)


# A question the classifier placed among the Board's own (information_request,
# claim_submission ...) is answered by its top passage on a lower line than the
# KB's own verdict: the classifier has vouched for the topic, so everyday words
# the articles never use ("what languages can I *use* to *chat* with you",
# "where is rehabilitation *done*") should not turn the answer into "I don't
# know". The top passage must still name the question's topic (a title or
# keyword word) and carry real evidence; out_of_scope keeps its stricter rules.
IN_SCOPE_KB_MIN_SCORE = 0.25


def _in_scope_passage(session: SessionState, norm: Normalised) -> Passage | None:
    """The top passage for a message of a knowledge intent: the KB's verdict, or
    the lower in-scope line; none for another body's business or one's own case."""
    found = knowledge.match(norm.text, language=session.language)
    if found.passage is None or _names_other_body(norm.text) or _about_own_case(norm):
        return None
    if found.answers_well:
        return found.passage
    lenient = found.topic_words >= 1 and found.score >= IN_SCOPE_KB_MIN_SCORE
    return found.passage if lenient and found.evidence >= knowledge.MIN_EVIDENCE else None


def _about_own_case(norm: Normalised) -> bool:
    """A question only the person's records answer, whatever the classifier read it
    as ("why was my claim rejected", "which papers are still missing", "mwailandira?"):
    no passage stands in for the record."""
    kind = asked(norm.text)
    mine = _says_my_or_we(norm.text) and kind in (Asked.WHY_REJECTED, Asked.MISSING_DOCUMENTS)
    return mine or bool(_LOCAL_RECORD_STATE_RE.search(norm.text) or _OWN_CASE_RE.search(norm.text))


# Asking after a paper or a case the Board holds for the person ("please confirm the
# certificate we filed is on record", "do you have my life certificate", "did they go
# through?"), whichever intent the classifier chose.
_OWN_CASE_RE = re.compile(
    r"\bconfirm\s+(it|that|if|whether|receipt|you|my|our)\b|\bon\s+(file|record)\b|"
    r"\b(do|did)\s+you\s+have\s+(my|our)\b|\b(did|has|have)\b[^.?!]{0,50}\b(reach\w*|arriv\w*|go\s+thr\w*|"
    r"get\s+to\s+you)|\bstatus\s+of\s+(my|our)\b|\b(my|our)\s+file\b",
    re.I,
)


def _out_of_scope(session: SessionState, norm: Normalised, result: IntentResult | None = None) -> Decision:
    """Out of scope is declined, unless the KB answers it well and it names no other
    body: a strong match, or a question on the Board's own topic (two of an
    article's topic words, or a good score); or the classifier's close second is a
    knowledge intent and the in-scope line finds the topic ("what languages can I
    use to chat with you": out_of_scope 0.49, information_request 0.36)."""
    if result is not None and result.alternatives and _QUESTION_RE.search(norm.text):
        second, score = result.alternatives[0]
        if second in KB_INTENTS and second != "out_of_scope" and score >= CLOSE_RATIO * result.confidence:
            passage = _in_scope_passage(session, norm)
            if passage is not None:
                return Decision(Source.KNOWLEDGE, OUT_OF_SCOPE_KB, "out_of_scope", passage)
    found = knowledge.match(norm.text, language=session.language)
    declined = Decision(Source.KNOWLEDGE, KNOWLEDGE_INTENT, "out_of_scope", None)
    if found.passage is None or not found.answers_well or _names_other_body(norm.text):
        return declined
    if found.score >= OUT_OF_SCOPE_KB_MIN_SCORE:
        return Decision(Source.KNOWLEDGE, KNOWLEDGE_INTENT, "out_of_scope", found.passage)
    on_topic = found.score >= OUT_OF_SCOPE_TOPIC_KB_MIN_SCORE or (
        found.topic_words >= 2 and found.score >= OUT_OF_SCOPE_TWO_TOPIC_KB_MIN_SCORE
    )
    if on_topic and _QUESTION_RE.search(norm.text):
        return Decision(Source.KNOWLEDGE, OUT_OF_SCOPE_KB, "out_of_scope", found.passage)
    return declined


def _names_other_body(text: str) -> bool:
    """Another institution named (NAPSA, PACRA ...): not the Board's to answer. Zamtel
    is one to the classifier, but which numbers are Zamtel's is in our articles."""
    return intents.names_other_body(re.sub(r"(?i)\bzamtel\b", " ", text))


def is_close(result: IntentResult) -> bool:
    """Whether the top two intents are close: the second scores at least CLOSE_RATIO of
    the first, or the first is too weak to act on at all (below ACT_MIN_CONFIDENCE)."""
    if result.confidence < ACT_MIN_CONFIDENCE or not result.alternatives:
        return True
    return result.alternatives[0][1] >= CLOSE_RATIO * result.confidence


# Words of a complaint or of waiting: those go to a person even as a question.
_COMPLAINT_RE = re.compile(
    r"\b(nobody|no\s+one|noone|never|still|waiting|waited|ignored?|ignoring|again|already|months?|weeks?|"
    r"years?|delay\w*|slow|late|bad|poor|wrong|unfair|help\s+me|problem|issue|cheat\w*|corrupt\w*|"
    r"reply|replies|response|respond\w*|feedback|letters?|anyone\s+working)\b",
    re.I,
)


def _question_heard_as_a_request(session: SessionState, norm: Normalised) -> Passage | None:
    """A passage when the classifier read a calm question about a Board topic as a
    request for a person ("what share of people *speak* English at home"): it
    names no person, has no anger or complaint in it, needs no record, and the
    KB answers it well."""
    text = norm.text
    if (
        Dialogue(session).in_gate
        or _ASKS_FOR_PERSON_RE.search(text)
        or escalation.anger_score(text)
        or _COMPLAINT_RE.search(text)
        or not _QUESTION_RE.search(text)
        or needs_records(norm)
    ):
        return None
    return _general_match(session, norm)


def _close_call_passage(session: SessionState, result: IntentResult, norm: Normalised) -> Passage | None:
    """A KB passage when the classifier hesitates and the message needs no personal record.

    "What is the minimum monthly pension now?" splits between
    information_request and payment_inquiry; a knowledge-base passage that
    answers it well (the KB's own verdict) answers it better than a clarifying
    question: the issue's rule is to clarify only when the top two intents are
    close *and* no passage answers well.
    """
    if Dialogue(session).in_gate or needs_records(norm):
        return None
    passage = _general_match(session, norm)
    if passage is None and _knowledge_intent_in_top_two(result):
        # "how do you decide how much I get?" between payment_inquiry and
        # claim_submission: answered as the knowledge intent would be.
        passage = _in_scope_passage(session, norm)
    return passage


def _knowledge_intent_in_top_two(result: IntentResult) -> bool:
    top_two = [result.intent] + [name for name, _ in result.alternatives[:1]]
    return any(name in KB_INTENTS and name != "out_of_scope" for name in top_two)


def _general_match(session: SessionState, norm: Normalised) -> Passage | None:
    """The passage answering a message that needs no record, by the KB's own verdict;
    stricter when the message says "my"/"our" (see :func:`_personal_match_ok`)."""
    personal = _says_my_or_we(norm.text)
    if personal and not _QUESTION_RE.search(norm.text):
        return None  # "my thing from before": about their own affairs, not a rule
    found = knowledge.match(norm.text, language=session.language)
    if found.passage is None or not found.answers_well:
        return None
    if (personal or norm.language != "en" or not _QUESTION_RE.search(norm.text)) and not _clear_match(found):
        return None  # the KB's lower lines are for plain English questions, not statements about one's case
    if personal and not _personal_match_ok(norm, found):
        return None
    return found.passage


def _clear_match(found: knowledge.Match) -> bool:
    """The KB's verdict before its lower lines (one strong topic word at 0.40, three
    weak ones at 0.20): a score of 0.45, or 0.30 on two topic words."""
    return found.score >= knowledge.NO_ANSWER_THRESHOLD or (
        found.score >= knowledge.TOPIC_MATCH_THRESHOLD and found.topic_words >= 2
    )


def _says_my_or_we(text: str) -> bool:
    return bool(_PERSONAL_RE.search(text) or _FIRST_PERSON_RE.search(text))


def _personal_match_ok(norm: Normalised, found: knowledge.Match) -> bool:
    """A question with "my"/"we" is general when its passage scores a clear match or
    matches two or more of the article's topic words; with a local-language
    possessive, a strong score on two topic words."""
    if _LOCAL_POSSESSIVE_RE.search(norm.text):
        return (
            found.topic_words >= PERSONAL_KB_MIN_TOPIC_WORDS and found.score >= LOCAL_POSSESSIVE_KB_MIN_SCORE
        )
    return found.topic_words >= PERSONAL_KB_MIN_TOPIC_WORDS or found.score >= PERSONAL_KB_MIN_SCORE


def _general_passage(session: SessionState, intent: str, norm: Normalised) -> Passage | None:
    """A KB passage for a general question under a personal intent, before any verification.

    "When are assessments due?" or "When is our annual assessment due?" classify
    as employer_contributions, which needs a verified person. Asking for an NRC
    to tell someone a public fact is wrong, so a question that needs nobody's
    records (no NRC, claim or phone number, nothing about the state of their
    own case: see :func:`needs_records`) and that the knowledge base answers
    well is answered from it, "my" and "we" or not. Anything personal still goes
    through the gate.
    """
    if Dialogue(session).in_gate or not intents.intent_config(intent).requires_auth:
        return None
    if needs_records(norm) or (session.is_verified and not _QUESTION_RE.search(norm.text)):
        return None
    if session.is_verified and asked(norm.text) is not Asked.OVERVIEW:
        # A verified person asking which documents remain, why a claim was refused
        # or when money comes ("Fipepala nshi fyashalamo?", "Ndalama shinga
        # napokelele umuku wapwililikisho?") asks about their own records, even
        # without "my": the KB's general passage on documents answers another question.
        return None
    passage = _general_match(session, norm)
    if passage is not None:
        return passage
    if _says_my_or_we(norm.text) or not _general_question(norm.text):
        return None
    # Phrased as a question about the rules, not the person's position: a decent
    # match answers it better than asking for an NRC.
    found = knowledge.search(norm.text, language=session.language, top_k=1)
    if not found or found[0].score < GENERAL_QUESTION_KB_MIN_SCORE:
        return None
    return found[0]


# "Why do you need a code / my NRC?": a question about how the assistant checks
# identity (its article answers it), not about the person's records.
_WHY_VERIFY_RE = re.compile(
    r"\bwhy\b[^.?!]{0,60}\b(codes?|otp|pin|nrc|verif\w*|identity|identify|prove|so\s+many\s+questions)\b",
    re.I,
)

# "Why is our assessment rate higher than ...": rates are set by industry class.
_WHY_RATE_RE = re.compile(
    r"\bwhy\s+(is|are|was|were)\s+(my|our)\s+(assessment\s+|contribution\s+)?rates?\b", re.I
)


def needs_records(norm: Normalised) -> bool:
    """Whether answering needs the person's own records: an NRC, claim, phone or
    employer number; a question about their records' state ("where is my payment",
    "is my claim approved", "how much do we owe", "claim yandi ili kuti");
    a local-language "my ..." that is no question; or "I"/"we" with an
    account's position. "my"/"our" alone do not: "what documents do I need for
    my claim?" is a question about the rules (and a local-language one is
    answered from the KB only on a strong match: :func:`_personal_match_ok`)."""
    if norm.nrcs or norm.claim_numbers or norm.phones or norm.otp_code:
        return True
    text = norm.text
    if (_WHY_VERIFY_RE.search(text) or _WHY_RATE_RE.search(text)) and asked(text) is Asked.OVERVIEW:
        return False
    if (
        _EMPLOYER_NUMBER_RE.search(text)
        or _RECORD_STATE_RE.search(text)
        or _LOCAL_RECORD_STATE_RE.search(text)
    ):
        return True
    if _LOCAL_POSSESSIVE_RE.search(text) and not _QUESTION_RE.search(text):
        return True
    personal = _FIRST_PERSON_RE.search(text) or _PERSONAL_RE.search(text) or _LOCAL_POSSESSIVE_RE.search(text)
    if personal and (_HAPPENED_RE.search(text) or asked(text) is not Asked.OVERVIEW):
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
