"""The conversation's state: what the bot waits for, the slots, verification, choices.

The state lives in the session's JSON ``context`` (the store row is the truth;
see ``pipeline/context.py``). This module is the only code that reads or
writes its keys; everything else asks through :class:`Dialogue`, a typed view
over one session's context:

- ``pending``: what the bot is waiting for (:class:`Waiting`);
- ``slots``: the NRC, full name, claim number and phone the person gave (:class:`Slots`);
- ``auth``: the verification progress: a code challenge in flight
  (:class:`CodeChallenge`) or the verified person (:class:`Verified`);
- ``claim_choice``: the claims offered after "which claim?" (:class:`ClaimChoice`);
- ``options``: the (label, intent) pairs of a clarifying question;
- ``question``: the question that needed verification, answered once verified;
- ``low_confidence_streak``: hesitant classifications in a row;
- ``last_quick_replies``: the labels last offered (a reply of "2" means the second).
- ``answered`` / ``csat_asked``: the assistant answered a question here; the
  rating question went out (``dialogue/csat.py``).
- ``code_quota_until``: no code can be sent for these details before this time
  (ISO): the code quota stopped the verification, and a "resend" meanwhile gets
  the wait, not a clarifying question.

The JSON layout is unchanged from earlier releases, so stored sessions load as they were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from assistant_crm.services.infra import crypto
from assistant_crm.services.infra.masking import mask_text
from assistant_crm.services.models import SessionState


class Waiting(str, Enum):
    """The bot's open question."""

    NOTHING = ""
    IDENTITY = "verify_identity"  # NRC and full name
    CODE = "otp"  # the one-time code sent by SMS
    CLAIM_CHOICE = "claim_choice"  # which of several claims
    CLARIFY = "clarify"  # which of a few intents


# The gate's own questions: an answer to one of them goes to the gate.
GATE_QUESTIONS = (Waiting.IDENTITY, Waiting.CODE, Waiting.CLAIM_CHOICE)
# Slots that are personal data, kept encrypted in the session's context.
SEALED_SLOTS = ("nrc", "full_name", "phone")


@dataclass
class Slots:
    nrc: str = ""
    full_name: str = ""
    claim_number: str = ""
    phone: str = ""


@dataclass
class Candidate:
    """A person CoreBusiness matched to the NRC and name, before the second factor."""

    person_id: str
    full_name: str = ""
    roles: list[str] = field(default_factory=list)
    employer_numbers: list[str] = field(default_factory=list)
    phone: str = ""
    nrc_hash: str = ""
    nrc_masked: str = ""


@dataclass
class CodeChallenge:
    """A one-time code sent to the candidate's phone (only its HMAC is kept)."""

    candidate: Candidate
    otp_hash: str
    otp_expires: str  # ISO time
    otp_sends: int = 1


@dataclass
class Verified:
    """The verified person, for the rest of the session."""

    person_id: str
    full_name: str = ""
    roles: list[str] = field(default_factory=list)
    employer_numbers: list[str] = field(default_factory=list)
    nrc_hash: str = ""
    nrc_masked: str = ""
    method: str = ""  # sender_phone | otp
    verified_at: str = ""  # ISO time
    last_seen: str = ""  # ISO time
    # Web chat: the browser the verification is bound to (issue 12.12). Only
    # SHA-256 hashes of the HttpOnly cookie are kept: the current one, the one
    # it replaced (a second tab's request may still carry it) and when.
    cookie_hash: str = ""
    cookie_prev_hash: str = ""
    cookie_rotated_at: str = ""  # ISO time


@dataclass
class ClaimChoice:
    """The claims offered after "which claim?" and the intent the choice resumes."""

    intent: str
    numbers: list[str] = field(default_factory=list)
    question: str = ""  # the question that led to the choice ("which documents are missing?")


