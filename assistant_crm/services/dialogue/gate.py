"""The verification gate: nothing personal is shown before a person is proven.

The pipeline calls :func:`check` for every bot turn after intent classification.
For an intent that touches personal data (``intent_config(name).requires_auth``)
in an unverified session it:

1. locks the intent (``session.locked_intent``) and asks for NRC and full name
   (waiting for :attr:`Waiting.IDENTITY`), keeping a part given alone in the
   slots until the other arrives;
2. asks CoreBusiness to verify them;
3. asks for a second factor, because NRC numbers are known to be shared: on
   WhatsApp and SMS a sender phone equal to the phone on record counts;
   otherwise a 6-digit one-time code goes by SMS (through the outbox) to the
   phone on record. Only an HMAC of the code is kept, bound to the session,
   for 5 minutes and one use (a :class:`CodeChallenge`, waiting for :attr:`Waiting.CODE`);
4. marks the session verified and hands the locked intent back to the
   pipeline (``GateResult(action="pass", intent=locked)``).

Failed attempts (wrong details, wrong code) count per session, per sender and
per NRC for 30 minutes; at 5 that session / sender / NRC is locked out for 30
minutes. Verification lasts until 30 idle minutes pass or the person says
"logout" / "forget me" / "sign out". Once verified, a message naming another
NRC, claim number or employer account is refused without disclosing anything.

Every attempt and outcome goes to the audit log with the NRC masked. The
dialogue state is read and written through :class:`Dialogue` only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from assistant_crm.services.delivery.outbox import enqueue_outbound
from assistant_crm.services.dialogue import signout
from assistant_crm.services.dialogue.live_answers import pick_claim
from assistant_crm.services.dialogue.state import Candidate, CodeChallenge, Dialogue, Verified, Waiting
from assistant_crm.services.infra import audit
from assistant_crm.services.infra.masking import mask_nrc, mask_phone
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.integrations import live_data
from assistant_crm.services.integrations.corebusiness import CoreBusinessError, get_client
from assistant_crm.services.models import (
    GateResult,
    InboundMessage,
    IntentResult,
    OutboundMessage,
    SessionState,
)
from assistant_crm.services.pipeline import intents, templates
from assistant_crm.services.pipeline.identity_parse import IdentityParts, labelled_name, parse_identity
from assistant_crm.services.pipeline.normalise import find_claim_numbers, find_nrcs, find_otp, to_e164

log = logging.getLogger("assistant_crm.verification")

AUTH_INTENTS = ("claim_status", "payment_inquiry", "employer_contributions", "document_status")
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 30 * 60
LOCK_SECONDS = 30 * 60
OTP_TTL_SECONDS = 5 * 60
OTP_MAX_SENDS = 3  # codes per verification attempt (the first plus two resends)
# SMS cost and harassment: at most this many codes per phone and per NRC in the
# window, whatever the number of sessions asking (setting otp_codes_per_15_minutes,
# issue 12.3) ...
OTP_QUOTA = 3
OTP_QUOTA_WINDOW_SECONDS = 15 * 60
# ... and a "resend" no sooner than this after the previous code.
OTP_RESEND_AFTER_SECONDS = 60
PHONE_CHANNELS = ("whatsapp", "sms")

LOGOUT_RE = re.compile(
    r"^\s*(please\s+)?(log\s*-?\s*(me\s+)?out|sign\s*-?\s*(me\s+)?out|forget\s+me|forget\s+my\s+details|end\s+verification)\s*[.!]*\s*$",
    re.IGNORECASE,
)
# "resend" and what people write instead, in English, Bemba ("tumeniko nakabili",
# "code iyipya", "nshilapokelela") and Nyanja ("tumizaninso", "code yatsopano",
# "sindinalandire").
_RESEND_RE = re.compile(
    r"\b(resend|re-send|send\s+(it\s+)?again|new\s+code|another\s+code|didn'?t\s+get|did\s+not\s+get|"
    r"nakabili|iyipya|nshilapokelela|nshapokelela|tumizaninso|tumizanso|yatsopano|sindinalandire|"
    r"hape)\b",
    re.I,
)
# A message about the code itself (a long "I didn't get my pension" is not).
_ABOUT_CODE_RE = re.compile(r"\b(code|sms|resend|re-send|otp)\b", re.I)
_EMPLOYER_RE = re.compile(r"(?<![A-Za-z0-9])EMP[\s\-_/]?(\d{3,8})(?!\d)", re.IGNORECASE)
_SPACED_CODE_RE = re.compile(r"\D{0,40}?(?<!\d)(\d{3})[ \-](\d{3})(?!\d)\D{0,40}")
_QUESTION_RE = re.compile(r"\?|^\s*(what|when|where|which|who|why|how|can|could|do|does|is|are|will)\b", re.I)

# --------------------------------------------------------------------------- helpers


def requires_auth(intent: str) -> bool:
    """Whether answering ``intent`` needs a verified person."""
    try:
        return bool(intents.intent_config(intent).requires_auth)
    except (AttributeError, KeyError, LookupError):
        return intent in AUTH_INTENTS


def _say(key: str, session: SessionState, data: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    data = dict(data or {})
    rendered = templates.render(
        key, language=session.language or "en", channel=session.channel or "all", data=data
    )
    return rendered.text, list(rendered.quick_replies)


def _reply(
    key: str, session: SessionState, data: dict[str, Any] | None = None, intent: str | None = None
) -> GateResult:
    text, replies = _say(key, session, data)
    return GateResult(
        action="reply", intent=intent or session.locked_intent, text=text, quick_replies=replies
    )


def _secret() -> bytes:
    """The server secret for code and NRC hashes (setting, else derived, else a cache-held random)."""
    rt = get_runtime()
    configured = rt.settings.str("verification_secret")
    if configured:
        return configured.encode()
    api_key = rt.settings.str("corebusiness_api_key")
    if api_key:
        # Stable across processes and unknown to anyone without the CoreBusiness key.
        return hashlib.sha256(b"assistant-crm-verification:" + api_key.encode()).digest()
    key = "acrm:verification:secret"
    rt.cache.add(key, secrets.token_hex(32))
    return str(rt.cache.get(key) or "").encode()


def _hmac(*parts: str) -> str:
    return hmac.new(_secret(), "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def keyed_hash(*parts: str) -> str:
    """HMAC-SHA256 (hex) of ``parts`` under the server secret."""
    return _hmac(*parts)


def nrc_digest(nrc: str) -> str:
    """A keyed hash of an NRC: comparable, not reversible, safe in cache keys and session state."""
    return _hmac("nrc", nrc)


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


def _parse_iso(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _idle_minutes() -> int:
    return max(1, get_runtime().settings.int("session_idle_minutes"))


def _actor(session: SessionState) -> str:
    return f"session:{session.name}"


def _audit(
    session: SessionState, action: str, subject: str = "", details: dict[str, Any] | None = None
) -> None:
    """Audit without letting an audit failure break the conversation (it is logged)."""
    try:
        # The subject is always the session's name (the dashboard joins on it).
        audit.record(
            _actor(session),
            action,
            subject,
            {"channel": session.channel, **(details or {})},
            subject_is_name=True,
        )
    except Exception:  # noqa: BLE001 - the turn must still be answered
        log.exception("audit write failed for %s", action)


def _sender_phone(session: SessionState, msg: InboundMessage) -> str:
    for candidate in (
        msg.sender_phone,
        session.phone,
        msg.sender_id if msg.channel in PHONE_CHANNELS else "",
    ):
        phone = to_e164(candidate or "")
        if phone:
            return phone
    return ""


def _sender_key(session: SessionState, msg: InboundMessage) -> str:
    sender = msg.sender_id or session.platform_sender_id or session.name
    return hashlib.sha256(f"{msg.channel or session.channel}:{sender}".encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- failures and lockouts


def _counter_keys(session: SessionState, msg: InboundMessage, nrc_hash: str | None) -> list[tuple[str, str]]:
    keys = [("session", session.name), ("sender", _sender_key(session, msg))]
    if nrc_hash:
        keys.append(("nrc", nrc_hash[:32]))
    return keys


def is_locked(session: SessionState, msg: InboundMessage, nrc_hash: str | None = None) -> bool:
    """Whether this session, sender or NRC is locked out."""
    cache = get_runtime().cache
    return any(
        cache.get(f"acrm:vlock:{kind}:{ident}") for kind, ident in _counter_keys(session, msg, nrc_hash)
    )


def _record_failure(session: SessionState, msg: InboundMessage, nrc_hash: str | None, reason: str) -> bool:
    """Count one failed attempt everywhere; True when that locked something out."""
    cache = get_runtime().cache
    locked = []
    for kind, ident in _counter_keys(session, msg, nrc_hash):
        count = cache.incr(f"acrm:vfail:{kind}:{ident}", 1, ttl=FAILURE_WINDOW_SECONDS)
        if count >= MAX_FAILURES:
            cache.set(f"acrm:vlock:{kind}:{ident}", 1, ttl=LOCK_SECONDS)
            locked.append(kind)
    log.info(
        "verification failed session=%s reason=%s locked=%s", session.name, reason, ",".join(locked) or "-"
    )
    if locked:
        _audit(session, "verification.locked", session.name, {"locked": locked, "reason": reason})
    return bool(locked)


# --------------------------------------------------------------------------- state


def verified_auth(session: SessionState, now: datetime | None = None) -> Verified | None:
    """The verified person, or None (not verified, or idle too long: then dropped)."""
    if not session.verified_person_id:
        return None
    verified = Dialogue(session).verified
    now = now or get_runtime().clock.now()
    last = (_parse_iso(verified.last_seen) if verified else None) or session.verified_at
    if verified is None or verified.person_id != session.verified_person_id or not last:
        _drop(session, "inconsistent")
        return None
    if now - last > timedelta(minutes=_idle_minutes()):
        _drop(session, "idle")
        return None
    if signout.ended(session.verified_person_id, session.verified_at or _parse_iso(verified.verified_at)):
        _drop(session, "signed_out_elsewhere")
        return None
    return verified


def _drop(session: SessionState, why: str) -> None:
    log.info("verification ended session=%s why=%s", session.name, why)
    session.verified_person_id = None
    session.verified_at = None
    session.locked_intent = None
    Dialogue(session).end_verification()


def logout(session: SessionState) -> int:
    """End the verification of ``session`` and of every other session verified as
    the same person, on any channel ("logout everywhere"); returns how many others.

    Only a session verified now can sign its person out elsewhere: a web request
    from a browser the verification was not bound to has already lost it
    (``web_session.enforce``), so a stolen token cannot end the person's other
    sessions."""
    was = session.verified_person_id
    _drop(session, "logout")
    if not was:
        return 0
    signout.mark(was, get_runtime().clock.now())
    others = _end_elsewhere(was, session.name)
    _audit(session, "verification.logout", session.name, {"person_id": was, "other_sessions": others})
    return others


def _end_elsewhere(person_id: str, except_name: str) -> int:
    """End the verification of the person's other sessions in the store (and cache)."""
    from assistant_crm.services.pipeline import context  # the pipeline imports the gate

    rt = get_runtime()
    rows = rt.store.list(
        context.SESSION_DOCTYPE,
        {"verified_person_id": person_id, "name": ("!=", except_name)},
        limit=500,
    )
    ended = 0
    for row in rows:
        other = context.get_session(row["name"])
        if other is None or other.verified_person_id != person_id:
            continue
        _drop(other, "logout_elsewhere")
        context.save_session(other, touch=False)
        ended += 1
    return ended


