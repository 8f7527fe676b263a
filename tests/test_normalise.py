"""Stage 1: cleaning text and finding identifiers."""

from __future__ import annotations

import pytest

from assistant_crm.services.pipeline.normalise import (
    MAX_LENGTH,
    clean_text,
    find_claim_numbers,
    find_nrcs,
    find_otp,
    find_phones,
    normalise,
    to_e164,
)


def test_trims_and_collapses_whitespace():
    text, truncated = clean_text("   hello \t\t  there  \n\n\n\n  friend  ")
    assert text == "hello there\n\nfriend"
    assert truncated is False


def test_strips_control_characters_but_keeps_emoji_and_rtl():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joined with ZWJ
    rtl = "\u200fمرحبا بالعالم"
    text, _ = clean_text(f"hi\x00\x07\x1b[31m {family} {rtl} ❤️")
    assert "\x00" not in text and "\x07" not in text and "\x1b" not in text
    assert family in text
    assert rtl in text
    assert "❤️" in text


def test_caps_length():
    text, truncated = clean_text("a" * (MAX_LENGTH + 50))
    assert len(text) == MAX_LENGTH
    assert truncated is True


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("my nrc is 123456/78/1", ["123456/78/1"]),
        ("NRC 123456781 please", ["123456/78/1"]),
        ("nrc: 123456 78 1", ["123456/78/1"]),
        ("two: 111111/11/1 and 222222/61/3", ["111111/11/1", "222222/61/3"]),
        ("call 0971234567", []),
        ("1234567890123", []),
    ],
)
def test_finds_nrc_numbers(raw, expected):
    assert find_nrcs(raw) == expected


def test_finds_claim_numbers_in_canonical_form():
    assert find_claim_numbers("status of clm-2025-00871 and CLM 2024 00012?") == [
        "CLM-2025-00871",
        "CLM-2024-00012",
    ]
    assert find_claim_numbers("CLM-25-871") == []


def test_finds_phone_numbers_as_e164():
    assert find_phones("call me on 0971234567 or +260 96 123 4567") == ["+260971234567", "+260961234567"]
    assert find_phones("260771234567") == ["+260771234567"]
    # An NRC is not a phone number.
    assert find_phones("123456/78/1") == []
    assert to_e164("0971234567") == "+260971234567"
    assert to_e164("12") == ""


def test_finds_a_six_digit_code_alone():
    assert find_otp("my code is 482913") == "482913"
    assert find_otp("482913") == "482913"
    assert find_otp("123456/78/1") is None  # part of an NRC
    assert find_otp("0971234567") is None  # part of a phone
    assert find_otp("111111 or 222222") is None  # ambiguous


def test_normalise_bundles_everything():
    n = normalise(
        "  Hi,\x00 NRC 123456/78/1 claim CLM-2025-00871 phone 0971234567 code 654321 ", detect_language=False
    )
    assert n.text.startswith("Hi, NRC")
    assert n.nrcs == ["123456/78/1"]
    assert n.claim_numbers == ["CLM-2025-00871"]
    assert n.phones == ["+260971234567"]
    assert n.otp_code == "654321"
    assert n.language == "en"


def test_normalise_detects_language(rt):
    pytest.importorskip("assistant_crm.services.pipeline.language")
    assert normalise("Mwapoleni mukwai, muli shani?").language == "bem"
    assert normalise("Hello, how do I report an accident?").language == "en"