class Dialogue:
    """A typed view over one session's dialogue state (see the module doc)."""

    def __init__(self, session: SessionState):
        self.session = session
        self._ctx = session.context

    # -------------------------------------------------------------- waiting

    @property
    def waiting(self) -> Waiting:
        try:
            return Waiting(self._ctx.get("pending") or "")
        except ValueError:
            return Waiting.NOTHING

    def wait_for(self, what: Waiting) -> None:
        if what is Waiting.NOTHING:
            self._ctx.pop("pending", None)
        else:
            self._ctx["pending"] = what.value

    def stop_waiting(self, *only: Waiting) -> None:
        """Close the open question (only if it is one of ``only``, when given)."""
        if not only or self.waiting in only:
            self._ctx.pop("pending", None)

    @property
    def in_gate(self) -> bool:
        """Whether the gate waits for an answer of its own."""
        return self.waiting in GATE_QUESTIONS

    # ---------------------------------------------------------------- slots

    @property
    def slots(self) -> Slots:
        raw = self._ctx.get("slots") or {}
        values = {k: str(raw.get(k) or "") for k in ("nrc", "full_name", "claim_number", "phone")}
        for key in SEALED_SLOTS:
            values[key] = crypto.open_sealed(values[key])
        return Slots(**values)

    def remember(self, **values: str) -> None:
        """Keep slot values ("nrc", "full_name", "claim_number", "phone"); the NRC,
        name and phone are stored encrypted (issue 12.11)."""
        slots = self._ctx.setdefault("slots", {})
        for key, value in values.items():
            if value:
                slots[key] = crypto.seal(value) if key in SEALED_SLOTS else value

    def forget(self, *keys: str) -> None:
        """Drop slot values."""
        slots = self._ctx.get("slots") or {}
        for key in keys:
            slots.pop(key, None)

    # --------------------------------------------------------- verification

    @property
    def verified(self) -> Verified | None:
        raw = self._ctx.get("auth") or {}
        if not raw.get("person_id") or "candidate" in raw:
            return None
        return _build(Verified, raw)

    @property
    def challenge(self) -> CodeChallenge | None:
        raw = self._ctx.get("auth") or {}
        if not raw.get("candidate") or not raw.get("otp_hash"):
            return None
        return CodeChallenge(
            candidate=_build(Candidate, raw["candidate"]),
            otp_hash=str(raw["otp_hash"]),
            otp_expires=str(raw.get("otp_expires") or ""),
            otp_sends=int(raw.get("otp_sends") or 1),
        )

    def set_challenge(self, challenge: CodeChallenge) -> None:
        self._ctx["auth"] = asdict(challenge)

    def set_verified(self, verified: Verified) -> None:
        self._ctx["auth"] = asdict(verified)

    def touch_verified(self, last_seen: str) -> None:
        auth = self._ctx.get("auth")
        if isinstance(auth, dict) and auth.get("person_id"):
            auth["last_seen"] = last_seen

    def bind_browser(self, cookie_hash: str, at: str, previous: str = "") -> None:
        """Bind the verification to a browser cookie (its hash); ``previous`` is the
        hash it replaces on rotation."""
        auth = self._ctx.get("auth")
        if isinstance(auth, dict) and auth.get("person_id"):
            auth["cookie_hash"] = cookie_hash
            auth["cookie_prev_hash"] = previous
            auth["cookie_rotated_at"] = at

    def clear_auth(self) -> None:
        self._ctx.pop("auth", None)

    @property
    def code_quota_until(self) -> str:
        """When the code quota that stopped this verification ends (ISO; "" when none)."""
        return str(self._ctx.get("code_quota_until") or "")

    def note_code_quota(self, until: str) -> None:
        self._ctx["code_quota_until"] = until

    def clear_code_quota(self) -> None:
        self._ctx.pop("code_quota_until", None)

    @property
    def verified_name(self) -> str:
        """The verified person's full name as CoreBusiness gave it ("" when none)."""
        raw = self._ctx.get("auth") or {}
        return str(raw.get("full_name") or raw.get("name") or "")

    @property
    def employer_numbers(self) -> list[str]:
        raw = self._ctx.get("auth") or {}
        return [str(e) for e in raw.get("employer_numbers") or []]

    # --------------------------------------------------------- claim choice

    @property
    def claim_choice(self) -> ClaimChoice | None:
        raw = self._ctx.get("claim_choice") or {}
        if self.waiting is not Waiting.CLAIM_CHOICE or not raw:
            return None
        return ClaimChoice(
            intent=str(raw.get("intent") or ""),
            numbers=list(raw.get("numbers") or []),
            question=str(raw.get("question") or ""),
        )

    def offer_claims(self, intent: str, numbers: list[str], question: str = "") -> None:
        self.wait_for(Waiting.CLAIM_CHOICE)
        self._ctx["claim_choice"] = asdict(ClaimChoice(intent, list(numbers), question))

    def clear_claim_choice(self) -> None:
        self._ctx.pop("claim_choice", None)
        self.stop_waiting(Waiting.CLAIM_CHOICE)

    # ------------------------------------------------- the question asked

    def keep_question(self, text: str) -> None:
        """Keep the question that needs verification, to answer it once verified."""
        if text.strip():
            self._ctx["question"] = mask_text(text.strip()[:500])  # no NRC or phone kept

    def take_question(self) -> str:
        """The kept question ("" when none), forgotten as it is taken."""
        return str(self._ctx.pop("question", "") or "")

    # ------------------------------------------------------- clarification

    @property
    def options(self) -> list[tuple[str, str]]:
        """(label, intent) pairs of the open clarifying question."""
        return [(str(label), str(intent)) for label, intent in self._ctx.get("options") or []]

    def ask_to_clarify(self, options: list[tuple[str, str]]) -> None:
        self.wait_for(Waiting.CLARIFY)
        self._ctx["options"] = [list(o) for o in options]

    def clear_options(self) -> None:
        self._ctx.pop("options", None)

    # ------------------------------------------------------------ hesitation

    @property
    def low_confidence_streak(self) -> int:
        return int(self._ctx.get("low_confidence_streak") or 0)

    def hesitated(self) -> int:
        """One more hesitant classification; the streak so far."""
        self._ctx["low_confidence_streak"] = self.low_confidence_streak + 1
        return self.low_confidence_streak

    def understood(self) -> None:
        self._ctx["low_confidence_streak"] = 0

    # --------------------------------------------------------- quick replies

    @property
    def last_quick_replies(self) -> list[str]:
        return [str(q) for q in self._ctx.get("last_quick_replies") or []]

    def offered(self, quick_replies: list[str]) -> None:
        self._ctx["last_quick_replies"] = list(quick_replies)[:10]

    # ---------------------------------------------------------------- rating

    @property
    def answered(self) -> bool:
        """The assistant answered a question in this conversation."""
        return bool(self._ctx.get("answered"))

    def note_answered(self) -> None:
        self._ctx["answered"] = True

    @property
    def rating_asked(self) -> bool:
        return bool(self._ctx.get("csat_asked"))

    def ask_rating(self) -> None:
        self._ctx["csat_asked"] = True

    # ------------------------------------------------------------- resets

    def end_verification(self) -> None:
        """Forget who the person is and everything the gate was asking."""
        self.clear_auth()
        self.clear_code_quota()
        self._ctx.pop("claim_choice", None)
        self._ctx.pop("question", None)
        self.stop_waiting(*GATE_QUESTIONS)
        self.forget("nrc", "full_name", "claim_number")

    def reset_on_idle(self) -> None:
        """The session idled out: verification, questions and slots all go."""
        for key in ("auth", "pending", "slots", "low_confidence_streak", "question", "code_quota_until"):
            self._ctx.pop(key, None)

    def handed_over(self, keep_question: bool = False) -> None:
        """Who holds the conversation changed: the hesitation count restarts, and
        unless the bot holds it again, the bot's open question is dropped."""
        if not keep_question:
            self._ctx.pop("pending", None)
        self._ctx["low_confidence_streak"] = 0


def initial_context() -> dict[str, Any]:
    """The context of a new session."""
    return {"slots": {}, "low_confidence_streak": 0}


def _build(cls: type, raw: dict[str, Any]) -> Any:
    names = cls.__dataclass_fields__
    return cls(**{k: v for k, v in raw.items() if k in names})
