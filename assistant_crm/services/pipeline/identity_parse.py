"""Find an NRC number and a full name in what a person typed.

People answer "please give your NRC and full name" in every shape: labelled
("NRC: 123456/78/1, name: Mwila Banda"), unlabelled ("Mwila Banda 123456781"),
in either order, with filler ("my nrc is ... and my names are ..."), with the
NRC's slashes replaced by spaces or left out. This module turns that into an
:class:`IdentityParts`; it never decides whether the details are right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant_crm.services.pipeline.language import is_common_word
from assistant_crm.services.pipeline.normalise import find_nrcs

# An NRC-looking run that is not a valid NRC (wrong digit count), so we can tell
# the person their number looks wrong instead of silently ignoring it.
_NRC_ATTEMPT_RE = re.compile(r"(?<![\w/])\d[\d/\\\- ]{4,14}\d(?![\w/])")
_NRC_ANY_RE = re.compile(r"(?<![\d/])(\d{6})\s*[/\\\- ]?\s*(\d{2})\s*[/\\\- ]?\s*(\d)(?![\d/])")
_CLAIM_RE = re.compile(r"(?<![A-Za-z0-9])CLM[\s\-_/]?\d{4}[\s\-_/]?\d{5}(?!\d)", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’\-]*")

# Words that are never part of a person's name: labels, filler and the most
# common English question words (so "what documents do I need" is not a name).
_NOT_NAME = set(
    """
    my me i im i'm am is are was be been the a an and or of for to in on at with by from it its this that
    these those here there name names full fullname surname firstname first last given called call
    nrc nrc's no number num card id national registration national's please pls plz kindly thanks thank
    you your yours hello hi hey dear sir madam good morning afternoon evening yes no ok okay sure
    what when where which who whom whose why how do does did can could would should will shall may might
    must need needs want wants get got have has had not dont don't cant can't know tell show check give
    claim claims status payment payments pension money paid pay document documents contribution
    contributions employer employers help about regarding re my's also again here's it's that's
    details detail info information verify verification code otp sms message send sent
    mine our we us they them he she him her his hers their so just now today yet still
    ignore rules rule list every all any previous instructions system prompt admin everyone other others
    forget logout sign out stop cancel new another person people records record
    ndine ndi ine ni na nili ishina lyandi dzina langa zina lyangu
    """.split()
)
_MIN_NAME_WORDS = 2
_MAX_NAME_WORDS = 5
# Labels that put a name right after them: "my name is X Y", "names: X Y", "I am X Y",
# "ndine X Y" / "ishina lyandi ni X Y" (Bemba), "dzina langa ndi X Y" (Nyanja).
_NAME_LABEL_RE = re.compile(
    r"(?:\bmy\s+(?:full\s+)?names?(?:\s+(?:is|are))?\b|\b(?:full\s+)?names?\s*[:=\-]|\bi\s+am\b|\bi['’]?m\b"
    r"|\bndine\b|\bishina\s+lyandi(?:\s+ni)?\b|\b(?:dzina|zina)\s+(?:langa|lyangu)(?:\s+ndi(?:ne)?)?\b)\s*[:=\-]?",
    re.IGNORECASE,
)


@dataclass
class IdentityParts:
    """What was found: either part may be missing."""

    nrc: str | None = None  # canonical NNNNNN/NN/N
    full_name: str | None = None  # words as typed, single-spaced, title-cased
    malformed_nrc: bool = False  # something NRC-like that is not a valid NRC

    @property
    def complete(self) -> bool:
        return bool(self.nrc and self.full_name)

    @property
    def empty(self) -> bool:
        return not (self.nrc or self.full_name or self.malformed_nrc)


def parse_identity(text: str) -> IdentityParts:
    """Pull an NRC and a full name out of free text (any order, labelled or not)."""
    text = text or ""
    nrcs = find_nrcs(text)
    nrc = nrcs[0] if len(nrcs) == 1 else None
    rest = _NRC_ANY_RE.sub(" ", text)
    rest = _CLAIM_RE.sub(" ", rest)
    malformed = False
    if nrc is None:
        # Digits shaped like an attempt at an NRC (5+ digits, maybe with slashes).
        for m in _NRC_ATTEMPT_RE.finditer(rest):
            digits = re.sub(r"\D", "", m.group(0))
            if 5 <= len(digits) <= 12 and ("/" in m.group(0) or 7 <= len(digits) <= 11):
                malformed = True
                break
        if len(nrcs) > 1:
            malformed = True  # two different NRCs in one message: ask again
    return IdentityParts(nrc=nrc, full_name=_find_name(rest), malformed_nrc=malformed)


def labelled_name(text: str) -> str | None:
    """The name right after a label ("my name is Mwila Banda", "Name: ...", "I am ..."), else None.

    For a message that is not an answer to the bot's question (the request that
    started verification, or a question): only a name it clearly states counts.
    "I am a pensioner" states none.
    """
    rest = _CLAIM_RE.sub(" ", _NRC_ANY_RE.sub(" , ", text or ""))
    for m in _NAME_LABEL_RE.finditer(rest):
        chunk = re.split(r"[\d,;:.!?()\[\]{}\n/\\|\"]+", rest[m.end() :], maxsplit=1)[0]
        words: list[str] = []
        for word in _WORD_RE.findall(chunk):
            if word.casefold().strip("'’-") in _NOT_NAME or len(word) < 2:
                break
            words.append(word)
        if _is_name(words):
            return " ".join(_title(w) for w in words)
    return None


def _is_name(words: list[str]) -> bool:
    """Enough words for a full name, and not mostly everyday words of English or
    a local language ("Ndefwaya Ukwishiba Pa" is "I want to know about")."""
    if not (_MIN_NAME_WORDS <= len(words) <= _MAX_NAME_WORDS):
        return False
    common = sum(1 for w in words if is_common_word(w))
    return common * 2 <= len(words)


def _find_name(text: str) -> str | None:
    # Cut at digits and punctuation that separate parts ("name: X, nrc ...");
    # the best candidate is the longest run of name-like words.
    best: list[str] = []
    for chunk in re.split(r"[\d,;:.!?()\[\]{}\n/\\|\"]+", text):
        run: list[str] = []
        for word in _WORD_RE.findall(chunk):
            if word.casefold().strip("'’-") in _NOT_NAME or len(word) < 2:
                if len(run) > len(best):
                    best = run
                run = []
                continue
            run.append(word)
        if len(run) > len(best):
            best = run
    if not _is_name(best):
        return None
    return " ".join(_title(w) for w in best)


def _title(word: str) -> str:
    # Keep "McDonald"-style casing the person typed unless it is all one case.
    if word.islower() or word.isupper():
        return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
    return word
