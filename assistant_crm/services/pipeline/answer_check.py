"""Is the model's answer grounded? Every figure in it must come from the facts.

Gemini rewrites a template answer built from the knowledge base and the
verified person's own records. An answer it may send holds no amount (in
digits or in words: "45000 kwacha", "ninety thousand kwacha"), date, claim or
employer number, phone number or NRC that is not in those grounded facts, and
does not talk about its own instructions. Anything else falls back to the
template answer (issue 12.7).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from assistant_crm.services.infra.masking import EXAMPLE_NRC, NRC_RE, PHONE_RE
from assistant_crm.services.pipeline.normalise import find_claim_numbers, fold

_EMPLOYER_RE = re.compile(r"(?<![A-Za-z0-9])EMP[\s\-_/]?(\d{3,8})(?!\d)", re.IGNORECASE)
# Digits grouped by thousands with commas or spaces ("90,000.00", "90 000"), or a plain run.
_NUMBER_RE = re.compile(r"(?<![\d.])(\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?!\d)")
_CLAIM_RE = re.compile(r"(?<![A-Za-z0-9])CLM[\s\-_/]?\d{4}[\s\-_/]?\d{5}(?!\d)", re.IGNORECASE)
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b"), ("d", "m", "y")),
    (
        re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({_MONTH_ALT})\.?,?\s+(\d{{4}})\b", re.I),
        ("d", "M", "y"),
    ),
    (
        re.compile(rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I),
        ("M", "d", "y"),
    ),
]
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD_RE = re.compile(r"[a-z]+", re.I)
_TALKS_ABOUT_ITSELF = re.compile(
    r"system (?:prompt|instruction|message)|my (?:instructions|rules|prompt)|rules you always follow"
    r"|\bDRAFT ANSWER\b|\bUSER MESSAGE\b|\bFACTS \(|\bKNOWLEDGE \(",
    re.IGNORECASE,
)
# Plain small counts ("1.", "step 2", "3 days") are not figures worth refusing for.
_SMALL = Decimal(10)


def problem(answer: str, grounded: str) -> str | None:
    """Why ``answer`` may not be sent given the ``grounded`` text, or None."""
    text = fold(answer)
    ground = fold(grounded)
    if _TALKS_ABOUT_ITSELF.search(text):
        return "answer talks about its instructions"
    if any(m.group(0) != EXAMPLE_NRC or EXAMPLE_NRC not in ground for m in NRC_RE.finditer(text)):
        return "answer contains an NRC number"  # (the format's example, when the facts show it, is no one's)
    allowed_claims = set(find_claim_numbers(ground))
    if any(c not in allowed_claims for c in find_claim_numbers(text)):
        return "answer contains a claim number not in the facts"
    allowed_emp = {m.group(1) for m in _EMPLOYER_RE.finditer(ground)}
    if any(m.group(1) not in allowed_emp for m in _EMPLOYER_RE.finditer(text)):
        return "answer contains an employer number not in the facts"
    ground_phones = {re.sub(r"\D", "", m.group(0)) for m in PHONE_RE.finditer(ground)}
    for m in PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) >= 9 and digits not in ground_phones:
            return "answer contains a phone number not in the facts"
    if not dates(text) <= dates(ground):
        return "answer contains a date not in the facts"
    allowed = numbers(_without_ids(ground))
    for value in numbers(_without_ids(text)):
        if value > _SMALL and value not in allowed:
            return "answer contains an amount or number not in the facts"
    return None


def _without_ids(text: str) -> str:
    """Claim and employer numbers and phones are checked on their own; blank them
    so their digits are not read as amounts."""
    text = _EMPLOYER_RE.sub(" ", _CLAIM_RE.sub(" ", text))
    return PHONE_RE.sub(" ", text)


def dates(text: str) -> set[date]:
    """Calendar dates written in ``text`` (ISO, d/m/y, "3 March 2026", "March 3, 2026")."""
    found: set[date] = set()
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups(), strict=True))
            try:
                month = _MONTHS[parts["M"].lower()] if "M" in parts else int(parts["m"])
                found.add(date(int(parts["y"]), month, int(parts["d"])))
            except (KeyError, ValueError):
                continue
    return found


def numbers(text: str) -> set[Decimal]:
    """Every number in ``text``: digit groups ("90,000.00" = 90000) and number words."""
    out: set[Decimal] = set()
    for m in _NUMBER_RE.finditer(text):
        try:
            out.add(Decimal(re.sub(r"[, ]", "", m.group(1))).normalize())
        except InvalidOperation:
            continue
    out |= word_numbers(text)
    return out


def word_numbers(text: str) -> set[Decimal]:
    """Numbers written in English words: "ninety thousand" = 90000, "two hundred and five" = 205."""
    out: set[Decimal] = set()
    total = current = 0
    in_number = False

    def flush() -> None:
        nonlocal total, current, in_number
        if in_number:
            out.add(Decimal(total + current))
        total = current = 0
        in_number = False

    for m in _WORD_RE.finditer(text.replace("-", " ")):
        w = m.group(0).lower()
        if w in _UNITS:
            current += _UNITS[w]
            in_number = True
        elif w in _TENS:
            current += _TENS[w]
            in_number = True
        elif w == "hundred" and in_number:
            current = max(current, 1) * 100
        elif w in _SCALES and in_number:
            total += max(current, 1) * _SCALES[w]
            current = 0
        elif w == "and" and in_number:
            continue
        else:
            flush()
    flush()
    return out
