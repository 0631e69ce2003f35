"""When an institution's humans are at work, and the SLA clock that only ticks while they are.

A schedule is wall-clock hours per weekday in one IANA time zone, minus holidays, plus 调休 make-up workdays (a
Saturday or Sunday worked with a weekday's hours). Every question is answered in real elapsed seconds between aware
instants, so a 09:00–18:00 day is nine hours even on a DST switch day elsewhere, and "24:00" followed by the next
day's "00:00" is one unbroken stretch.

Pure: no database, no HTTP, no business area. Everything scans day by day, so a 30-business-day SLA costs about
forty small steps, not one per minute.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edudesk.errors import DomainError

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# "24:00": the end of the day, contiguous with the next day's 00:00. ``dt.time`` stops at 23:59:59.999999.
END_OF_DAY = dt.time.max
DAY_SECONDS = 86_400
MAX_INTERVALS_PER_DAY = 8
MAX_DATES = 400
# The longest SLA span ``add_business_seconds`` accepts: ten years of round-the-clock time.
MAX_SECONDS = 10 * 366 * DAY_SECONDS
# How far ahead to look for an open moment: a year and a bit, so a yearly closure never reads as "never open".
HORIZON_DAYS = 370

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOP_KEYS = frozenset({"timezone", "weekly", "holidays", "workdays", "makeup_weekday"})


class HoursError(DomainError):
    pass


def _clock(t: dt.time) -> str:
    return "24:00" if t == END_OF_DAY else f"{t:%H:%M}"


@dataclass(frozen=True, order=True)
class Interval:
    """One open stretch of a day in wall-clock time, [start, end). ``end`` may be ``END_OF_DAY`` ("24:00").

    Whole minutes only, because that is what admins type and what ``to_dict`` writes back."""

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t.tzinfo is not None:
                raise HoursError("bad_time", "营业时间是当地钟点，不能带时区", "weekly")
            if t != END_OF_DAY and (t.second or t.microsecond):
                raise HoursError("bad_time", f"营业时间精确到分钟（{t.isoformat()}）", "weekly")
        if self.start == END_OF_DAY or self.start >= self.end:
            raise HoursError("empty_interval", f"时间段 {self} 的开始时间须早于结束时间", "weekly")

    @property
    def start_seconds(self) -> int:
        return self.start.hour * 3600 + self.start.minute * 60

    @property
    def end_seconds(self) -> int:
        return DAY_SECONDS if self.end == END_OF_DAY else self.end.hour * 3600 + self.end.minute * 60

    def __str__(self) -> str:
        return f"{_clock(self.start)}–{_clock(self.end)}"


def _parse_clock(raw: object, *, is_end: bool, field_name: str) -> dt.time:
    match = _TIME_RE.match(raw) if isinstance(raw, str) else None
    hour, minute = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if is_end and (hour, minute) == (24, 0):
        return END_OF_DAY
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        hint = "，结束时间可写 24:00" if is_end else ""
        raise HoursError("bad_time", f"“{raw}”不是有效的时间，请写成 HH:MM，例如 08:30{hint}", field_name)
    return dt.time(hour, minute)


def _parse_day(key: str, raw: object) -> tuple[Interval, ...]:
    field_name = f"weekly.{key}"
    label = WEEKDAYS[DAY_KEYS.index(key)]
    if not isinstance(raw, list | tuple):
        raise HoursError("bad_interval", f"{label}的营业时间须是时间段列表，例如 [[\"08:30\", \"12:00\"]]",
                         field_name)
    if len(raw) > MAX_INTERVALS_PER_DAY:
        raise HoursError("too_many_intervals",
                         f"每天最多 {MAX_INTERVALS_PER_DAY} 个时间段（{label}有 {len(raw)} 个）", field_name)
    out: list[Interval] = []
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise HoursError("bad_interval", f"{label}的时间段“{pair}”须是 [开始, 结束] 两个时间", field_name)
        start = _parse_clock(pair[0], is_end=False, field_name=field_name)
        end = _parse_clock(pair[1], is_end=True, field_name=field_name)
        if start >= end:
            raise HoursError("empty_interval", f"{label}的时间段 {pair[0]}–{pair[1]} 开始时间须早于结束时间",
                             field_name)
        out.append(Interval(start, end))
    return tuple(out)


def _parse_dates(raw: object, field_name: str) -> frozenset[dt.date]:
    label = "节假日" if field_name == "holidays" else "调休工作日"
    if not isinstance(raw, list | tuple):
        raise HoursError("bad_date", f"{label}须是日期列表，例如 [\"2026-10-01\"]", field_name)
    if len(raw) > MAX_DATES:
        raise HoursError("too_many_dates", f"{label}最多 {MAX_DATES} 个日期（现有 {len(raw)} 个）", field_name)
    out: set[dt.date] = set()
    for item in raw:
        try:
            if not isinstance(item, str) or not _DATE_RE.match(item):
                raise ValueError(item)
            out.add(dt.date.fromisoformat(item))
        except ValueError:
            raise HoursError("bad_date", f"{label}“{item}”不是有效日期，请写成 YYYY-MM-DD，例如 2026-10-01",
                             field_name) from None
    return frozenset(out)


def _zone(name: object) -> ZoneInfo:
    try:
        if not isinstance(name, str) or not name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError("bad_timezone", f"未知的时区“{name}”，请使用 IANA 时区名，例如 Asia/Shanghai",
                         "timezone") from None


def _utc(at: dt.datetime) -> dt.datetime:
    """Naive datetimes are a programming error here: guessing their zone is how SLA clocks drift by 8 hours."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"business-hours arithmetic needs an aware datetime, got {at!r}")
    return at.astimezone(dt.UTC)


