"""Stage 1 of the reply pipeline: clean a message and pull out identifiers.

The text a person typed is kept as they meant it: emoji (with their joiners and
variation selectors) and right-to-left text pass through untouched, only
control characters are dropped and runs of whitespace collapsed. Identifiers the
later stages need (NRC numbers, claim numbers, phone numbers, a one-time code)
are found here once, in canonical form.

Every function here that reads identifiers first folds the text (:func:`fold`):
NFKC, then every Unicode decimal digit to its ASCII digit, so ``３０５８１２/６１/１``
and ``٣٠٥٨١٢/٦١/١`` are the same NRC as ``305812/61/1`` for parsing, masking,
hashing and lockouts alike (issue 12.2).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

import phonenumbers

MAX_LENGTH = 2000

# The shared identifier patterns (parsing here, masking in ``infra.masking``).
# NRC: six, two and one digits, separated by slashes, backslashes, dashes,
# underscores, dots or spaces, or not at all; the digits of a group may be
# typed one by one with single spaces ("2 1 4 5 6 3 / 1 1 / 1"). A run that
# starts right after "<digit><space>" or a "+" belongs to a longer number, and
# one followed by a letter is part of a longer token (a hash, a reference).
NRC_PATTERN = (
    r"(?<![\d/+])(?<!\d )(\d(?: ?\d){5}) *[/\\\-_.]? *(\d ?\d) *[/\\\-_.]? *(\d)(?![0-9A-Za-z/])(?! \d)"
)
# A phone-number candidate: optional + or 00, digits with spaces, dashes or
# dots between them, and the trunk prefix maybe in brackets ("(097) 1234567", "00260 97 123 4567").
PHONE_CANDIDATE_PATTERN = r"(?<![\w/+\-.,])(?:\+|00)? ?(?:\(\d{2,4}\) ?)?\d[\d \-.]{5,20}\d(?![\w/])"
_NRC_RE = re.compile(NRC_PATTERN)
_CLAIM_RE = re.compile(r"(?<![A-Za-z0-9])CLM[\s\-_/]?(\d{4})[\s\-_/]?(\d{5})(?!\d)", re.IGNORECASE)
# A one-time code: exactly six digits standing alone (not part of an NRC or phone number).
_OTP_RE = re.compile(r"(?<![\d/+\-])(\d{6})(?![\d/\-])")
_HSPACE_RE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")


def fold(text: str) -> str:
    """NFKC, then every Unicode decimal digit (category Nd, any script) to ASCII.

    The one shared step before any parsing, masking, hashing or lockout: without
    it ``\\d`` matches full-width or Arabic-Indic digits that were never turned
    into ASCII, and the same NRC has many spellings. Lone surrogates are dropped
    (they cannot be stored or encoded).
    """
    text = unicodedata.normalize("NFKC", text or "")
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif "\ud800" <= ch <= "\udfff":
            continue
        else:
            digit = unicodedata.decimal(ch, None)
            out.append(str(digit) if digit is not None else ch)
    return "".join(out)


@dataclass
class Normalised:
    """A cleaned message and what was found in it."""

    text: str
    language: str = "en"
    nrcs: list[str] = field(default_factory=list)  # canonical NNNNNN/NN/N
    claim_numbers: list[str] = field(default_factory=list)  # canonical CLM-YYYY-NNNNN
    phones: list[str] = field(default_factory=list)  # E.164
    otp_code: str | None = None
    truncated: bool = False


def clean_text(text: str, max_length: int = MAX_LENGTH) -> tuple[str, bool]:
    """Trim, drop control characters, collapse whitespace, cap the length.

    Returns (text, truncated). Format characters (Unicode category Cf: zero-width
    joiners in emoji sequences, right-to-left marks) are kept on purpose.
    """
    text = fold(text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\r\t":
            out.append("\n" if ch != "\t" else " ")
        elif cat == "Cc" or cat == "Cs":
            continue  # NUL, escape sequences, lone surrogates
        elif ch in "\u2028\u2029":
            out.append("\n")
        else:
            out.append(ch)
    cleaned = "".join(out).replace("\n\n\n", "\n\n")
    lines = [_HSPACE_RE.sub(" ", line).strip() for line in cleaned.split("\n")]
    cleaned = _MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()
    truncated = len(cleaned) > max_length
    if truncated:
        cleaned = cleaned[:max_length].rstrip()
    return cleaned, truncated


def find_nrcs(text: str) -> list[str]:
    """NRC numbers in canonical ``NNNNNN/NN/N`` form, in order, without repeats."""
    return _unique(nrc_from_match(m) for m in _NRC_RE.finditer(fold(text)))


def nrc_from_match(m: re.Match) -> str:
    """The canonical ``NNNNNN/NN/N`` of an :data:`NRC_PATTERN` match."""
    return "/".join(g.replace(" ", "") for g in m.groups())


def find_claim_numbers(text: str) -> list[str]:
    """Claim numbers in canonical ``CLM-YYYY-NNNNN`` form."""
    return _unique(f"CLM-{m.group(1)}-{m.group(2)}" for m in _CLAIM_RE.finditer(fold(text)))


def find_phones(text: str, region: str = "ZM") -> list[str]:
    """Valid phone numbers as E.164 (local numbers read as Zambian)."""
    # NRC and claim numbers are digit runs too; blank them out first so an NRC
    # is never mistaken for a phone number.
    text = _CLAIM_RE.sub(" ", _NRC_RE.sub(" ", fold(text)))
    found = [
        phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
        for m in phonenumbers.PhoneNumberMatcher(text, region)
    ]
    return _unique(found)


@functools.lru_cache(maxsize=4096)  # a pure function; the same numbers come again (~30 µs a parse)
def to_e164(number: str, region: str = "ZM") -> str:
    """A phone number in E.164 form, or "" when it is not a valid number."""
    raw = fold(number).strip()
    if not raw:
        return ""
    digits = re.sub(r"\D", "", raw)
    # "260971234567" without the plus is common on WhatsApp and SMS gateways.
    if not raw.startswith("+") and digits.startswith("260") and len(digits) == 12:
        raw = "+" + digits
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def find_otp(text: str) -> str | None:
    """A six-digit code standing alone, if the message holds exactly one."""
    stripped = _CLAIM_RE.sub(" ", _NRC_RE.sub(" ", fold(text)))
    codes = _unique(m.group(1) for m in _OTP_RE.finditer(stripped))
    return codes[0] if len(codes) == 1 else None


def normalise(text: str, *, detect_language: bool = True, max_length: int = MAX_LENGTH) -> Normalised:
    """Clean ``text`` and find the identifiers in it (stage 1 of the pipeline)."""
    cleaned, truncated = clean_text(text, max_length)
    language = "en"
    if detect_language and cleaned:
        from assistant_crm.services.pipeline import language as language_mod

        language = language_mod.detect(cleaned) or "en"
    return Normalised(
        text=cleaned,
        language=language,
        nrcs=find_nrcs(cleaned),
        claim_numbers=find_claim_numbers(cleaned),
        phones=find_phones(cleaned),
        otp_code=find_otp(cleaned),
        truncated=truncated,
    )


def _unique(items) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
