"""When a campaign may call, and when a target is tried again: pure functions of the campaign's settings and
``now`` (no session, no clock of their own), so windows, holidays and retries are tested with any time.

Call windows are a ``hours.schedule.BusinessHours`` (weekly wall-clock intervals in Asia/Shanghai, holidays,
调休 make-up workdays with Monday's windows), so "inside a window", "the end of this window" and "the next window
start" are the business-hours code the SLA clock already trusts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edudesk.hours import china
from edudesk.hours.schedule import DAY_KEYS, BusinessHours, HoursError
from edudesk.localtime import LOCAL_TZ
from edudesk.voice.campaigns.models import CampaignError, TargetState
from edudesk.voice.models import CallOutcome

# What a new campaign proposes: mornings and evenings, when parents answer.
DEFAULT_WINDOWS: dict[str, list[list[str]]] = {key: [["09:00", "12:00"], ["14:00", "20:30"]] for key in DAY_KEYS}
MAX_CLOSED_DAYS = 200
# The longest a retry waits, whatever the growth: a week.
MAX_RETRY = dt.timedelta(days=7)

# Outcomes after which the number is tried again (while attempts remain), and the final ones.
RETRY_OUTCOMES = frozenset({CallOutcome.no_answer, CallOutcome.busy, CallOutcome.failed})
FINAL_OUTCOMES = frozenset(
    {
        CallOutcome.refused,
        CallOutcome.wrong_number,
        CallOutcome.already_enrolled,
        CallOutcome.interested,
        CallOutcome.connected,
    }
)


def parse_windows(raw: object) -> dict[str, list[list[str]]]:
    """The stored form of call windows, checked: every mistake is a CampaignError on field ``windows``."""
    try:
        hours = BusinessHours.from_dict({"weekly": raw})
    except HoursError as exc:
        raise CampaignError(exc.code, exc.message, "windows") from None
    weekly = hours.to_dict()["weekly"]
    if not any(weekly.values()):
        raise CampaignError("no_window", "请至少设置一个可呼叫时段", "windows")
    return dict(weekly)


def parse_windows_text(text: str) -> dict[str, list[list[str]]]:
    """Windows typed on the form, one line per weekday group: ``mon-fri 09:00-12:00, 14:00-20:30`` or
    ``sat 10:00-12:00``. Blank lines are ignored; a weekday without a line has no window."""
    weekly: dict[str, list[list[str]]] = {}
    lines = [line.strip() for line in text.replace("，", ",").replace("～", "-").replace("–", "-").splitlines()]
    if len(text) > 2000 or len(lines) > 14:
        raise CampaignError("too_long", "呼叫时段写得太长了", "windows")
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        days_part, _, spans = line.partition(" ")
        days = _day_range(days_part.lower(), number)
        pairs = []
        for span in spans.split(","):
            start, sep, end = span.strip().partition("-")
            if not sep:
                raise CampaignError("bad_window", f"第 {number} 行：时段须写成 09:00-12:00", "windows")
            pairs.append([start.strip(), end.strip()])
        for day in days:
            weekly.setdefault(day, []).extend(pairs)
    return parse_windows(weekly)


def _day_range(part: str, number: int) -> list[str]:
    first, sep, last = part.partition("-")
    if first not in DAY_KEYS or (sep and last not in DAY_KEYS):
        raise CampaignError("bad_window", f"第 {number} 行：星期须是 mon…sun，例如 mon-fri", "windows")
    a, b = DAY_KEYS.index(first), DAY_KEYS.index(last) if sep else DAY_KEYS.index(first)
    if b < a:
        raise CampaignError("bad_window", f"第 {number} 行：{part} 的星期顺序反了", "windows")
    return list(DAY_KEYS[a : b + 1])


def windows_text(windows: Mapping[str, Any]) -> str:
    """The form's text of stored windows (consecutive days with the same windows on one line)."""
    lines: list[str] = []
    run: list[str] = []
    for key in (*DAY_KEYS, None):
        spans = windows.get(key, []) if key else None
        if run and (key is None or spans != windows.get(run[0], [])):
            text = ", ".join(f"{a}-{b}" for a, b in windows.get(run[0], []))
            if text:
                lines.append(f"{run[0] if len(run) == 1 else run[0] + '-' + run[-1]} {text}")
            run = []
        if key is not None:
            run.append(key)
    return "\n".join(lines)