def logout_if_asked(session: SessionState, text: str) -> GateResult | None:
    """The reply to "logout" / "forget me" / "sign out" (verification ended), else None.
    The one place a logout is handled: the pipeline asks before classifying."""
    if not LOGOUT_RE.match(text or ""):
        return None
    logout(session)
    Dialogue(session).stop_waiting()
    return _reply("logout", session, intent="service_request")


def code_quota_if_asked(session: SessionState, text: str) -> GateResult | None:
    """The wait before another code, to a "resend" after the code quota stopped
    the verification; else None. The gate waits for nothing then, so without
    this the classifier reads "resend" as anything (a clarifying question).
    The pipeline asks before classifying."""
    dialogue = Dialogue(session)
    until = _parse_iso(dialogue.code_quota_until)
    if until is None:
        return None
    now = get_runtime().clock.now()
    if now >= until or session.verified_person_id:
        dialogue.clear_code_quota()
        return None
    if dialogue.waiting is Waiting.CODE or not _RESEND_RE.search(text or ""):
        return None  # a code in flight again: the gate's own "resend" answers
    if not _ABOUT_CODE_RE.search(text) and len(re.findall(r"\w+", text)) > 4:
        return None
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return _reply(
        "otp_quota", session, {"minutes": minutes}, intent=session.locked_intent or "service_request"
    )


