"""Masking of personal identifiers for logs, audit entries, stored text and LLM prompts.

One set of patterns, shared with the parser (``pipeline.normalise``), applied
after the same folding (NFKC, every decimal digit to ASCII): an NRC written
``214563.11.1``, ``214563_11_1`` or ``2 1 4 5 6 3 / 1 1 / 1`` and a phone
written ``(097) 1234567`` or ``00260971234567`` are masked like their plain forms.
"""

from __future__ import annotations

import re

from assistant_crm.services.pipeline.normalise import (
    NRC_PATTERN,
    PHONE_CANDIDATE_PATTERN,
    fold,
    nrc_from_match,
    to_e164,
)

NRC_RE = re.compile(NRC_PATTERN)
PHONE_RE = re.compile(PHONE_CANDIDATE_PATTERN)
# A one-time code as people type it: six digits alone, maybe split 3+3.
CODE_RE = re.compile(r"(?<![\w/+\-.])(\d{3})[ \-]?(\d{3})(?![\w/\-])")
MASKED_NRC_PREFIX = "******/**/"
MASKED_CODE = "******"
# The made-up NRC that articles and templates show as the format ("type it like
# 123456/78/1"). Public text (a knowledge passage) may keep it: an answer about
# the NRC format needs it whole. A person's message never does.
EXAMPLE_NRC = "123456/78/1"


def mask_nrc(nrc: str) -> str:
    """``123456/78/1`` -> ``******/**/1``-style: keep only the last digit."""
    m = NRC_RE.search(fold(nrc))
    if not m:
        return "***" if nrc else ""
    return MASKED_NRC_PREFIX + nrc_from_match(m)[-1]


def mask_phone(phone: str) -> str:
    """``+260971234567`` -> ``+260 97*** **67`` (country and operator prefix, last two digits)."""
    raw = fold(phone)
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return ""
    if len(digits) < 6:
        return "*" * len(digits)
    e164 = to_e164(raw) or (to_e164("+" + digits[2:]) if digits.startswith("00") else "")
    if e164:
        digits = e164[1:]
    if digits.startswith("260") and len(digits) == 12:
        return f"+260 {digits[3:5]}*** **{digits[-2:]}"
    plus = "+" if raw.strip().startswith("+") or e164 else ""
    return f"{plus}{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def _looks_like_phone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 9 <= len(digits) <= 15:
        return False
    head = candidate.lstrip(" (")
    # Written like a phone number (international or trunk prefix), or a valid one.
    return head.startswith(("+", "00", "0", "260")) or bool(to_e164(candidate))


def mask_text(text: str, keep_example: bool = False) -> str:
    """Mask every NRC and phone number found in free text (after folding);
    ``keep_example`` leaves the format's example NRC (for public text only)."""
    if not text:
        return text

    def nrc(m: re.Match) -> str:
        return m.group(0) if keep_example and m.group(0) == EXAMPLE_NRC else MASKED_NRC_PREFIX + m.group(3)

    out = NRC_RE.sub(nrc, fold(text))
    return PHONE_RE.sub(_mask_phone_match, out)


def _mask_phone_match(m: re.Match) -> str:
    found = m.group(0)
    if not _looks_like_phone(found):
        return found
    lead = found[: len(found) - len(found.lstrip())]
    return lead + mask_phone(found)


def mask_nrcs(text: str) -> str:
    """Mask every NRC (only) in free text, after folding: for stored chat text,
    where a phone number a person gives to be called back must stay readable."""
    if not text:
        return text
    return NRC_RE.sub(lambda m: MASKED_NRC_PREFIX + m.group(3), fold(text))


def mask_codes(text: str) -> str:
    """Blank out anything shaped like a one-time code (six digits alone, or 3+3)."""
    if not text:
        return text
    return CODE_RE.sub(MASKED_CODE, fold(text))
