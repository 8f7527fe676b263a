"""Files people send: acknowledged in the conversation's language, linked for an agent.

"Thank you, I have received <file name>." answers every upload (web chat,
WhatsApp, Telegram, Messenger). When a verified person with an open claim
sends a file, the file is linked to that claim for the agents: the claim
number goes onto the attachment in the conversation (Chat History), and the
link is audited. Nothing about the claim is said to anyone not verified.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from assistant_crm.services.dialogue.answers import Draft, line, say
from assistant_crm.services.infra import audit
from assistant_crm.services.integrations import live_data
from assistant_crm.services.integrations.corebusiness import CoreBusinessError
from assistant_crm.services.models import SessionState

log = logging.getLogger("assistant_crm.uploads")

# The names channels give a file that came without one: WhatsApp "image-<media id>",
# Telegram "photo", Messenger "image". The person never wrote them: "your file".
_PLACEHOLDER_NAME_RE = re.compile(
    r"^(image|photo|sticker|video|video_note|animation|audio|voice|document|file)(-[\w.]+)?$", re.I
)

# Claims still being worked on: a document sent now can still count.
OPEN_CLAIM_STATUSES = ("received", "under_review", "awaiting_documents", "medical_assessment", "approved")


def acknowledge(session: SessionState, attachments: list[dict[str, Any]], then: Draft | None = None) -> Draft:
    """The acknowledgement of ``attachments`` (before ``then``, the answer to a caption, if any).

    Adds ``claim_number`` to each attachment it links to a verified person's open claim.
    """
    unnamed = line("upload_file_unnamed", session)  # "your file", in the conversation's language
    names = ", ".join(_shown_name(a, unnamed) for a in attachments)
    text, replies = say("upload_received", session, {"file_name": names})
    claim = _open_claim(session)
    if claim:
        for a in attachments:
            a["claim_number"] = claim
        text = f"{text} {line('upload_linked', session, claim_number=claim)}"
        _audit(session, claim, attachments)
    if then is not None:
        then.text = f"{text}\n\n{then.text}".strip()
        then.metadata["upload_claim"] = claim
        return then
    return Draft(
        text=text,
        quick_replies=replies,
        intent="document_status",
        confidence=1.0,
        metadata={"upload_claim": claim},
    )


def _shown_name(attachment: dict[str, Any], unnamed: str) -> str:
    name = str(attachment.get("name") or "").strip()
    return unnamed if not name or _PLACEHOLDER_NAME_RE.match(name) else name


def _open_claim(session: SessionState) -> str:
    """The verified person's newest open claim ("" when not verified, none open, or unknown)."""
    if not session.verified_person_id:
        return ""
    try:
        claims = live_data.read_claims(session.verified_person_id)
    except CoreBusinessError:
        log.warning("uploads: claims unavailable; file not linked session=%s", session.name)
        return ""
    waiting = [c for c in claims if c.status == "awaiting_documents"]
    open_claims = waiting or [c for c in claims if c.status in OPEN_CLAIM_STATUSES]
    return open_claims[0].claim_number if open_claims else ""


def _audit(session: SessionState, claim: str, attachments: list[dict[str, Any]]) -> None:
    try:
        audit.record(
            f"session:{session.name}",
            "upload.linked",
            session.name,
            {"claim_number": claim, "files": [str(a.get("name") or "") for a in attachments]},
            subject_is_name=True,
        )
    except Exception:  # noqa: BLE001 - the acknowledgement must still go out
        log.exception("audit write failed for upload.linked")