def _mark_verified(session: SessionState, candidate: Candidate, method: str, now: datetime) -> GateResult:
    intent = session.locked_intent
    session.verified_person_id = candidate.person_id
    session.verified_at = now
    session.locked_intent = None
    dialogue = Dialogue(session)
    dialogue.set_verified(
        Verified(
            person_id=candidate.person_id,
            full_name=candidate.full_name,
            roles=list(candidate.roles),
            employer_numbers=list(candidate.employer_numbers),
            nrc_hash=candidate.nrc_hash,
            nrc_masked=candidate.nrc_masked,
            method=method,
            verified_at=_iso(now),
            last_seen=_iso(now),
        )
    )
    dialogue.stop_waiting()
    dialogue.clear_code_quota()
    dialogue.forget("nrc", "full_name")
    _audit(
        session,
        "verification.succeeded",
        session.name,
        {"person_id": candidate.person_id, "nrc": candidate.nrc_masked, "method": method},
    )
    log.info("verification succeeded session=%s method=%s", session.name, method)
    return GateResult(action="pass", intent=intent, question=dialogue.take_question())


# --------------------------------------------------------------------------- the gate


def check(session: SessionState, msg: InboundMessage, intent: IntentResult) -> GateResult:
    """Decide whether this turn may be answered now (see the module doc).

    Returns ``GateResult("pass", intent)`` to answer ``intent`` (the resumed
    locked intent right after verification), or ``GateResult("reply", text=...)``
    with the gate's own question or refusal.
    """
    rt = get_runtime()
    now = rt.clock.now()
    text = msg.text or ""
    signed_out = logout_if_asked(session, text)
    if signed_out is not None:
        return signed_out

    dialogue = Dialogue(session)
    verified = verified_auth(session, now)
    if verified is not None:
        dialogue.touch_verified(_iso(now))
        refusal = _other_person(session, verified, text)
        if refusal is not None:
            return refusal
        choice = dialogue.claim_choice
        if choice is not None and pick_claim(choice.numbers, text):
            return GateResult(action="pass", intent=choice.intent)
        return GateResult(action="pass", intent=intent.intent)

    if dialogue.waiting is Waiting.CODE:
        return _on_otp(session, msg, intent, now)
    if dialogue.waiting is Waiting.IDENTITY:
        return _on_identity(session, msg, intent, now)
    if not requires_auth(intent.intent):
        return GateResult(action="pass", intent=intent.intent)

    session.locked_intent = intent.intent
    dialogue.keep_question(text)
    dialogue.wait_for(Waiting.IDENTITY)
    _audit(session, "verification.requested", session.name, {"intent": intent.intent})
    parts = parse_identity(text)
    if not (parts.nrc or parts.malformed_nrc):
        # The request itself is no answer: its words ("ndefwaya ukwishiba pa claim
        # yandi") are not a name. Only a name it clearly states counts here.
        parts = IdentityParts(full_name=labelled_name(text))
    if parts.nrc or parts.malformed_nrc or parts.full_name:
        # "check my claim, NRC 123456/78/1, Mwila Banda": go straight on.
        return _on_identity(session, msg, intent, now, parts)
    return _reply("verify_ask", session)


