"""Message splitting and SMS segment counting."""

from __future__ import annotations

from assistant_crm.services.delivery.segments import (
    fit_sms,
    is_gsm7,
    sms_info,
    split_for_channel,
    split_text,
    utf16_len,
)

WORDS = "Your claim is under review by the Board and a decision is expected soon. "


def test_short_text_is_one_part_unchanged():
    assert split_text("Hello 👋", 10) == ["Hello 👋"]


def test_split_keeps_every_word_in_order_and_within_limit():
    text = (WORDS * 80).strip()  # ~5,800 characters
    parts = split_text(text, 2000)
    assert len(parts) == 3
    assert all(len(p) <= 2000 for p in parts)
    assert " ".join(parts).split() == text.split()
    # Split on a word (here sentence) boundary, never inside a word.
    assert all(p.endswith(".") for p in parts[:-1])


def test_split_prefers_paragraph_breaks():
    a, b = "A" * 60, "B " * 30
    parts = split_text(a + "\n\n" + b.strip(), 100)
    assert parts == [a, b.strip()]


def test_split_hard_cuts_a_word_longer_than_the_limit():
    parts = split_text("x" * 250, 100)
    assert parts == ["x" * 100, "x" * 100, "x" * 50]


def test_whatsapp_5000_characters_are_two_parts():
    text = ("abcd " * 1000).strip()
    parts = split_for_channel(text, "whatsapp")
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_telegram_counts_emoji_as_two_units():
    text = "😀" * 3000  # 3,000 code points, 6,000 UTF-16 units
    parts = split_for_channel(text, "telegram")
    assert len(parts) == 2
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts) == text  # no surrogate pair broken


def test_whatsapp_interactive_last_part_capped():
    text = ("word " * 400).strip()  # 1,999 characters
    parts = split_for_channel(text, "whatsapp", last_limit=1024)
    assert len(parts) == 2 and len(parts[-1]) <= 1024


def test_gsm7_detection_and_extension_characters():
    assert is_gsm7("Hello @ £5 {ok} €")
    assert not is_gsm7("Hello 😀")
    assert not is_gsm7("مرحبا")
    info = sms_info("€" * 80)  # each € is two septets
    assert info.encoding == "GSM-7" and info.units == 160 and info.segments == 1
    assert sms_info("€" * 81).segments == 2


def test_gsm7_segment_boundaries():
    assert sms_info("a" * 160).segments == 1
    assert sms_info("a" * 161).segments == 2
    assert sms_info("a" * 306).segments == 2
    assert sms_info("a" * 307).segments == 3


def test_ucs2_segment_boundaries_with_emoji():
    assert sms_info("é" * 160).encoding == "GSM-7"  # é is in GSM-7
    info = sms_info("ş" * 70)
    assert info.encoding == "UCS-2" and info.segments == 1
    assert sms_info("ş" * 71).segments == 2
    assert sms_info("ş" * 134).segments == 2
    assert sms_info("ş" * 135).segments == 3
    # An emoji is two UTF-16 units and is not split across segments.
    emoji = sms_info("a" * 66 + "😀" + "a" * 10)
    assert emoji.encoding == "UCS-2" and emoji.units == 78 and emoji.segments == 2


def test_one_emoji_turns_a_gsm_message_into_ucs2():
    plain = "Your claim CLM-2025-00871 is approved. " * 3
    assert sms_info(plain).segments == 1
    assert sms_info(plain + "👍").encoding == "UCS-2"
    assert sms_info(plain + "👍").segments == 2


def test_fit_sms_truncates_with_note_and_ellipsis():
    text = ("Payment of ZMW 1,250 was made. " * 30).strip()
    fit = fit_sms(text, 3)
    assert fit.truncated and fit.original_segments > 3
    assert fit.info.segments <= 3 and fit.info.encoding == "GSM-7"
    assert fit.text.endswith("...") and text.startswith(fit.text[:-3])
    assert "truncated" in fit.note and "sms_max_segments=3" in fit.note


def test_fit_sms_ucs2_uses_unicode_ellipsis():
    text = "Muli shani 🙂 " * 40
    fit = fit_sms(text, 2)
    assert fit.truncated and fit.info.encoding == "UCS-2" and fit.info.segments <= 2
    assert fit.text.endswith("…")


def test_fit_sms_leaves_short_text_alone():
    fit = fit_sms("Hello", 1)
    assert not fit.truncated and fit.text == "Hello" and fit.note == ""
