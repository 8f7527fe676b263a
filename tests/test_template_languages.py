"""One language per conversation (issue 11, part 6): every template key in
English, Bemba and Nyanja; Tonga and Lozi for greeting, verification and
hand-off; each translation keeps the English placeholders, numbers and
quick-reply count.

The keys come from the fixture itself and from ``tests/data/template_languages.json``
(the keys whose translations were written and checked). For those keys a
missing translation, a changed placeholder or a wrong number of quick replies
fails; a key added since by another change (before its translations are
checked) is reported by a warning, not a failure.
"""

from __future__ import annotations

import json
import re
import string
import warnings
from pathlib import Path

import pytest

from assistant_crm.services.pipeline import templates

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "assistant_crm" / "fixtures" / "response_template.json"
COVERED = json.loads((Path(__file__).parent / "data" / "template_languages.json").read_text(encoding="utf-8"))
LOCAL = ("bem", "nya", "toi", "loz")
LABEL_LIMIT = 20  # a WhatsApp reply button's title
# Labels longer than a button title, written before this check existed; the
# hand-off code matches them by their full text (services/dialogue/handoff.py).
KNOWN_LONG_LABELS = {"Bwelela kuli kafwilisha", "Bwererani kwa wothandiza"}


def _rows() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _placeholders(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _labels(row: dict) -> list[str]:
    return [q for q in str(row.get("quick_replies") or "").splitlines() if q.strip()]


def _by_key_language() -> dict[tuple[str, str, str], dict]:
    return {(r["template_key"], r["language"], r["channel"]): r for r in _rows()}


def _covered(key: str, language: str) -> bool:
    return key in COVERED["toi_loz" if language in ("toi", "loz") else "bem_nya"]


def _local_rows(covered: bool = True) -> list[tuple[dict, dict]]:
    """(local row, the English row it translates) for the non-English rows of
    the covered keys (or, with ``covered=False``, of the keys not yet covered)."""
    rows = _by_key_language()
    pairs = []
    for (key, language, channel), row in rows.items():
        if language == "en" or _covered(key, language) != covered:
            continue
        english = rows.get((key, "en", channel)) or rows.get((key, "en", "all"))
        assert english is not None, f"{row['name']}: no English row for {key}"
        pairs.append((row, english))
    return pairs


def test_the_covered_lists_name_real_keys():
    english = {r["template_key"] for r in _rows() if r["language"] == "en"}
    assert set(COVERED["bem_nya"]) <= english, set(COVERED["bem_nya"]) - english
    assert set(COVERED["toi_loz"]) <= set(COVERED["bem_nya"])
    # The greeting, verification and hand-off families are all in the Tonga/Lozi list.
    family = re.compile(
        r"^(greeting|goodbye|verify_|otp_|verified$|logout$|session_expired$|escalation|handoff_)"
    )
    assert {k for k in COVERED["bem_nya"] if family.match(k)} <= set(COVERED["toi_loz"])


@pytest.mark.parametrize("language", ["bem", "nya"])
def test_every_covered_key_has_bemba_and_nyanja(language):
    rows = _by_key_language()
    missing = [k for k in COVERED["bem_nya"] if (k, language, "all") not in rows]
    assert not missing, f"no {language} row for {missing}"
    for key in COVERED["bem_nya"]:
        assert (key, "en", "all") in rows, key


@pytest.mark.parametrize("language", ["toi", "loz"])
def test_greeting_verification_and_handoff_have_tonga_and_lozi(language):
    rows = _by_key_language()
    missing = [k for k in COVERED["toi_loz"] if (k, language, "all") not in rows]
    assert not missing, f"no {language} row for {missing}"


def test_keys_added_since_are_reported():
    """New English keys without Bemba or Nyanja yet: a warning, so the gap is
    visible in the test output without failing someone else's change."""
    rows = _by_key_language()
    english = sorted({k for (k, language, _c) in rows if language == "en"})
    gaps = [
        f"{k}-{lang}"
        for k in english
        if k not in COVERED["bem_nya"]
        for lang in ("bem", "nya")
        if (k, lang, "all") not in rows
    ]
    if gaps:
        warnings.warn(f"templates without a translation yet: {', '.join(gaps)}", stacklevel=1)
    assert all(isinstance(g, str) for g in gaps)


def _problems(row: dict, english: dict) -> list[str]:
    """What is wrong with one translation (empty when nothing is)."""
    name = row["name"]
    found = []
    if row["language"] not in LOCAL:
        found.append(f"{name}: unknown language")
    if name != f"{row['template_key']}-{row['language']}-{row['channel']}":
        found.append(f"{name}: name is not <key>-<language>-<channel>")
    if row.get("intent") != english.get("intent"):
        found.append(f"{name}: intent differs from the English row")
    if _placeholders(row["body"]) != _placeholders(english["body"]):
        found.append(f"{name}: placeholders {_placeholders(row['body'])} != {_placeholders(english['body'])}")
    for number in re.findall(r"\d+(?:/\d+)*", english["body"]):
        if number not in row["body"]:
            found.append(f"{name}: number {number} missing")
    for keyword in ("WCFCB", "RESEND", "NRC"):
        if keyword in english["body"] and keyword not in row["body"]:
            found.append(f"{name}: {keyword} missing")
    labels = _labels(row)
    if len(labels) != len(_labels(english)):
        found.append(f"{name}: {len(labels)} quick replies, English has {len(_labels(english))}")
    for label in labels:
        if len(label) > LABEL_LIMIT and label not in KNOWN_LONG_LABELS:
            found.append(f"{name}: label {label!r} longer than {LABEL_LIMIT}")
        if _placeholders(label):
            found.append(f"{name}: placeholder in label {label!r}")
    return found


def test_translations_keep_placeholders_numbers_and_quick_replies():
    pairs = _local_rows()
    assert {row["language"] for row, _ in pairs} == set(LOCAL)
    problems = [p for row, english in pairs for p in _problems(row, english)]
    assert not problems, "\n".join(problems)


def test_translations_not_yet_covered_are_reported():
    """Rows of keys added since the list was written: their problems are a
    warning until the key is checked and added to the list."""
    problems = [p for row, english in _local_rows(covered=False) for p in _problems(row, english)]
    if problems:
        warnings.warn("translations to check: " + "; ".join(problems), stacklevel=1)
    assert all(isinstance(p, str) for p in problems)


def test_bemba_and_nyanja_differ_from_english_where_there_are_words():
    """A row that is only placeholders and punctuation may equal the English;
    one with English words in it must have been translated."""
    for row, english in _local_rows():
        words = re.sub(r"\{[^}]*\}", "", english["body"])
        if re.search(r"[A-Za-z]{3,}", words):
            assert row["body"] != english["body"], row["name"]


@pytest.mark.parametrize("language", LOCAL)
def test_a_local_conversation_renders_in_its_language(language):
    """The shipped text for a local language is chosen over English and filled."""
    text = templates.render("verified", language=language, data={"first_name": "Mutale"}).text
    english = templates.render("verified", language="en", data={"first_name": "Mutale"}).text
    assert "Mutale" in text and text != english
    r = templates.render(
        "handoff_available", language=language, data={"queue_position": 3, "wait_minutes": 12}
    )
    assert "3" in r.text and "12" in r.text
    assert "{" not in r.text


@pytest.mark.parametrize("language", ["bem", "nya"])
def test_live_data_lines_render_in_bemba_and_nyanja(language):
    line = templates.render(
        "payment_line_scheduled",
        language=language,
        data={"amount": "K1,250.00", "kind": "monthly pension", "date": "30 November 2026", "by": ""},
    ).text
    assert "K1,250.00" in line and "30 November 2026" in line
    assert not line.startswith("Next payment")
    header = templates.render("claim_status", language=language, data={"first_name": "Mutale", "plural": ""})
    assert "Mutale" in header.text and len(header.quick_replies) == 2


@pytest.mark.parametrize(("language", "several"), [("bem", "ma claim yenu"), ("nya", "ma claim anu")])
def test_claim_headers_read_naturally_in_bemba_and_nyanja(language, several):
    # One claim or several: never an English plural "s" glued to "claim".
    one = templates.render("claim_status", language=language, data={"first_name": "Mutale"})
    many = templates.render("claim_status_several", language=language, data={"first_name": "Mutale"})
    assert "claims" not in one.text and "claims" not in many.text
    assert several in many.text and "Mutale" in many.text
