"""Handing a conversation to a human agent.

Three reasons: the person asks for a human (intent ``escalation``), the person
is clearly angry, or the bot has failed to understand them
``LOW_CONFIDENCE_LIMIT`` turns in a row. The session then waits for an agent
(status ``waiting_for_agent``); :mod:`.handoff` keeps the person informed until an agent takes it.
"""

from __future__ import annotations

import logging
import re

from assistant_crm.services.dialogue.state import Dialogue
from assistant_crm.services.models import Rendered, SessionState

log = logging.getLogger("assistant_crm.escalation")

LOW_CONFIDENCE_LIMIT = 3

# Words that on their own say the person is upset with us (English and the
# common Bemba/Nyanja ones), and weaker ones that need a second signal.
_STRONG = (
    "useless",
    "stupid",
    "idiot",
    "idiots",
    "nonsense",
    "rubbish",
    "thieves",
    "thief",
    "scam",
    "pathetic",
    "disgusting",
    "fed up",
    "sick and tired",
    "waste of time",
    "wasting my time",
    "worst service",
    "shame on you",
    "imwe bakabolala",
    "ichipuba",
    "opusa",
    "mbava",
)
_WEAK = (
    "angry",
    "annoyed",
    "frustrated",
    "furious",
    "ridiculous",
    "terrible",
    "horrible",
    "unacceptable",
    "hopeless",
    "fool",
    "complain",
    "complaint",
    "nalikalipa",
    "ndakwiya",
)
_STRONG_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in _STRONG) + r")\b", re.IGNORECASE)
_WEAK_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in _WEAK) + r")\b", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-z]{2,}")


def _shouting(text: str) -> bool:
    """At least three words, nearly all in capitals."""
    words = _WORD_RE.findall(text)
    if len(words) < 3:
        return False
    upper = sum(1 for w in words if w.isupper())
    return upper / len(words) >= 0.8


def anger_score(text: str) -> int:
    """0 for calm text; 2 or more is clear anger."""
    text = text or ""
    score = 2 * len(_STRONG_RE.findall(text)) + len(_WEAK_RE.findall(text))
    if _shouting(text):
        score += 1
    if "!!!" in text or "???" in text:
        score += 1
    return score


def is_angry(text: str) -> bool:
    """Clear anger: an insult, or two weaker signals (shouting, "!!!", "frustrated"...)."""
    return anger_score(text) >= 2


def reason_to_escalate(intent: str, text: str, low_confidence_streak: int) -> str | None:
    """Why this turn should go to a human: "asked", "anger", "low_confidence" or None."""
    # Anger first: an angry "get me a person" deserves the apology too.
    if is_angry(text):
        return "anger"
    if intent == "escalation":
        return "asked"
    if low_confidence_streak >= LOW_CONFIDENCE_LIMIT:
        return "low_confidence"
    return None


def escalate(session: SessionState, reason: str, channel: str = "all") -> Rendered:
    """Put the session in the agents' queue and tell the person what happens next
    (the queue, the wait or the office hours: see :mod:`.handoff`)."""
    from assistant_crm.services.dialogue import handoff
    from assistant_crm.services.infra import audit
    from assistant_crm.services.pipeline import templates

    waiting_text = handoff.start(session, reason, channel=channel)
    try:
        audit.record(
            "bot",
            "escalation",
            subject=session.name,
            details={"reason": reason, "channel": session.channel},
            subject_is_name=True,
        )
    except Exception:  # the hand-off matters more than its audit line
        log.exception("audit of escalation failed for %s", session.name)
    data = {"reason": reason, "first_name": _first_name(session)}
    lead_key = {"asked": "escalation", "anger": "escalation_apology"}.get(reason)
    if not lead_key:
        return waiting_text
    lead = templates.render(lead_key, language=session.language, channel=channel, data=data)
    return Rendered(
        text=f"{lead.text} {waiting_text.text}".strip(), quick_replies=list(waiting_text.quick_replies)
    )


def _first_name(session: SessionState) -> str:
    name = Dialogue(session).verified_name
    return name.split()[0].title() if session.is_verified and name else ""