def parse_closed_days(raw: Iterable[str]) -> list[str]:
    out: set[str] = set()
    for item in raw:
        item = item.strip()
        if not item:
            continue
        try:
            out.add(dt.date.fromisoformat(item[:10]).isoformat())
        except ValueError:
            raise CampaignError("bad_date", f"“{item[:20]}”不是日期，请写成 2026-10-01", "closed_days") from None
    if len(out) > MAX_CLOSED_DAYS:
        raise CampaignError("too_many_dates", f"停呼日期最多 {MAX_CLOSED_DAYS} 个", "closed_days")
    return sorted(out)


def holiday_years_missing(years: Iterable[int]) -> list[int]:
    """The years the bundled holiday table (chinese-calendar) does not know yet."""
    missing = []
    for year in years:
        try:
            china.official_days(year)
        except HoursError:
            missing.append(year)
    return missing


def call_schedule(
    windows: Mapping[str, Any], *, skip_holidays: bool, closed_days: Iterable[str], now: dt.datetime
) -> BusinessHours:
    """The campaign's calling calendar around ``now``: this year's and next year's official holidays and make-up
    workdays (a year the table does not know has none — the org's closed days cover it), plus the campaign's own
    closed days, which win over a make-up workday."""
    holidays: set[dt.date] = {dt.date.fromisoformat(d) for d in closed_days}
    workdays: set[dt.date] = set()
    if skip_holidays:
        year = now.astimezone(LOCAL_TZ).year
        for y in (year - 1, year, year + 1):
            try:
                official_off, official_work = china.official_days(y)
            except HoursError:
                continue
            holidays |= official_off
            workdays |= official_work
    workdays -= holidays
    # Only the dates near ``now`` matter (the schedule caps how many it holds).
    today = now.astimezone(LOCAL_TZ).date()
    near = {d for d in holidays if abs((d - today).days) <= 190}
    return BusinessHours.from_dict(
        {
            "timezone": LOCAL_TZ.key,
            "weekly": dict(windows),
            "holidays": sorted(d.isoformat() for d in near),
            "workdays": sorted(d.isoformat() for d in workdays if abs((d - today).days) <= 190),
        }
    )


@dataclass(frozen=True)
class Window:
    """Where ``now`` stands: inside a window that ends at ``end``, or outside with the next one at ``next_start``."""

    open: bool
    end: dt.datetime | None
    next_start: dt.datetime | None


def window_at(schedule: BusinessHours, now: dt.datetime) -> Window:
    if schedule.is_open(now):
        return Window(True, schedule.current_close(now), None)
    return Window(False, None, schedule.next_open(now))


def retry_delay(attempts: int, retry_minutes: int, growth: float) -> dt.timedelta:
    """The wait after the ``attempts``-th unanswered attempt: ``retry_minutes`` × ``growth``^(attempts − 1),
    at most ``MAX_RETRY``."""
    exponent = min(max(0, attempts - 1), 60)  # campaigns allow 20 attempts; the bound only guards the float
    minutes = retry_minutes * (growth**exponent if growth > 1 else 1.0)
    if not math.isfinite(minutes) or minutes >= MAX_RETRY.total_seconds() / 60:
        return MAX_RETRY
    return min(MAX_RETRY, dt.timedelta(minutes=max(1.0, minutes)))


@dataclass(frozen=True)
class NextStep:
    state: TargetState
    next_attempt_at: dt.datetime | None


def next_step(
    outcome: CallOutcome | None,
    *,
    attempts: int,
    max_attempts: int,
    retry_minutes: int,
    retry_growth: float,
    callback_at: dt.datetime | None,
    schedule: BusinessHours,
    now: dt.datetime,
) -> NextStep:
    """What happens to a target after a call ended with ``outcome`` and ``attempts`` attempts counted.

    - a final outcome (interested, refused, wrong number, already enrolled, connected) closes the target;
    - callback: at ``callback_at`` when it falls in a window, else the next window start after it (or after
      now); a callback does not need an attempt left — the person asked for it — but is bounded by one extra;
    - no answer / busy / failed / none (canceled before dialling): retried after the spacing, moved into the next
      window, while attempts remain; else exhausted.
    """
    if outcome in FINAL_OUTCOMES:
        return NextStep(TargetState.done, None)
    if outcome == CallOutcome.callback:
        if attempts > max_attempts:
            return NextStep(TargetState.exhausted, None)
        wanted = callback_at if callback_at is not None and callback_at > now else now
        at = schedule.next_open(wanted)
        return NextStep(TargetState.pending, at) if at else NextStep(TargetState.exhausted, None)
    if attempts >= max_attempts:
        return NextStep(TargetState.exhausted, None)
    at = schedule.next_open(now + retry_delay(attempts, retry_minutes, retry_growth))
    return NextStep(TargetState.pending, at) if at else NextStep(TargetState.exhausted, None)
