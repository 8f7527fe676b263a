"""Message splitting for channel limits, and SMS GSM-7 / UCS-2 segmenting.

Chat channels take several messages: long text is split on paragraph, line or
word boundaries into parts no longer than the channel's limit. SMS goes as one
concatenated message whose cost is its segment count: GSM-7 fits 160 septets
in one segment or 153 per segment when concatenated (characters of the
extension table take two septets and are never split across segments); any
character outside GSM-7 switches the whole message to UCS-2, 70 UTF-16 units
or 67 per concatenated segment (a surrogate pair never split).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# GSM 03.38 basic character set (the escape 0x1B excluded) and extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# Characters per message on chat channels (Instagram's Send API takes 1000).
CHANNEL_LIMITS: dict[str, int] = {"whatsapp": 4096, "telegram": 4096, "messenger": 2000, "instagram": 1000}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (how Telegram and UCS-2 count)."""
    return len(text.encode("utf-16-le")) // 2


def length_for(channel: str) -> Callable[[str], int]:
    # Telegram counts UTF-16 units: an emoji is two. Counting that way for
    # Telegram keeps every part under its limit.
    return utf16_len if channel == "telegram" else len


def is_gsm7(text: str) -> bool:
    return GSM7_ALL.issuperset(text)


def _units(text: str, gsm: bool) -> list[int]:
    """Size of each character in encoding units (septets or UTF-16 units)."""
    if gsm:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


@dataclass
class SmsInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def _pack(sizes: list[int], single: int, multi: int) -> int:
    total = sum(sizes)
    if total == 0:
        return 1
    if total <= single:
        return 1
    # Greedy packing: a two-unit character that does not fit opens a new segment.
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def sms_info(text: str) -> SmsInfo:
    """Encoding, size and segment count of ``text`` sent as one SMS."""
    gsm = is_gsm7(text)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    encoding = "GSM-7" if gsm else "UCS-2"
    # Counted in C first: fit_sms calls this a dozen times per long reply, and
    # a loop over the characters was a few percent of a whole message's CPU.
    doubles = sum(text.count(ch) for ch in GSM7_EXTENSION) if gsm else utf16_len(text) - len(text)
    if doubles == 0:  # every character one unit: greedy packing is a division
        units = len(text)
        return SmsInfo(encoding, units, 1 if units <= single else -(-units // multi))
    sizes = _units(text, gsm)
    return SmsInfo(encoding, sum(sizes), _pack(sizes, single, multi))


@dataclass
class SmsFit:
    text: str
    info: SmsInfo
    truncated: bool = False
    original_segments: int = 0
    note: str = ""


def fit_sms(text: str, max_segments: int) -> SmsFit:
    """Cut ``text`` to at most ``max_segments`` segments, ending with an ellipsis.

    The ellipsis is ``...`` for GSM-7 text (the single character ``…`` is not
    in GSM-7 and would turn the message into UCS-2, halving its room).
    """
    max_segments = max(1, int(max_segments))
    info = sms_info(text)
    if info.segments <= max_segments:
        return SmsFit(text=text, info=info, original_segments=info.segments)
    ellipsis = "..." if info.encoding == "GSM-7" else "…"
    lo, hi = 0, len(text)
    # Binary search on the longest prefix that still fits with the ellipsis.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sms_info(text[:mid].rstrip() + ellipsis).segments <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    space = cut.rfind(" ")
    if space > lo * 0.8:  # end on a word when that costs little
        cut = cut[:space]
    if cut and 0xD800 <= ord(cut[-1]) <= 0xDBFF:  # never leave half a surrogate pair
        cut = cut[:-1]
    out = cut.rstrip() + ellipsis
    new_info = sms_info(out)
    note = (
        f"SMS truncated from {info.segments} to {new_info.segments} segments "
        f"({info.encoding}, sms_max_segments={max_segments}); {len(text) - len(cut)} characters dropped"
    )
    return SmsFit(text=out, info=new_info, truncated=True, original_segments=info.segments, note=note)


def _break_at(text: str, limit: int, length: Callable[[str], int]) -> int:
    """Index where to end the next part: the largest prefix within ``limit``,
    moved back to a paragraph, line, sentence or word boundary when one is
    reasonably near the end."""
    # Largest prefix (in characters) whose measured length fits.
    if length is len:
        end = min(limit, len(text))
    else:
        end, used = 0, 0
        for ch in text:
            size = length(ch)
            if used + size > limit:
                break
            used += size
            end += 1
    if end >= len(text):
        return len(text)
    window = text[:end]
    floor = end // 2  # do not make tiny parts just to end on a boundary
    for sep in ("\n\n", "\n", ". ", "! ", "? ", " "):
        pos = window.rfind(sep)
        if pos >= floor:
            return pos + len(sep.rstrip(" ")) if sep.strip() else pos
    return max(1, end)


def split_text(text: str, limit: int, length: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (measured by ``length``),
    on word boundaries where possible. Whitespace at a split is dropped; the
    content is otherwise kept exactly."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    text = text or ""
    if length(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while rest:
        if length(rest) <= limit:
            parts.append(rest)
            break
        cut = _break_at(rest, limit, length)
        head = rest[:cut].rstrip()
        if not head:  # only whitespace before the cut: hard cut instead
            head, cut = rest[:limit], limit
        parts.append(head)
        rest = rest[cut:].lstrip()
    return parts


def split_for_channel(text: str, channel: str, last_limit: int | None = None) -> list[str]:
    """Parts of ``text`` for a chat channel. ``last_limit`` caps the final part
    (WhatsApp interactive messages carry at most 1024 characters of body)."""
    limit = CHANNEL_LIMITS.get(channel, 4096)
    length = length_for(channel)
    parts = split_text(text, limit, length)
    if last_limit and length(parts[-1]) > last_limit:
        parts = parts[:-1] + split_text(parts[-1], last_limit, length)
    return parts
