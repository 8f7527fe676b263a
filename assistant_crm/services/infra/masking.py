"""Masking of personal identifiers for logs, audit entries and LLM prompts."""

from __future__ import annotations

import re

# NRC: six digits, two digits, one digit, with or without slashes/spaces.
NRC_RE = re.compile(r"(?<!\d)(\d{6})\s*[/\\\- ]?\s*(\d{2})\s*[/\\\- ]?\s*(\d)(?!\d)")
# Phone numbers: +260 / 260 / 0 followed by 9 digits (spaces or dashes allowed), or any long digit run.
PHONE_RE = re.compile(r"(?<![\w/-])(\+?\d[\d \-]{7,16}\d)(?![\w/])")


def mask_nrc(nrc: str) -> str:
    """``123456/78/1`` -> ``******/**/1``-style: keep only the last digit."""
    m = NRC_RE.search(nrc or "")
    if not m:
        return "***" if nrc else ""
    return f"******/**/{m.group(3)}"


def mask_phone(phone: str) -> str:
    """``+260971234567`` -> ``+260 97*** **67`` (country and operator prefix, last two digits)."""
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return ""
    if len(digits) < 6:
        return "*" * len(digits)
    if digits.startswith("260") and len(digits) == 12:
        return f"+260 {digits[3:5]}*** **{digits[-2:]}"
    return f"{'+' if (phone or '').strip().startswith('+') else ''}{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def mask_text(text: str) -> str:
    """Mask every NRC and phone number found in free text."""
    if not text:
        return text
    out = NRC_RE.sub(lambda m: f"******/**/{m.group(3)}", text)
    return PHONE_RE.sub(
        lambda m: mask_phone(m.group(1)) if len(re.sub(r"\D", "", m.group(1))) >= 9 else m.group(1), out
    )
