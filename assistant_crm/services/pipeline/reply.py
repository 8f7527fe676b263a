"""The reply pipeline: one inbound message in, one reply out (DESIGN.md, "The reply pipeline").

Stages, in order, each timed in milliseconds into both Chat History rows'
``stage_timings``: normalise → context → intent → auth gate → live data →
compose → format → store → deliver (outbox, non-web channels) → metrics.

The person's message is stored in the context stage, before anything that can
fail; if a later stage fails the person gets an apology and the message is
still there for an agent. A session a human agent holds gets no bot reply.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from assistant_crm.services.dialogue import escalation
from assistant_crm.services.infra import metrics
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import (
    ComposeRequest,
    InboundMessage,
    IntentResult,
    OutboundMessage,
    Passage,
    Reply,
    SessionState,
)
from assistant_crm.services.pipeline import context
from assistant_crm.services.pipeline.normalise import Normalised, normalise

log = logging.getLogger("assistant_crm.reply")

# Intents whose answer is a knowledge-base passage.
KB_INTENTS = (
    "information_request",
    "claim_submission",
    "employer_registration",
    "service_request",
    "out_of_scope",
)
# Labels for the quick replies of a clarifying question (the person taps one).
INTENT_LABELS = {
    "claim_submission": "Report an accident",
    "claim_status": "Check my claim",
    "payment_inquiry": "My payments",
    "employer_contributions": "Employer assessments",
    "employer_registration": "Employer registration",
    "document_status": "My documents",
    "information_request": "Ask a question",
    "service_request": "Update my details",
    "escalation": "Talk to an agent",
    "greeting": "Hello",
    "goodbye": "Goodbye",
}
# An out_of_scope message answered from the knowledge base needs a clearly
# relevant passage, or small talk would get a random article.
OUT_OF_SCOPE_KB_MIN_SCORE = 0.6
SMS_MAX_CHARS = 459  # three GSM segments
GATE_QUESTIONS = ("verify_identity", "otp", "claim_choice")
# A general question under a personal intent is answered from the KB only with
# a clear match (see _general_answer; the KB's own "no answer" line is 0.38).
GENERAL_KB_MIN_SCORE = 0.45
# A hesitant classification is answered from the KB only with a strong match.
CLOSE_CALL_KB_MIN_SCORE = 0.75
# Words that make a message about the person's own records (English, Bemba, Nyanja).
_PERSONAL_RE = re.compile(
    r"\b(my|mine|our|ours|me|myself|status|yandi|yesu|wandi|changa|yanga|wanga|zanga|langa|anga)\b", re.I
)
# A general question (no I/we, nothing about an account's position, phrased as a
# question) is answered from the KB's best passage from this score: the KB's own
# topic-match line. "Up to what monthly wage are employer assessments calculated?"
GENERAL_QUESTION_KB_MIN_SCORE = 0.3
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
_FALLBACK_APOLOGY = (
    "Sorry, something went wrong on our side while answering. Please try again in a moment, "
    'or type "agent" to talk to a person.'
)


@dataclass
class StageTimer:
    """Milliseconds spent in each stage of one turn."""

    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000, 3)

    def total_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def as_dict(self) -> dict[str, float]:
        out = dict(self.timings)
        out["total"] = round(self.total_ms(), 3)
        return out


@dataclass
class Draft:
    """The answer being built during one turn."""

    text: str = ""
    quick_replies: list[str] = field(default_factory=list)
    intent: str = ""
    confidence: float = 0.0
    source: str = "template"  # template | kb | live | gemini | cache | gate | escalation
    handoff: bool = False
    low_confidence: bool = False
    personal: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    passages: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ helpers


def _render(key: str, session: SessionState, channel: str, data: dict[str, Any] | None = None):
    from assistant_crm.services.pipeline import templates

    return templates.render(key, language=session.language, channel=channel, data=data or {})


def first_name(session: SessionState) -> str:
    """The verified person's first name ("" before verification)."""
    if not session.is_verified:
        return ""
    auth = session.context.get("auth") or {}
    full = auth.get("full_name") or auth.get("name") or session.display_name or ""
    return full.split()[0].title() if full.strip() else ""