@dataclass(frozen=True)
class BusinessHours:
    """An org's (or skill group's) opening hours. Build with ``from_dict`` from the stored JSON, or directly.

    ``weekly`` maps 0 = Monday … 6 = Sunday to sorted, non-overlapping intervals; a missing day is closed.
    ``holidays`` close a whole date whatever its weekday; ``workdays`` (调休) open a date with the hours of
    ``makeup_weekday`` (Monday's by default) whatever its weekday. A date may not be both."""

    timezone: str = "Asia/Shanghai"
    weekly: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    makeup_weekday: int = 0

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if not isinstance(self.makeup_weekday, int) or not 0 <= self.makeup_weekday <= 6:
            raise HoursError("bad_makeup_weekday", "调休工作日沿用的星期须是 0（周一）到 6（周日）", "makeup_weekday")
        weekly: dict[int, tuple[Interval, ...]] = {}
        for day, intervals in self.weekly.items():
            if not isinstance(day, int) or not 0 <= day <= 6:
                raise HoursError("bad_weekday", f"星期须是 0（周一）到 6（周日），收到“{day}”", "weekly")
            weekly[day] = self._checked_day(day, intervals)
        object.__setattr__(self, "weekly", MappingProxyType({day: weekly.get(day, ()) for day in range(7)}))
        for name in ("holidays", "workdays"):
            dates = frozenset(getattr(self, name))
            if len(dates) > MAX_DATES:
                label = "节假日" if name == "holidays" else "调休工作日"
                raise HoursError("too_many_dates", f"{label}最多 {MAX_DATES} 个日期（现有 {len(dates)} 个）", name)
            object.__setattr__(self, name, dates)
        both = sorted(self.holidays & self.workdays)
        if both:
            raise HoursError("holiday_and_workday",
                             f"{both[0].isoformat()} 不能既是节假日又是调休工作日", "workdays")

    def __hash__(self) -> int:
        """Hashable like any frozen value (e.g. as a cache key), although ``weekly`` is a mapping."""
        return hash((self.timezone, tuple(self.weekly.items()), self.holidays, self.workdays, self.makeup_weekday))

    @staticmethod
    def _checked_day(day: int, intervals: tuple[Interval, ...]) -> tuple[Interval, ...]:
        field_name, label = f"weekly.{DAY_KEYS[day]}", WEEKDAYS[day]
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            raise HoursError("too_many_intervals",
                             f"每天最多 {MAX_INTERVALS_PER_DAY} 个时间段（{label}有 {len(intervals)} 个）", field_name)
        ordered = tuple(sorted(intervals))
        for before, after in itertools.pairwise(ordered):
            if after.start < before.end:
                raise HoursError("overlapping_intervals", f"{label}的时间段 {before} 与 {after} 重叠", field_name)
        return ordered

    # ---- construction and the stored form ----

    @classmethod
    def always_open(cls, timezone: str = "Asia/Shanghai") -> BusinessHours:
        """For orgs with no schedule: open 00:00–24:00 every day, no holidays."""
        whole_day = (Interval(dt.time(0), END_OF_DAY),)
        return cls(timezone=timezone, weekly=dict.fromkeys(range(7), whole_day))

    @classmethod
    def from_dict(cls, data: object) -> BusinessHours:
        """The stored/submitted JSON form; every mistake is an ``HoursError`` naming the field at fault."""
        if not isinstance(data, Mapping):
            raise HoursError("bad_hours", "营业时间须是一个对象（timezone、weekly、holidays、workdays）", "hours")
        unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
        if unknown:
            raise HoursError("unknown_field", f"无法识别的设置项“{unknown[0]}”", unknown[0])
        if "weekly" not in data:
            raise HoursError("missing_weekly", "请填写每周的营业时间（weekly）", "weekly")
        weekly_raw = data["weekly"]
        if not isinstance(weekly_raw, Mapping):
            raise HoursError("bad_weekly", "每周营业时间须是对象，键为 mon、tue、wed、thu、fri、sat、sun", "weekly")
        weekly: dict[int, tuple[Interval, ...]] = {}
        for key, raw in weekly_raw.items():
            if key not in DAY_KEYS:
                raise HoursError("bad_weekday", f"“{key}”不是星期，请用 mon、tue、wed、thu、fri、sat、sun", "weekly")
            weekly[DAY_KEYS.index(key)] = _parse_day(key, raw)
        makeup = data.get("makeup_weekday", "mon")
        if makeup not in DAY_KEYS:
            raise HoursError("bad_makeup_weekday", f"调休工作日按哪天的时间上班须是 mon…sun 之一，收到“{makeup}”",
                             "makeup_weekday")
        return cls(
            timezone=_zone(data.get("timezone", "Asia/Shanghai")).key,
            weekly=weekly,
            holidays=_parse_dates(data.get("holidays", []), "holidays"),
            workdays=_parse_dates(data.get("workdays", []), "workdays"),
            makeup_weekday=DAY_KEYS.index(makeup),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, sorted, every weekday present; ``from_dict(to_dict())`` gives an equal schedule."""
        return {
            "timezone": self.timezone,
            "weekly": {key: [[_clock(iv.start), _clock(iv.end)] for iv in self.weekly[day]]
                       for day, key in enumerate(DAY_KEYS)},
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
            "workdays": [d.isoformat() for d in sorted(self.workdays)],
            "makeup_weekday": DAY_KEYS[self.makeup_weekday],
        }

    # ---- the calendar ----

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, day: dt.date) -> tuple[Interval, ...]:
        """The wall-clock intervals ``day`` is open, after holidays and make-up days ("今日营业时间")."""
        if day in self.holidays:
            return ()
        return self.weekly[self.makeup_weekday if day in self.workdays else day.weekday()]

    def _wall_to_utc(self, day: dt.date, seconds: int) -> dt.datetime:
        """The instant the wall clock reads ``day`` + ``seconds``. A time the clock skips (spring forward) maps to
        the jump itself, so later wall times never map to earlier instants; a repeated time takes its first pass."""
        tz = self.tz
        wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        utc = wall.replace(tzinfo=tz).astimezone(dt.UTC)
        if utc.astimezone(tz).replace(tzinfo=None) == wall:
            return utc
        # In a gap: binary-search the jump, in whole seconds (tz transitions fall on them). ``low`` reads the wall
        # time with the later offset, so it lies before the jump; ``high`` reads it with the earlier one, after it.
        low, high = int(wall.replace(tzinfo=tz, fold=1).timestamp()), int(utc.timestamp())
        while high - low > 1:
            mid = (low + high) // 2
            if dt.datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
                high = mid
            else:
                low = mid
        return dt.datetime.fromtimestamp(high, dt.UTC)

    def _day_spans(self, day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        for iv in self.hours_on(day):
            start, end = self._wall_to_utc(day, iv.start_seconds), self._wall_to_utc(day, iv.end_seconds)
            if start < end:
                yield start, end

    def _spans(self, start: dt.datetime, until: dt.datetime | None = None
               ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Open spans in UTC, in order, clipped to [start, until). Unbounded, it stops after ``HORIZON_DAYS``
        closed days in a row: a schedule closed that long is treated as never opening again."""
        day = start.astimezone(self.tz).date() - dt.timedelta(days=1)
        closed_days = 0
        while day < dt.date.max - dt.timedelta(days=2):
            if until is not None and self._wall_to_utc(day, 0) >= until:
                return
            if until is None and closed_days > HORIZON_DAYS:
                return
            closed_days += 1
            for a, b in self._day_spans(day):
                closed_days = 0
                a, b = max(a, start), b if until is None else min(b, until)
                if a < b:
                    yield a, b
            day += dt.timedelta(days=1)

    # ---- questions ----

    def is_open(self, at: dt.datetime) -> bool:
        """Whether humans are at work at ``at`` (any aware datetime; judged on the schedule's wall clock)."""
        at = _utc(at)
        local_day = at.astimezone(self.tz).date()
        return any(a <= at < b for day in (local_day - dt.timedelta(days=1), local_day)
                   for a, b in self._day_spans(day))

    def next_open(self, at: dt.datetime) -> dt.datetime | None:
        """The first moment at or after ``at`` when humans are at work, in UTC: ``at`` itself when open now.
        None when the schedule stays closed for ``HORIZON_DAYS`` days."""
        at = _utc(at)
        return next((a for a, _ in self._spans(at)), None)

    def current_close(self, at: dt.datetime) -> dt.datetime | None:
        """When the open stretch around ``at`` ends, in UTC ("我们 21:00 下班"); a 24:00 close running into the next
        day's 00:00 opening is one stretch. None when closed at ``at``, or when it stays open past the horizon
        (an always-open org has no closing time to announce)."""
        at = _utc(at)
        if not self.is_open(at):
            return None
        horizon = at + dt.timedelta(days=HORIZON_DAYS)
        close: dt.datetime | None = None
        for a, b in self._spans(at, horizon):
            if close is not None and a > close:
                return close
            close = b
        return close if close is not None and close < horizon else None

    def business_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """The SLA clock: seconds of open time in [start, end). 0.0 when ``end`` is not after ``start``."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0.0
        total = sum((b - a for a, b in self._spans(start, end)), dt.timedelta())
        return total.total_seconds()

    def add_business_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The SLA due time: the earliest instant by which ``seconds`` of open time have passed since ``start``, in
        UTC. The inverse of ``business_seconds_between`` (to the microsecond); 0 seconds is ``start`` itself."""
        start = _utc(start)
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
            raise HoursError("bad_seconds", "时长须是 0 到十年之间的秒数", "seconds")
        remaining = dt.timedelta(seconds=seconds)
        if not remaining:
            return start
        for a, b in self._spans(start):
            if b - a >= remaining:
                return a + remaining
            remaining -= b - a
        raise HoursError("never_open", f"营业时间在 {HORIZON_DAYS} 天内都不开放，无法计算到期时间", "hours")

    def describe_next_open(self, at: dt.datetime, *, now: dt.datetime) -> str:
        """``at`` (usually ``next_open(now)``) as a visitor reads it on the schedule's clock: "今天 13:30",
        "明天 08:30", "周一（11月30日）08:30" within the week, "10月8日 08:30" further out, with the year when it
        differs. "现在" when ``at`` is not after ``now``."""
        at, now = _utc(at), _utc(now)
        if at <= now:
            return "现在"
        local, today = at.astimezone(self.tz), now.astimezone(self.tz).date()
        days = (local.date() - today).days
        clock = f"{local:%H:%M}"
        if days == 0:
            return f"今天 {clock}"
        if days == 1:
            return f"明天 {clock}"
        if days < 7:
            return f"{WEEKDAYS[local.weekday()]}（{local.month}月{local.day}日）{clock}"
        year = f"{local.year}年" if local.year != today.year else ""
        return f"{year}{local.month}月{local.day}日 {clock}"