def _looks_like_answer(text: str) -> bool:
    # A name on its own ("Mwila Banda") answers; "where is the Lusaka branch?" does not.
    return not _QUESTION_RE.search(text or "")


def _given_name(text: str, parts: IdentityParts) -> str | None:
    """The full name this message gives: the parsed one in an answer, else only a labelled one
    ("my name is Grace Phiri, what is my claim status?")."""
    if parts.full_name and _looks_like_answer(text):
        return parts.full_name
    return labelled_name(text) if parts.full_name else None


def _on_identity(
    session: SessionState,
    msg: InboundMessage,
    intent: IntentResult,
    now: datetime,
    parts: IdentityParts | None = None,
) -> GateResult:
    text = msg.text or ""
    parts = parts or parse_identity(text)
    given_name = _given_name(text, parts)
    answered = bool(parts.nrc or parts.malformed_nrc or given_name)
    if not answered:
        if requires_auth(intent.intent):
            if intent.intent != session.locked_intent and intent.source != "context":
                session.locked_intent = intent.intent  # they now want something else personal
                Dialogue(session).keep_question(text)
            return _reply("verify_pending_reminder", session)
        if intent.source != "context":
            # A different question while we wait: answer it, keep the lock.
            return GateResult(action="pass", intent=intent.intent)
        return _reply("verify_pending_reminder", session)

    dialogue = Dialogue(session)
    dialogue.remember(nrc=parts.nrc or "", full_name=given_name or "")
    if parts.malformed_nrc and not parts.nrc:
        dialogue.forget("nrc")
        log.info("verification: malformed NRC given session=%s", session.name)
        _audit(session, "verification.malformed_nrc", session.name, {})
        return _reply("verify_nrc_malformed", session)
    slots = dialogue.slots
    nrc, name = slots.nrc, slots.full_name
    if nrc and not name:
        return _reply("verify_need_name", session)
    if name and not nrc:
        return _reply("verify_need_nrc", session)
    return _verify(session, msg, nrc, name, now)