def _template_data(session: SessionState, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rt = get_runtime()
    data = {
        "name": first_name(session),
        "first_name": first_name(session),
        "assistant_name": rt.settings.str("assistant_name"),
    }
    if extra:
        data.update(extra)
    return data


def _pick_option(session: SessionState, text: str) -> str | None:
    """The intent behind a tapped quick reply (or its number, on SMS) of a clarifying question."""
    options = session.context.get("options") or []
    if not options or session.context.get("pending") != "clarify":
        return None
    wanted = text.strip().lower().rstrip(".")
    for i, (label, intent) in enumerate(options, start=1):
        if wanted == label.lower() or wanted == str(i):
            return intent
    return None


def _expand_numbered_choice(session: SessionState, norm: Normalised) -> Normalised:
    """On SMS (and by habit elsewhere) people answer "2" for the second option
    offered; read it as that option's label. Not while the gate waits for an
    answer of its own (a claim choice, a code)."""
    labels = session.context.get("last_quick_replies") or []
    text = norm.text.strip().rstrip(".)")
    if not labels or not text.isdigit() or session.context.get("pending") in GATE_QUESTIONS:
        return norm
    index = int(text)
    if not 1 <= index <= len(labels):
        return norm
    if session.context.get("pending") == "clarify":
        return norm  # _pick_option maps the number straight to the intent
    return replace(norm, text=str(labels[index - 1]))


# ---------------------------------------------------------------- the stages


def _classify(session: SessionState, norm: Normalised) -> tuple[IntentResult, bool]:
    """The intent of the message and whether the classifier is confident of it."""
    from assistant_crm.services.pipeline import intents

    picked = _pick_option(session, norm.text)
    if picked:
        return IntentResult(intent=picked, confidence=1.0, source="context"), True
    result = intents.classify(norm.text, pending=session.context.get("pending"))
    return result, bool(intents.is_confident(result))


def _clarify(session: SessionState, result: IntentResult, channel: str) -> Draft:
    ranked = [result.intent] + [name for name, _ in result.alternatives]
    options: list[tuple[str, str]] = []
    for name in ranked:
        label = INTENT_LABELS.get(name)
        if label and name not in ("greeting", "goodbye", "escalation") and all(o[1] != name for o in options):
            options.append((label, name))
        if len(options) == 3:
            break
    options.append((INTENT_LABELS["escalation"], "escalation"))
    session.context["pending"] = "clarify"
    session.context["options"] = options
    rendered = _render("clarify", session, channel, _template_data(session))
    return Draft(
        text=rendered.text,
        quick_replies=[label for label, _ in options],
        intent=result.intent,
        confidence=result.confidence,
        low_confidence=True,
    )


def _kb_answer(session: SessionState, intent: str, norm: Normalised, channel: str) -> Draft:
    """A knowledge-base passage as the answer, with its source title.

    Without a good passage: ``no_answer`` for a question, the intent's own
    template for the other KB intents (it carries the essential facts).
    """
    from assistant_crm.services.pipeline import knowledge

    passage = knowledge.best(norm.text, language=session.language)
    if passage is not None and intent == "out_of_scope" and passage.score < OUT_OF_SCOPE_KB_MIN_SCORE:
        passage = None
    if passage is None:
        key = "no_answer" if intent == "information_request" else intent
        rendered = _render(key, session, channel, _template_data(session))
        return Draft(text=rendered.text, quick_replies=list(rendered.quick_replies), source="template")
    return _passage_draft(session, intent, passage, channel)


def _passage_draft(session: SessionState, intent: str, passage: Passage, channel: str) -> Draft:
    title = passage.title or passage.source
    text = passage.text.strip()
    if title:
        text = f"{text}\n\n(Source: {title})"
    if intent == "information_request":
        # The template is "{answer}" by default; the desk may wrap it.
        text = _render(
            intent, session, channel, _template_data(session, {"answer": text, "source": title})
        ).text
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


def _close_call_question(
    session: SessionState, result: IntentResult, norm: Normalised, channel: str
) -> Draft | None:
    """A KB answer when the classifier hesitates between a question and something else.

    "What is the minimum monthly pension now?" splits between
    information_request and payment_inquiry; a strong knowledge-base match on a
    message naming nobody's records answers it better than a clarifying
    question. Only when information_request is one of the two best guesses.
    """
    from assistant_crm.services.pipeline import knowledge

    top_two = [result.intent] + [name for name, _ in result.alternatives[:1]]
    if "information_request" not in top_two or session.context.get("pending") in GATE_QUESTIONS:
        return None
    if norm.nrcs or norm.claim_numbers or norm.phones or norm.otp_code or _PERSONAL_RE.search(norm.text):
        return None
    passage = knowledge.best(norm.text, language=session.language)
    if passage is None or passage.score < CLOSE_CALL_KB_MIN_SCORE:
        return None
    draft = _passage_draft(session, "information_request", passage, channel)
    draft.intent, draft.confidence = "information_request", result.confidence
    draft.metadata["close_call"] = [result.intent] + [n for n, _ in result.alternatives[:1]]
    return draft


def _general_answer(session: SessionState, intent: str, norm: Normalised, channel: str) -> Draft | None:
    """A KB answer for a general question under a personal intent, before any verification.

    "When are assessments due?" or "Documents needed" classify as
    employer_contributions / document_status, which need a verified person.
    Asking for an NRC to tell someone a public fact is wrong, so a message that
    names nobody's records (no "my"/"our", no NRC, claim or phone number) and
    has a clear knowledge-base match is answered from the KB. Anything
    personal still goes through the gate.
    """
    from assistant_crm.services.pipeline import intents, knowledge

    if session.is_verified or session.context.get("pending") in GATE_QUESTIONS:
        return None
    if not intents.intent_config(intent).requires_auth:
        return None
    if _names_own_records(norm):
        return None
    passage = knowledge.best(norm.text, language=session.language)
    if passage is not None and passage.score >= GENERAL_KB_MIN_SCORE:
        return _passage_draft(session, "information_request", passage, channel)
    if not _general_question(norm.text):
        return None
    # Phrased as a question about the rules, not the person's position: a decent
    # match answers it better than asking for an NRC.
    found = knowledge.search(norm.text, language=session.language, top_k=1)
    if not found or found[0].score < GENERAL_QUESTION_KB_MIN_SCORE:
        return None
    return _passage_draft(session, "information_request", found[0], channel)


def _names_own_records(norm: Normalised) -> bool:
    """Whether a message is about the person's own records: an NRC, claim, phone or
    employer number, "my"/"our", or "I"/"we" with an account's position ("how much do we owe")."""
    if norm.nrcs or norm.claim_numbers or norm.phones or norm.otp_code:
        return True
    text = norm.text
    if _EMPLOYER_NUMBER_RE.search(text) or _PERSONAL_RE.search(text):
        return True
    return bool(_FIRST_PERSON_RE.search(text) and _ACCOUNT_RE.search(text))


def _general_question(text: str) -> bool:
    """A question about how things are ("When does the assessment year start?"), not
    about the asker ("I", "we") or an account's position (balance, arrears)."""
    return bool(
        _GENERAL_QUESTION_RE.search(text)
        and not _FIRST_PERSON_RE.search(text)
        and not _ACCOUNT_RE.search(text)
    )


def _answers_gate_question(session: SessionState, result: IntentResult, norm: Normalised) -> bool:
    """Whether the message answers the gate's open question (NRC and name, a code)
    without asking for a person in so many words."""
    return (
        result.source == "context"
        and session.context.get("pending") in ("verify_identity", "otp")
        and bool(session.locked_intent)
        and not _ASKS_FOR_PERSON_RE.search(norm.text)
    )


def _answer(session: SessionState, msg: InboundMessage, intent: str, norm: Normalised, channel: str) -> Draft:
    """The template/KB/live-data answer for a confident, permitted intent."""
    from assistant_crm.services.pipeline import intents

    if intent in KB_INTENTS:
        return _kb_answer(session, intent, norm, channel)
    config = intents.intent_config(intent)
    if config.needs_live_data and session.is_verified:
        from assistant_crm.services.integrations import live_data

        live = live_data.answer(session, intent, msg)
        return Draft(
            text=live.text,
            quick_replies=list(live.quick_replies),
            source="live" if live.ok else "template",
            personal=True,
            facts=dict(live.facts),
        )
    rendered = _render(intent, session, channel, _template_data(session))
    text = rendered.text
    if intent == "greeting":
        text = _greet_by_name(text, first_name(session))
    return Draft(text=text, quick_replies=list(rendered.quick_replies), source="template")


def _greet_by_name(text: str, name: str) -> str:
    """Put the verified person's first name into a greeting that lacks it ("Hello Mary! ...")."""
    if not name or name.lower() in text.lower():
        return text
    m = re.match(r"^(\w+(?: \w+)?)([!,.])", text)
    if m and len(m.group(1)) <= 20:
        return f"{m.group(1)} {name}{m.group(2)}{text[m.end() :]}"
    return f"{name}, {text}"


def _compose_with_gemini(session: SessionState, norm: Normalised, draft: Draft) -> Draft:
    rt = get_runtime()
    if not rt.settings.is_set("gemini_api_key") or not draft.text:
        return draft
    if draft.source not in ("kb", "live", "template"):
        return draft
    from assistant_crm.services.pipeline import gemini

    # The current message is not stored yet: history is the turns before it.
    past = context.gemini_history(session, limit=6)
    req = ComposeRequest(
        user_message=mask_text(norm.text),
        intent=draft.intent,
        language=session.language,
        fallback=draft.text,
        passages=list(draft.passages),
        facts=dict(draft.facts),
        history=past,
        personal=draft.personal or session.is_verified,
        person_name=first_name(session),
    )
    result = gemini.compose(req)
    if result.text and result.text.strip():
        draft.text = result.text.strip()
        draft.source = result.source if result.source != "template" else draft.source
    if result.error:
        draft.metadata["compose_error"] = result.error[:200]
    return draft


def format_for_channel(text: str, quick_replies: list[str], channel: str) -> tuple[str, list[str]]:
    """Shape the answer for the channel: quick replies stay buttons on web and the
    messaging apps; on SMS they become numbered options in the text and the
    whole message is kept to three segments."""
    text = (text or "").strip()
    if channel != "sms":
        return text, list(quick_replies)
    text = re.sub(r"[*_`]{1,2}([^*_`]+)[*_`]{1,2}", r"\1", text)  # no markup on SMS
    options = "".join(f"\n{i}. {label}" for i, label in enumerate(quick_replies, start=1))
    budget = SMS_MAX_CHARS - len(options)
    if len(text) > budget:
        cut = text[: budget - 1]
        sentence_end = max(cut.rfind(". "), cut.rfind("\n"))
        text = (cut[: sentence_end + 1] if sentence_end > budget // 2 else cut.rstrip()) + "…"
    return text + options, []


# ------------------------------------------------------------- the pipeline


def handle_message(msg: InboundMessage) -> Reply:
    """Answer one inbound message: the whole pipeline (see the module doc).

    For channels other than web the reply is also queued for delivery with
    ``outbox.enqueue_outbound``. Returns ``Reply(suppressed=True)`` (empty
    text) when a human agent holds the session.
    """
    timer = StageTimer()
    channel = msg.channel or "web"
    received_at = get_runtime().clock.now()

    with timer.stage("normalise"):
        norm = normalise(msg.text)

    with timer.stage("context"):
        session = context.load_session(msg)
        context.update_language(session, norm.language, norm.text)
        context.update_slots(session, norm.nrcs, norm.claim_numbers, norm.phones)
    in_attachments = [a.__dict__ for a in msg.attachments] if msg.attachments else None

    if session.status in context.HELD_STATUSES:
        return _held(session, msg, norm, in_attachments, received_at, timer, channel)

    try:
        draft = _run_stages(session, msg, _expand_numbered_choice(session, norm), timer, channel)
    except Exception:
        # The person's message is still stored below, with the apology.
        log.exception("pipeline failed for session %s; apologising", session.name)
        draft = Draft(text=_FALLBACK_APOLOGY, source="error", intent="", confidence=0.0)

    with timer.stage("format"):
        text, quick_replies = format_for_channel(draft.text, draft.quick_replies, channel)

    session.context["last_quick_replies"] = list(draft.quick_replies)[:10]
    with timer.stage("store"):
        # The message, the reply and the session in one transaction: one commit
        # per turn. The message keeps the time it arrived, so it sorts first.
        # (Channel messages are already durable in the inbox before this turn.)
        timings_so_far = timer.as_dict()
        with _transaction():
            context.append_history(
                session,
                "in",
                "user",
                norm.text,
                intent=draft.intent or None,
                confidence=draft.confidence,
                stage_timings=timings_so_far,
                attachments=in_attachments,
                channel_message_id=msg.platform_message_id or None,
                created=received_at,
            )
            out_name = context.append_history(
                session,
                "out",
                "bot",
                text,
                intent=draft.intent,
                confidence=draft.confidence,
                stage_timings=timings_so_far,
                quick_replies=quick_replies or None,
            )
            context.save_session(session)

    outbox_name = ""
    if channel != "web":
        with timer.stage("deliver"):
            outbox_name = _deliver(session, msg, text, quick_replies)

    timings = timer.as_dict()
    metrics.record_turn(
        channel,
        draft.intent,
        timings["total"],
        handoff=draft.handoff,
        low_confidence=draft.low_confidence,
    )
    metadata = {
        "language": session.language,
        "source": draft.source,
        "status": session.status,
        "message_id": out_name,
        "stage_timings": timings,
        **draft.metadata,
    }
    if outbox_name:
        metadata["outbox"] = outbox_name
    return Reply(
        text=text,
        session_id=context.public_id(session),
        intent=draft.intent,
        confidence=draft.confidence,
        quick_replies=quick_replies,
        handoff=draft.handoff,
        metadata=metadata,
    )


def _run_stages(
    session: SessionState, msg: InboundMessage, norm: Normalised, timer: StageTimer, channel: str
) -> Draft:
    """Intent → escalation check → auth gate → live data/KB → compose."""
    from assistant_crm.services.dialogue import verification

    if verification.LOGOUT_RE.match(norm.text):
        with timer.stage("intent"):
            verification.logout(session)
            session.context.pop("pending", None)
            rendered = _render("logout", session, channel, _template_data(session))
        return Draft(
            text=rendered.text,
            quick_replies=list(rendered.quick_replies),
            intent="service_request",
            confidence=1.0,
        )

    with timer.stage("intent"):
        result, confident = _classify(session, norm)
        if session.context.get("pending") in GATE_QUESTIONS:
            # An answer to the gate's own question (NRC and name, a code, a
            # claim choice) goes to the gate however the classifier scored it.
            confident = True
        if confident:
            session.context["low_confidence_streak"] = 0
            if session.context.get("pending") == "clarify":
                session.context.pop("pending", None)
            session.context.pop("options", None)
        else:
            session.context["low_confidence_streak"] = (
                int(session.context.get("low_confidence_streak") or 0) + 1
            )
        if result.intent == "escalation" and _answers_gate_question(session, result, norm):
            # "Hello, I am Thandiwe Nakamba. NRC 438190/11/1. Please help me" answers
            # the NRC question; "help me" is no request for a person. The gate gets it.
            result = replace(result, intent=str(session.locked_intent))
        reason = escalation.reason_to_escalate(
            result.intent if confident else "",
            norm.text,
            int(session.context.get("low_confidence_streak") or 0),
        )
    if reason:
        with timer.stage("escalate"):
            rendered = escalation.escalate(session, reason, channel=channel)
        return Draft(
            text=rendered.text,
            quick_replies=list(rendered.quick_replies),
            intent="escalation" if reason == "asked" else result.intent,
            confidence=result.confidence,
            source="escalation",
            handoff=True,
            low_confidence=not confident,
            metadata={"escalation_reason": reason},
        )
    if not confident:
        with timer.stage("intent"):
            rescued = _close_call_question(session, result, norm, channel)
            if rescued is None:
                return _clarify(session, result, channel)
        session.context["low_confidence_streak"] = 0
        with timer.stage("compose"):
            return _compose_with_gemini(session, norm, rescued)

    with timer.stage("auth"):
        general = _general_answer(session, result.intent, norm, channel)
        gate = verification.gate(session, msg, result) if general is None else None
    if general is not None:
        general.intent, general.confidence = result.intent, result.confidence
        with timer.stage("compose"):
            return _compose_with_gemini(session, norm, general)
    assert gate is not None
    if gate.action == "reply":
        return Draft(
            text=gate.text,
            quick_replies=list(gate.quick_replies),
            intent=gate.intent or result.intent,
            confidence=result.confidence,
            source="gate",
        )
    intent = gate.intent or result.intent

    with timer.stage("live_data"):
        draft = _answer(session, msg, intent, norm, channel)
    draft.intent = intent
    draft.confidence = result.confidence if intent == result.intent else 1.0
    with timer.stage("compose"):
        draft = _compose_with_gemini(session, norm, draft)
    return draft


def _held(
    session: SessionState,
    msg: InboundMessage,
    norm: Normalised,
    in_attachments: list[dict[str, Any]] | None,
    received_at: Any,
    timer: StageTimer,
    channel: str,
) -> Reply:
    """A human agent holds the session: keep the message, say nothing."""
    with timer.stage("store"), _transaction():
        in_name = context.append_history(
            session,
            "in",
            "user",
            norm.text,
            stage_timings=timer.as_dict(),
            attachments=in_attachments,
            channel_message_id=msg.platform_message_id or None,
            created=received_at,
        )
        context.save_session(session)
    timings = timer.as_dict()
    metrics.record_turn(channel, "", timings["total"], suppressed=True)
    _notify_agents(session, in_name)
    return Reply(
        text="",
        session_id=context.public_id(session),
        intent="",
        confidence=0.0,
        handoff=True,
        suppressed=True,
        metadata={
            "status": session.status,
            "suppressed": True,
            "message_id": in_name,
            "stage_timings": timings,
        },
    )


def _notify_agents(session: SessionState, message_name: str) -> None:
    """Tell the desk a held conversation has a new message (Frappe realtime, when present)."""
    publish = get_runtime().extras.get("publish_realtime")
    if callable(publish):
        try:
            publish("assistant_crm_agent_message", {"session": session.name, "message": message_name})
        except Exception:
            log.exception("realtime notify failed for %s", session.name)


def _deliver(session: SessionState, msg: InboundMessage, text: str, quick_replies: list[str]) -> str:
    from assistant_crm.services.delivery import outbox

    recipient = session.platform_sender_id or msg.sender_id
    try:
        return outbox.enqueue_outbound(
            OutboundMessage(
                channel=session.channel,
                recipient_id=recipient,
                text=text,
                session_id=session.name,
                quick_replies=list(quick_replies),
                reply_to=msg.platform_message_id or None,
                recipient_phone=session.phone,
            )
        )
    except Exception:
        # The reply is in Chat History; an agent can resend it. Never lose the turn.
        log.exception("could not queue the reply for session %s", session.name)
        return ""


def _transaction():
    """One store transaction when the runtime's store offers it (standalone SQL
    store); under Frappe the request is already one transaction."""
    tx = getattr(get_runtime().store, "transaction", None)
    return tx() if callable(tx) else contextlib.nullcontext()
