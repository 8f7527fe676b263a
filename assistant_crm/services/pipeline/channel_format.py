"""The format stage: one answer shaped for the channel it goes out on."""

from __future__ import annotations

import re

SMS_MAX_CHARS = 459  # three GSM segments


def format_for_channel(text: str, quick_replies: list[str], channel: str) -> tuple[str, list[str]]:
    """Shape the answer for the channel: quick replies stay buttons on web and the
    messaging apps; on SMS they become numbered options in the text and the
    whole message is kept to three segments."""
    text = (text or "").strip()
    if channel != "sms":
        return text, list(quick_replies)
    text = re.sub(r"[*_`]{1,2}([^*_`]+)[*_`]{1,2}", r"\1", text)  # no markup on SMS
    options = "".join(f"\n{i}. {label}" for i, label in enumerate(quick_replies, start=1))
    budget = SMS_MAX_CHARS - len(options)
    if len(text) > budget:
        cut = text[: budget - 1]
        sentence_end = max(cut.rfind(". "), cut.rfind("\n"))
        text = (cut[: sentence_end + 1] if sentence_end > budget // 2 else cut.rstrip()) + "…"
    return text + options, []
