"""When the Board's staff are at work: opening hours and holidays from Settings.

Settings (plain text, so the same value works in the Frappe desk, the
environment and a JSON file):

* ``business_hours``: one window per line, days then times, e.g.
  ``Mon-Fri 08:00-17:00`` and ``Sat 08:00-12:00``. Days are ``Mon`` .. ``Sun``,
  as a range (``Mon-Fri``), a list (``Mon,Wed``) or ``Daily``;
  ``Daily 00:00-24:00`` is always (an empty field takes the DocType default).
* ``business_holidays``: one date per line, ``YYYY-MM-DD`` and an optional
  name (``2026-12-25 Christmas Day``): closed all day.
* ``business_timezone``: an IANA zone, ``Africa/Lusaka`` by default.

Every function here takes and returns naive datetimes as the engine's clock
gives them: UTC standalone, the site's time zone under Frappe
(``times.store_zone()``), and converts to the Board's local time inside.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant_crm.services.infra.times import store_zone

log = logging.getLogger("assistant_crm.business_hours")

DEFAULT_TIMEZONE = "Africa/Lusaka"
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LINE_RE = re.compile(
    r"^\s*(?P<days>[A-Za-z][A-Za-z,\s\-]*?)\s+(?P<start>\d{1,2}[:.]\d{2})\s*[-–]\s*(?P<end>\d{1,2}[:.]\d{2})\s*$"
)
_HOLIDAY_RE = re.compile(r"^\s*(?P<day>\d{4}-\d{2}-\d{2})\b\s*(?P<name>.*)$")


@dataclass(frozen=True)
class BusinessHours:
    """Opening windows per weekday (0 = Monday), holidays and the local zone."""

    windows: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: dict[date, str] = field(default_factory=dict)
    tz: tzinfo = timezone.utc
    lines: tuple[str, ...] = ()  # the windows as written, for messages

    @property
    def always_open(self) -> bool:
        return not self.windows

    def describe(self) -> str:
        """The opening hours as people read them: "Mon-Fri 08:00-17:00; Sat 08:00-12:00"."""
        return "; ".join(self.lines)

    def _local(self, now: datetime) -> datetime:
        # Naive clock time is in the store's zone: taking it for UTC put a Zambian
        # Frappe site's office hours two hours early.
        return now.replace(tzinfo=store_zone()).astimezone(self.tz)

    def _to_clock(self, local: datetime) -> datetime:
        return local.astimezone(store_zone()).replace(tzinfo=None)

    def is_holiday(self, now: datetime) -> bool:
        return self._local(now).date() in self.holidays

    def is_open(self, now: datetime) -> bool:
        """Whether staff are at work at ``now`` (naive clock time)."""
        return self.open_since(now) is not None

    def open_since(self, now: datetime) -> datetime | None:
        """When the current opening window began (naive clock time), or None when closed.
        Always open: the start of time, so waits count from when they began."""
        if self.always_open:
            return datetime.min
        local = self._local(now)
        if local.date() in self.holidays:
            return None
        for start, end in self.windows.get(local.weekday(), ()):
            if start <= local.time() < end:
                return self._to_clock(datetime.combine(local.date(), start, tzinfo=self.tz))
        return None

    def next_opening(self, now: datetime) -> datetime | None:
        """The next time staff are at work after ``now`` (naive clock time); None when always open
        or no window is configured in the next two weeks (all holidays)."""
        if self.always_open:
            return None
        local = self._local(now)
        for offset in range(15):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _end in self.windows.get(day.weekday(), ()):
                opening = datetime.combine(day, start, tzinfo=self.tz)
                if opening > local:
                    return self._to_clock(opening)
        return None

    def local_label(self, when: datetime) -> str:
        """A local time as "Mon 08:00"."""
        local = self._local(when)
        return f"{_DAY_NAMES[local.weekday()]} {local:%H:%M}"


def _zone(name: str, bad: list[str] | None = None) -> tzinfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("business hours: unknown time zone %r; using UTC+02:00 (Zambia)", name)
        if bad is not None:
            bad.append(name)
        return timezone(timedelta(hours=2))


def _days(text: str) -> list[int] | None:
    text = text.strip().lower()
    if text in ("daily", "every day", "all"):
        return list(range(7))
    out: list[int] = []
    for part in re.split(r"\s*,\s*", text):
        bounds = [b.strip()[:3] for b in re.split(r"\s*-\s*", part)]
        if not all(b in _DAYS for b in bounds) or len(bounds) > 2:
            return None
        first, last = _DAYS[bounds[0]], _DAYS[bounds[-1]]
        day = first
        while True:
            out.append(day)
            if day == last:
                break
            day = (day + 1) % 7
    return out


def _clock(text: str) -> time | None:
    hours, minutes = (int(p) for p in re.split(r"[:.]", text))
    if hours == 24 and minutes == 0:
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        return None
    return time(hours, minutes)


def problems(
    hours_text: str | None, holidays_text: str | None = None, tz_name: str | None = None
) -> list[str]:
    """What cannot be read in the Settings text (for the Settings form to refuse it)."""
    bad: list[str] = []
    parse(hours_text, holidays_text, tz_name, bad=bad)
    return bad


def parse(
    hours_text: str | None,
    holidays_text: str | None = None,
    tz_name: str | None = None,
    *,
    bad: list[str] | None = None,
) -> BusinessHours:
    """Read the Settings text; a line that cannot be read is skipped with a warning
    (a typo must not close the office) and added to ``bad`` when given."""
    bad = [] if bad is None else bad
    windows: dict[int, list[tuple[time, time]]] = {}
    lines: list[str] = []
    for raw in (hours_text or "").splitlines():
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        m = _LINE_RE.match(raw)
        days = _days(m.group("days")) if m else None
        start = _clock(m.group("start")) if m else None
        end = _clock(m.group("end")) if m else None
        if not m or days is None or start is None or end is None or start >= end:
            log.warning("business hours: cannot read line %r (expected e.g. 'Mon-Fri 08:00-17:00')", raw)
            bad.append(raw.strip())
            continue
        for day in days:
            windows.setdefault(day, []).append((start, end))
        lines.append(" ".join(raw.split()))
    holidays: dict[date, str] = {}
    for raw in (holidays_text or "").splitlines():
        if not raw.strip():
            continue
        m = _HOLIDAY_RE.match(raw)
        try:
            day = date.fromisoformat(m.group("day")) if m else None
        except ValueError:
            day = None
        if day is None:
            log.warning("business holidays: cannot read line %r (expected e.g. '2026-12-25 Christmas')", raw)
            bad.append(raw.strip())
            continue
        holidays[day] = m.group("name").strip() if m else ""
    return BusinessHours(
        windows={d: tuple(sorted(w)) for d, w in windows.items()},
        holidays=holidays,
        tz=_zone(tz_name or DEFAULT_TIMEZONE, bad),
        lines=tuple(lines),
    )


def from_settings() -> BusinessHours:
    """The Board's hours as configured now."""
    from assistant_crm.services.infra.ports import get_runtime

    s = get_runtime().settings
    return parse(s.str("business_hours"), s.str("business_holidays"), s.str("business_timezone"))
