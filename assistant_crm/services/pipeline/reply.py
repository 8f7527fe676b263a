"""The reply pipeline: one inbound message in, one reply out (DESIGN.md, "The reply pipeline").

Stages, in order, each timed (ms) into both Chat History rows' ``stage_timings``:
normalise → context → intent → (escalate) → auth gate → live data → compose →
format → store → deliver (outbox, non-web channels) → metrics. What answers is
decided in ``dialogue/policy.py`` (its rule's name goes into the metadata as
``policy``), the words in ``dialogue/answers.py`` and
``dialogue/live_answers.py``, verification in ``dialogue/gate.py``.

The person's message is stored in the context stage, before anything that can
fail; if a later stage fails the person gets an apology and the message is
still there for an agent. A session a human agent holds gets no bot reply.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from assistant_crm.services.delivery import outbox
from assistant_crm.services.dialogue import (
    answers,
    csat,
    gate,
    handoff,
    live_answers,
    outreach,
    policy,
    uploads,
    web_session,
)
from assistant_crm.services.dialogue.answers import Draft
from assistant_crm.services.dialogue.policy import Decision, Source
from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.infra import metrics
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import ComposeRequest, InboundMessage, OutboundMessage, Reply, SessionState
from assistant_crm.services.pipeline import context, gemini, templates
from assistant_crm.services.pipeline.channel_format import format_for_channel
from assistant_crm.services.pipeline.normalise import Normalised, normalise
from assistant_crm.services.pipeline.stage_timer import StageTimer

log = logging.getLogger("assistant_crm.reply")


def handle_message(msg: InboundMessage) -> Reply:
    """Answer one inbound message: the whole pipeline (see the module doc).

    For channels other than web the reply is also queued for delivery with
    ``outbox.enqueue_outbound``. Returns ``Reply(suppressed=True)`` (empty
    text) when a human agent holds the session.
    """
    timer = StageTimer()
    channel = msg.channel or "web"
    received_at = get_runtime().clock.now()
    if (rated := csat.intercept(msg)) is not None:  # a rating of the last conversation
        return rated
    with timer.stage("normalise"):
        norm = normalise(msg.text)
    with timer.stage("context"):
        session = context.load_session(msg)
        if (label := policy.tapped_label(session, norm.text)) != norm.text:
            norm, msg = normalise(label), replace(msg, text=label)
        if not policy.is_offered_label(session, norm.text):
            # A button the assistant offered is in the conversation's language already,
            # whatever the word lists make of it ("Bwererani kwa wothandiza" has Lozi's "kwa").
            context.update_language(session, norm.language, norm.text)
        context.update_slots(session, norm.nrcs, norm.claim_numbers, norm.phones)
    attachments = [dict(a.__dict__) for a in msg.attachments] if msg.attachments else None
    incoming = {"attachments": attachments, "channel_message_id": msg.platform_message_id or None}
    if session.status in context.HELD_STATUSES:  # quiet, but for the hand-off's own notes
        said = handoff.answer_while_waiting(session, msg, norm.text, received_at)
        return said or _held(session, norm, incoming, received_at, timer, channel)
    try:
        asked = replace(norm, text=policy.numbered_choice(session, norm.text))
        draft = _run_stages(session, msg, asked, timer, channel) if norm.text or not attachments else None
        if attachments:  # "Thank you, I have received ..." (and linked to an open claim)
            draft = uploads.acknowledge(session, attachments, then=draft)
    except Exception:
        # The person's message is still stored below, with the apology.
        log.exception("pipeline failed for session %s; apologising", session.name)
        draft = answers.template_answer(session, "fallback")
        draft.source = "error"
    csat.after_turn(session, draft, channel)  # a goodbye that ends a resolved conversation asks for a rating
    with timer.stage("format"):
        text, quick_replies = format_for_channel(draft.text, draft.quick_replies, channel)
    Dialogue(session).offered(draft.quick_replies)
    # Web: bind a new verification to this browser, or rotate its cookie when due
    # (saved with the session below, in the same transaction).
    cookie = web_session.settle(session, msg.web_cookie, get_runtime().clock.now())
    with timer.stage("store"):
        # The message, the reply and the session in one transaction: one commit
        # per turn. The message keeps the time it arrived, so it sorts first.
        so_far = timer.as_dict()
        intent, confidence = draft.intent, draft.confidence
        with _transaction():
            context.append_history(
                session, "in", "user", norm.text, intent=intent or None, confidence=confidence,
                stage_timings=so_far, created=received_at, **incoming,
            )  # fmt: skip
            out_name = context.append_history(
                session, "out", "bot", text, intent=intent, confidence=confidence,
                stage_timings=so_far, quick_replies=quick_replies or None,
            )  # fmt: skip
            context.save_session(session)
    outbox_name = ""
    if channel != "web":
        with timer.stage("deliver"):
            outbox_name = _deliver(session, msg, text, quick_replies)
    timings = timer.as_dict()
    metrics.record_turn(
        channel, intent, timings["total"], handoff=draft.handoff, low_confidence=draft.low_confidence
    )
    metadata = {"language": session.language, "source": draft.source, "status": session.status}
    metadata.update(message_id=out_name, stage_timings=timings, **draft.metadata)
    if outbox_name:
        metadata["outbox"] = outbox_name
    return Reply(
        text=text,
        session_id=context.public_id(session),
        intent=intent,
        confidence=confidence,
        quick_replies=quick_replies,
        handoff=draft.handoff,
        metadata=metadata,
        cookie=cookie,
    )


def _run_stages(
    session: SessionState, msg: InboundMessage, norm: Normalised, timer: StageTimer, channel: str
) -> Draft:
    """Intent → policy (hand-off, clarification, general KB answer) → gate → answer → compose."""
    with timer.stage("intent"):
        signed_out = gate.logout_if_asked(session, norm.text)
        if signed_out is not None:
            return Draft(signed_out.text, list(signed_out.quick_replies), "service_request", 1.0)
        quota = gate.code_quota_if_asked(session, norm.text)
        if quota is not None:
            intent = quota.intent or "service_request"
            return Draft(quota.text, list(quota.quick_replies), intent, 1.0, "gate")
        result, confident = policy.classify(session, norm)
        decision = policy.before_gate(session, result, confident, norm)
    if decision.source is Source.PERSON:
        with timer.stage("escalate"):
            draft = answers.hand_off(session, decision, result.confidence, low_confidence=not confident)
        return draft
    if decision.source is Source.CLARIFY:
        return answers.clarify(session, result, decision.rule.name)
    if decision.source is Source.KNOWLEDGE:
        draft = answers.knowledge(session, "information_request", decision.passage)
        draft.intent, draft.confidence = decision.intent, result.confidence
        draft.metadata["policy"] = decision.rule.name
        if decision.rule is policy.CLOSE_CALL:
            draft.metadata["close_call"] = [result.intent] + [n for n, _ in result.alternatives[:1]]
        with timer.stage("compose"):
            return _compose_with_gemini(session, norm, draft)
    with timer.stage("auth"):
        passed = gate.check(session, msg, result)
    intent = passed.intent or result.intent
    if passed.action == "reply":
        metadata = {"policy": decision.rule.name}
        return Draft(
            passed.text, list(passed.quick_replies), intent, result.confidence, "gate", metadata=metadata
        )
    with timer.stage("live_data"):
        decision = policy.after_gate(session, intent, norm, result)
        draft = _answer(session, msg, decision, passed.question)
    draft.intent, draft.metadata["policy"] = intent, decision.rule.name
    draft.confidence = result.confidence if intent == result.intent else 1.0
    with timer.stage("compose"):
        return _compose_with_gemini(session, norm, draft)


def _answer(session: SessionState, msg: InboundMessage, decision: Decision, question: str) -> Draft:
    """The knowledge, live-data or template answer the policy chose."""
    if decision.source is Source.KNOWLEDGE:
        return answers.knowledge(session, decision.intent, decision.passage)
    if decision.source is Source.LIVE:
        live = live_answers.live(session, decision.intent, msg, question)
        source = "live" if live.ok else "template"
        return Draft(
            live.text, list(live.quick_replies), source=source, personal=True, facts=dict(live.facts)
        )
    return answers.template_answer(session, decision.intent)


def _compose_with_gemini(session: SessionState, norm: Normalised, draft: Draft) -> Draft:
    """Gemini rewrites a grounded answer when configured; the draft is the fallback."""
    if not get_runtime().settings.is_set("gemini_api_key") or not draft.text:
        return draft
    if draft.source not in ("kb", "live", "template"):
        return draft
    result = gemini.compose(
        ComposeRequest(
            user_message=mask_text(norm.text),
            intent=draft.intent,
            language=session.language,
            fallback=draft.text,
            passages=list(draft.passages),
            facts=dict(draft.facts),
            history=context.gemini_history(session, limit=6),  # the turns before this one
            personal=draft.personal or session.is_verified,
            person_name=answers.first_name(session),
        )
    )
    if result.text and result.text.strip():
        draft.text = result.text.strip()
        draft.source = result.source if result.source != "template" else draft.source
    if result.error:
        draft.metadata["compose_error"] = result.error[:200]
    return draft


def _held(
    session: SessionState,
    norm: Normalised,
    incoming: dict[str, Any],
    received_at: datetime,
    timer: StageTimer,
    channel: str,
) -> Reply:
    """A human agent holds the session: keep the message, say nothing, tell the desk."""
    with timer.stage("store"), _transaction():
        in_name = context.append_history(
            session, "in", "user", norm.text, stage_timings=timer.as_dict(), created=received_at, **incoming
        )
        context.save_session(session)
    timings = timer.as_dict()
    metrics.record_turn(channel, "", timings["total"], suppressed=True)
    outreach.notify_staff(session, in_name)
    metadata = {"status": session.status, "suppressed": True, "message_id": in_name, "stage_timings": timings}
    return Reply(
        text="",
        session_id=context.public_id(session),
        intent="",
        confidence=0.0,
        handoff=True,
        suppressed=True,
        metadata=metadata,
    )


def _deliver(session: SessionState, msg: InboundMessage, text: str, quick_replies: list[str]) -> str:
    try:
        return outbox.enqueue_outbound(
            OutboundMessage(
                channel=session.channel,
                recipient_id=session.platform_sender_id or msg.sender_id,
                text=text,
                session_id=session.name,
                quick_replies=list(quick_replies),
                reply_to=msg.platform_message_id or None,
                recipient_phone=session.phone,
                menu_label=templates.menu_label(quick_replies, session.language, session.channel),
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