def _verify(session: SessionState, msg: InboundMessage, nrc: str, name: str, now: datetime) -> GateResult:
    nrc_hash = nrc_digest(nrc)
    masked = mask_nrc(nrc)
    if is_locked(session, msg, nrc_hash):
        _audit(session, "verification.refused_locked", session.name, {"nrc": masked})
        _clear_identity_slots(session)
        return _reply("verify_locked", session, {"minutes": LOCK_SECONDS // 60})
    try:
        result = get_client().verify_identity(nrc, name)
    except CoreBusinessError as exc:
        _audit(session, "verification.error", session.name, {"nrc": masked, "kind": exc.kind})
        if exc.kind == "bad_request":
            _clear_identity_slots(session)
            return _reply("verify_nrc_malformed", session)
        # Keep what they typed: "try again" later needs no retyping.
        return _reply("records_unavailable", session)
    _audit(session, "verification.attempt", session.name, {"nrc": masked, "verified": result.verified})
    if not result.verified:
        _clear_identity_slots(session)
        if _record_failure(session, msg, nrc_hash, "details"):
            return _reply("verify_locked", session, {"minutes": LOCK_SECONDS // 60})
        return _reply("verify_failed", session)

    candidate = Candidate(
        person_id=result.person_id,
        full_name=result.full_name,
        roles=list(result.roles),
        employer_numbers=list(result.employer_numbers),
        phone=to_e164(result.phone),
        nrc_hash=nrc_hash,
        nrc_masked=masked,
    )
    _clear_identity_slots(session)
    sender_phone = _sender_phone(session, msg) if (msg.channel or session.channel) in PHONE_CHANNELS else ""
    if candidate.phone and sender_phone and hmac.compare_digest(candidate.phone, sender_phone):
        return _mark_verified(session, candidate, "sender_phone", now)
    if not candidate.phone:
        _audit(session, "verification.no_phone", session.name, {"nrc": masked})
        Dialogue(session).stop_waiting()
        session.locked_intent = None
        return _reply("verify_no_phone", session)
    return _send_code(session, candidate, now, sends=1)


def _clear_identity_slots(session: SessionState) -> None:
    Dialogue(session).forget("nrc", "full_name")


def _code_quota_wait(candidate: Candidate, now: datetime) -> int:
    """Count one code for the candidate's phone and NRC; the seconds to wait when
    either already had :data:`OTP_QUOTA` codes in the window (0: send it).

    The window starts with the first code (runtime clock) and lasts
    :data:`OTP_QUOTA_WINDOW_SECONDS`; the count is an atomic cache counter, so
    many sessions asking at once still get at most the quota."""
    rt = get_runtime()
    cache = rt.cache
    quota = rt.settings.int("otp_codes_per_15_minutes")
    if quota <= 0:
        quota = OTP_QUOTA
    wait = 0
    for kind, ident in (("phone", _hmac("phone", candidate.phone)), ("nrc", candidate.nrc_hash)):
        key = f"acrm:otpq:{kind}:{ident[:32]}"
        cache.add(key + ":start", now.timestamp(), ttl=OTP_QUOTA_WINDOW_SECONDS)
        started = float(cache.get(key + ":start") or now.timestamp())
        if now.timestamp() - started >= OTP_QUOTA_WINDOW_SECONDS:  # a new window
            cache.delete(key)
            cache.set(key + ":start", now.timestamp(), ttl=OTP_QUOTA_WINDOW_SECONDS)
            started = now.timestamp()
        count = cache.incr(key, 1, ttl=OTP_QUOTA_WINDOW_SECONDS)
        if count > quota:
            wait = max(wait, int(started + OTP_QUOTA_WINDOW_SECONDS - now.timestamp()) + 1)
    return wait


def _send_code(session: SessionState, candidate: Candidate, now: datetime, sends: int) -> GateResult:
    wait = _code_quota_wait(candidate, now)
    if wait:
        minutes = max(1, -(-wait // 60))
        log.info("verification: code quota reached session=%s wait_minutes=%s", session.name, minutes)
        _audit(
            session, "verification.otp_quota", session.name, {"nrc": candidate.nrc_masked, "minutes": minutes}
        )
        dialogue = Dialogue(session)
        dialogue.clear_auth()
        dialogue.stop_waiting()
        dialogue.note_code_quota(_iso(now + timedelta(seconds=wait)))
        return _reply("otp_quota", session, {"minutes": minutes})
    code = f"{secrets.randbelow(1_000_000):06d}"
    phone = candidate.phone
    dialogue = Dialogue(session)
    dialogue.set_challenge(
        CodeChallenge(
            candidate=candidate,
            otp_hash=_hmac("otp", session.name, code),
            otp_expires=_iso(now + timedelta(seconds=OTP_TTL_SECONDS)),
            otp_sends=sends,
        )
    )
    dialogue.wait_for(Waiting.CODE)
    text, _ = _say("otp_sms", session, {"code": code, "minutes": OTP_TTL_SECONDS // 60})
    try:
        enqueue_outbound(
            OutboundMessage(
                channel="sms", recipient_id=phone, recipient_phone=phone, text=text, sensitive=True
            )
        )
    except Exception as exc:  # noqa: BLE001 - any failure to queue: tell the person, keep nothing
        log.warning(
            "verification: could not queue the code SMS session=%s error=%s", session.name, type(exc).__name__
        )
        dialogue.clear_auth()
        dialogue.stop_waiting()
        return _reply("otp_not_sent", session)
    masked_phone = mask_phone(phone)
    _audit(
        session,
        "verification.otp_sent",
        session.name,
        {"nrc": candidate.nrc_masked, "phone": masked_phone},
    )
    return _reply("otp_sent", session, {"masked_phone": masked_phone, "minutes": OTP_TTL_SECONDS // 60})


def _start_over(session: SessionState) -> Dialogue:
    """Back to asking for NRC and name (the code challenge is dropped)."""
    dialogue = Dialogue(session)
    dialogue.clear_auth()
    dialogue.wait_for(Waiting.IDENTITY)
    return dialogue


def _on_otp(session: SessionState, msg: InboundMessage, intent: IntentResult, now: datetime) -> GateResult:
    challenge = Dialogue(session).challenge
    if challenge is None:
        Dialogue(session).wait_for(Waiting.IDENTITY)
        return _reply("verify_ask", session)
    candidate = challenge.candidate
    text = msg.text or ""
    code = find_otp(text)
    if code is None:
        spaced = _SPACED_CODE_RE.fullmatch(text)  # "123 456" as printed by some phones
        code = spaced.group(1) + spaced.group(2) if spaced else None
    masked_phone = mask_phone(candidate.phone)
    if code is None:
        parts = parse_identity(text)
        if parts.nrc:  # starting over with (maybe other) details
            _start_over(session)
            return _on_identity(session, msg, intent, now, parts)
        if _RESEND_RE.search(text):
            if challenge.otp_sends >= OTP_MAX_SENDS:
                _start_over(session)
                return _reply("otp_resend_limit", session)
            if is_locked(session, msg, candidate.nrc_hash):
                return _lockout(session, candidate)
            expires = _parse_iso(challenge.otp_expires)
            sent_at = expires - timedelta(seconds=OTP_TTL_SECONDS) if expires else None
            if sent_at is not None and (now - sent_at).total_seconds() < OTP_RESEND_AFTER_SECONDS:
                seconds = OTP_RESEND_AFTER_SECONDS - int((now - sent_at).total_seconds())
                return _reply("otp_resend_wait", session, {"seconds": seconds, "masked_phone": masked_phone})
            return _send_code(session, candidate, now, sends=challenge.otp_sends + 1)
        asks = intent.source != "context" and re.search(r"[A-Za-z]{3,}", text)
        if asks and not requires_auth(intent.intent):
            return GateResult(action="pass", intent=intent.intent)
        if asks:
            # Another personal question while the code is on its way: answer that
            # one once the code is in, as the identity question does.
            session.locked_intent = intent.intent
            Dialogue(session).keep_question(text)
        return _reply("otp_reminder", session, {"masked_phone": masked_phone})

    if is_locked(session, msg, candidate.nrc_hash):
        return _lockout(session, candidate)
    expires = _parse_iso(challenge.otp_expires)
    if expires is None or now > expires:
        _start_over(session)
        _audit(session, "verification.otp_expired", session.name, {"nrc": candidate.nrc_masked})
        return _reply("otp_expired", session)
    if hmac.compare_digest(_hmac("otp", session.name, code), challenge.otp_hash):
        return _mark_verified(session, candidate, "otp", now)
    _audit(session, "verification.otp_failed", session.name, {"nrc": candidate.nrc_masked})
    if _record_failure(session, msg, candidate.nrc_hash, "otp"):
        return _lockout(session, candidate)
    return _reply("otp_invalid", session)


def _lockout(session: SessionState, candidate: Candidate) -> GateResult:
    _start_over(session)
    _audit(session, "verification.refused_locked", session.name, {"nrc": candidate.nrc_masked})
    return _reply("verify_locked", session, {"minutes": LOCK_SECONDS // 60})


# --------------------------------------------------------------------------- other people's data


def _other_person(session: SessionState, verified: Verified, text: str) -> GateResult | None:
    """A refusal when a verified person's message names someone else's NRC, claim or employer."""
    reason = ""
    for nrc in find_nrcs(text):
        if not hmac.compare_digest(nrc_digest(nrc), verified.nrc_hash):
            reason = "nrc"
            break
    if not reason:
        employers = {e.upper() for e in verified.employer_numbers}
        for m in _EMPLOYER_RE.finditer(text):
            if f"EMP-{m.group(1)}" not in employers:
                reason = "employer"
                break
    if not reason:
        numbers = find_claim_numbers(text)
        if numbers:
            owned = live_data.owned_claim_numbers(session)
            # None: CoreBusiness is unreachable; live_data answers "records unavailable" then.
            if owned is not None and any(n not in owned for n in numbers):
                reason = "claim"
    if not reason:
        return None
    log.warning("verification: refused a request naming another person's %s session=%s", reason, session.name)
    _audit(
        session,
        "verification.refused_other_person",
        session.name,
        {"kind": reason, "person_id": verified.person_id},
    )
    dialogue = Dialogue(session)
    dialogue.stop_waiting()
    dialogue.forget("nrc", "claim_number")
    return _reply("other_person_refused", session, intent="out_of_scope")
