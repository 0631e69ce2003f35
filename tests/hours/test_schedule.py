"""Business hours and the SLA clock, on fixed instants: boundaries, lunch, holidays, 调休, Golden Week, DST, 24:00,
the inverse of the clock over many starts, every validation error and the visitor's wording."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edudesk.errors import DomainError
from edudesk.hours.schedule import (
    END_OF_DAY,
    MAX_DATES,
    BusinessHours,
    HoursError,
    Interval,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
WORKDAY = [["08:30", "12:00"], ["13:30", "21:00"]]  # 11 hours, lunch 12:00–13:30
GOLDEN_WEEK = [f"2026-10-0{d}" for d in range(1, 8)]
# A training school: weekdays with a lunch break, Saturday 09:00–17:00, Sunday closed; Golden Week 2026 off with
# its two 调休 days (Sunday 20 Sep and Saturday 10 Oct), which work Monday's hours.
SCHOOL = BusinessHours.from_dict({
    "timezone": "Asia/Shanghai",
    "weekly": {"mon": WORKDAY, "tue": WORKDAY, "wed": WORKDAY, "thu": WORKDAY, "fri": WORKDAY,
               "sat": [["09:00", "17:00"]], "sun": []},
    "holidays": GOLDEN_WEEK,
    "workdays": ["2026-09-20", "2026-10-10"],
})
OFFICE_BERLIN = BusinessHours.from_dict({
    "timezone": "Europe/Berlin",
    "weekly": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
})
HOUR = 3600.0


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """Wall-clock time in Shanghai."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def hours(weekly: dict[str, list[list[str]]], **rest: Any) -> BusinessHours:
    return BusinessHours.from_dict({"weekly": weekly, **rest})


# ---- open or closed ----

@pytest.mark.parametrize(("at", "expected"), [
    (sh(2026, 11, 23, 8, 29, 59), False),  # Monday, a second before opening
    (sh(2026, 11, 23, 8, 30), True),  # opening is inclusive
    (sh(2026, 11, 23, 11, 59, 59), True),
    (sh(2026, 11, 23, 12, 0), False),  # lunch: the close is exclusive
    (sh(2026, 11, 23, 13, 29), False),
    (sh(2026, 11, 23, 13, 30), True),
    (sh(2026, 11, 23, 20, 59, 59), True),
    (sh(2026, 11, 23, 21, 0), False),
    (sh(2026, 11, 28, 10, 0), True),  # Saturday hours
    (sh(2026, 11, 28, 17, 0), False),
    (sh(2026, 11, 29, 10, 0), False),  # Sunday closed
    (sh(2026, 10, 1, 10, 0), False),  # a holiday on a Thursday
    (sh(2026, 10, 3, 10, 0), False),  # a holiday on a Saturday beats Saturday's hours
    (sh(2026, 9, 20, 8, 30), True),  # 调休 Sunday works Monday's hours…
    (sh(2026, 9, 20, 12, 30), False),  # …with Monday's lunch
    (sh(2026, 10, 10, 8, 45), True),  # 调休 Saturday: Monday's 08:30, not Saturday's 09:00
    (sh(2026, 10, 10, 18, 0), True),  # and Monday's 21:00, not Saturday's 17:00
    (utc(2026, 11, 23, 0, 30), True),  # 08:30 in Shanghai, asked in UTC
    (berlin(2026, 11, 23, 1, 30), True),  # 08:30 in Shanghai, asked in Berlin
])
def test_is_open(at: dt.datetime, expected: bool) -> None:
    assert SCHOOL.is_open(at) is expected


def test_hours_on_applies_holidays_and_makeup_days() -> None:
    assert SCHOOL.hours_on(dt.date(2026, 10, 1)) == ()
    assert SCHOOL.hours_on(dt.date(2026, 10, 10)) == SCHOOL.weekly[0]
    assert SCHOOL.hours_on(dt.date(2026, 11, 28)) == (Interval(dt.time(9), dt.time(17)),)


def test_makeup_weekday_chooses_whose_hours_a_makeup_day_works() -> None:
    schedule = hours({"mon": WORKDAY, "fri": [["09:00", "15:00"]]}, workdays=["2026-10-10"], makeup_weekday="fri")
    assert schedule.is_open(sh(2026, 10, 10, 14, 0))
    assert not schedule.is_open(sh(2026, 10, 10, 16, 0))


# ---- next opening and current close ----

@pytest.mark.parametrize(("at", "expected"), [
    (sh(2026, 11, 23, 9, 15), sh(2026, 11, 23, 9, 15)),  # open: now
    (sh(2026, 11, 23, 12, 30), sh(2026, 11, 23, 13, 30)),  # lunch
    (sh(2026, 11, 23, 21, 0), sh(2026, 11, 24, 8, 30)),  # evening
    (sh(2026, 11, 24, 3, 0), sh(2026, 11, 24, 8, 30)),  # small hours
    (sh(2026, 11, 28, 18, 0), sh(2026, 11, 30, 8, 30)),  # Saturday evening → Monday
    (sh(2026, 9, 30, 21, 30), sh(2026, 10, 8, 8, 30)),  # into Golden Week → the Thursday after
    (sh(2026, 10, 4, 10, 0), sh(2026, 10, 8, 8, 30)),  # during it
    (sh(2026, 10, 9, 21, 30), sh(2026, 10, 10, 8, 30)),  # → 调休 Saturday at Monday's time
    (sh(2026, 9, 19, 18, 0), sh(2026, 9, 20, 8, 30)),  # → 调休 Sunday
])
def test_next_open(at: dt.datetime, expected: dt.datetime) -> None:
    result = SCHOOL.next_open(at)
    assert result == expected
    assert result is not None and result.tzinfo is dt.UTC


def test_next_open_is_none_for_a_schedule_never_open() -> None:
    assert hours({}).next_open(sh(2026, 1, 1)) is None
    assert hours({"sun": []}).next_open(sh(2026, 1, 1)) is None


def test_next_open_finds_an_opening_after_almost_a_year_closed() -> None:
    mondays_2026 = [(dt.date(2026, 1, 5) + dt.timedelta(weeks=w)).isoformat() for w in range(52)]
    schedule = hours({"mon": [["09:00", "10:00"]]}, holidays=mondays_2026)
    assert schedule.next_open(sh(2026, 1, 1)) == sh(2027, 1, 4, 9, 0)


@pytest.mark.parametrize(("at", "expected"), [
    (sh(2026, 11, 23, 10, 0), sh(2026, 11, 23, 12, 0)),
    (sh(2026, 11, 23, 13, 30), sh(2026, 11, 23, 21, 0)),
    (sh(2026, 11, 23, 12, 0), None),  # closed: nothing to announce
    (sh(2026, 9, 30, 20, 0), sh(2026, 9, 30, 21, 0)),
])
def test_current_close(at: dt.datetime, expected: dt.datetime | None) -> None:
    assert SCHOOL.current_close(at) == expected


def test_touching_intervals_close_once() -> None:
    schedule = hours({"mon": [["08:00", "12:00"], ["12:00", "13:00"]]})
    assert schedule.current_close(sh(2026, 11, 23, 9, 0)) == sh(2026, 11, 23, 13, 0)


# ---- 24:00 ----

LATE = hours({"fri": [["18:00", "24:00"]], "sat": [["00:00", "02:00"], ["10:00", "12:00"]]})


def test_interval_to_midnight_runs_into_the_next_day() -> None:
    assert LATE.is_open(sh(2026, 11, 27, 23, 59, 59))
    assert LATE.is_open(sh(2026, 11, 28, 0, 0))
    assert not LATE.is_open(sh(2026, 11, 28, 2, 0))
    assert LATE.current_close(sh(2026, 11, 27, 19, 0)) == sh(2026, 11, 28, 2, 0)
    assert LATE.business_seconds_between(sh(2026, 11, 27, 23, 0), sh(2026, 11, 28, 1, 0)) == 2 * HOUR
    assert LATE.add_business_seconds(sh(2026, 11, 27, 23, 30), HOUR) == sh(2026, 11, 28, 0, 30)
    assert LATE.next_open(sh(2026, 11, 28, 2, 0)) == sh(2026, 11, 28, 10, 0)
    assert LATE.to_dict()["weekly"]["fri"] == [["18:00", "24:00"]]
    assert Interval(dt.time(18), END_OF_DAY).end_seconds == 86_400


# ---- the SLA clock ----

@pytest.mark.parametrize(("start", "end", "expected_hours"), [
    (sh(2026, 11, 23, 9, 0), sh(2026, 11, 23, 10, 0), 1),
    (sh(2026, 11, 23, 11, 0), sh(2026, 11, 23, 14, 0), 1.5),  # lunch does not count
    (sh(2026, 11, 23, 20, 0), sh(2026, 11, 24, 9, 0), 1.5),  # nor the night
    (sh(2026, 11, 27, 20, 0), sh(2026, 11, 30, 9, 0), 9.5),  # Fri 1 h, Sat 8 h, Sun 0, Mon 0.5 h
    (sh(2026, 9, 30, 20, 30), sh(2026, 10, 8, 9, 0), 1),  # Golden Week does not count
    (sh(2026, 9, 28), sh(2026, 10, 12), 66),  # 3 + 2 weekdays and the 调休 Saturday at 11 h each
    (sh(2026, 11, 23, 12, 15), sh(2026, 11, 23, 13, 15), 0),  # all inside lunch
    (sh(2026, 11, 23, 10, 0), sh(2026, 11, 23, 10, 0), 0),  # empty
    (sh(2026, 11, 23, 10, 0), sh(2026, 11, 23, 9, 0), 0),  # reversed
    (utc(2026, 11, 23, 1, 0), berlin(2026, 11, 23, 3, 0), 1),  # zones of the inputs do not matter
])
def test_business_seconds_between(start: dt.datetime, end: dt.datetime, expected_hours: float) -> None:
    assert SCHOOL.business_seconds_between(start, end) == expected_hours * HOUR


@pytest.mark.parametrize(("start", "seconds", "expected"), [
    (sh(2026, 11, 23, 11, 30), HOUR, sh(2026, 11, 23, 14, 0)),  # over lunch
    (sh(2026, 11, 23, 11, 0), HOUR, sh(2026, 11, 23, 12, 0)),  # due at the close, not at the reopening
    (sh(2026, 11, 27, 20, 30), 2 * HOUR, sh(2026, 11, 28, 10, 30)),  # Friday night → Saturday
    (sh(2026, 9, 30, 20, 0), 2 * HOUR, sh(2026, 10, 8, 9, 30)),  # over Golden Week
    (sh(2026, 10, 9, 20, 0), 2 * HOUR, sh(2026, 10, 10, 9, 30)),  # onto the 调休 Saturday
    (sh(2026, 11, 23, 12, 30), 0, sh(2026, 11, 23, 12, 30)),  # nothing to wait: start itself
    (sh(2026, 11, 23, 12, 30), 1, sh(2026, 11, 23, 13, 30, 1)),
    (sh(2026, 11, 23, 9, 0), 0.25, sh(2026, 11, 23, 9, 0) + dt.timedelta(milliseconds=250)),
])
def test_add_business_seconds(start: dt.datetime, seconds: float, expected: dt.datetime) -> None:
    result = SCHOOL.add_business_seconds(start, seconds)
    assert result == expected
    assert result.tzinfo is dt.UTC


def test_thirty_business_days() -> None:
    office = hours({day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")})
    start = sh(2026, 11, 2, 9, 0)
    due = office.add_business_seconds(start, 30 * 9 * HOUR)
    assert due == sh(2026, 12, 11, 18, 0)  # six full weeks
    assert office.business_seconds_between(start, due) == 30 * 9 * HOUR


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), 11 * 366 * 86_400])
def test_add_business_seconds_refuses_bad_durations(seconds: float) -> None:
    with pytest.raises(HoursError) as caught:
        SCHOOL.add_business_seconds(sh(2026, 11, 23, 9, 0), seconds)
    assert caught.value.code == "bad_seconds"


def test_add_business_seconds_on_a_schedule_never_open() -> None:
    with pytest.raises(HoursError) as caught:
        hours({}).add_business_seconds(sh(2026, 11, 23, 9, 0), 60)
    assert caught.value.code == "never_open"


@pytest.mark.parametrize("schedule", [SCHOOL, OFFICE_BERLIN, LATE], ids=["school", "berlin", "late"])
def test_add_business_seconds_inverts_business_seconds_between(schedule: BusinessHours) -> None:
    """Starts every 97 minutes over five weeks around Golden Week and the October DST switch; each due time is
    exactly the asked-for business time away, and the earliest such instant."""
    start = utc(2026, 9, 18)
    for step in range(5 * 7 * 24 * 60 // 97):
        begin = start + dt.timedelta(minutes=97 * step)
        for seconds in (1.0, 1800.0, 4 * HOUR, 3 * 11 * HOUR + 0.5):
            due = schedule.add_business_seconds(begin, seconds)
            assert schedule.business_seconds_between(begin, due) == pytest.approx(seconds, abs=1e-6)
            assert schedule.business_seconds_between(begin, due - dt.timedelta(microseconds=1)) < seconds
            assert schedule.is_open(due - dt.timedelta(microseconds=1))


# ---- DST (Europe/Berlin: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00) ----

def test_wall_clock_hours_follow_the_offset_change() -> None:
    assert OFFICE_BERLIN.next_open(utc(2026, 3, 20, 12, 0)) == utc(2026, 3, 20, 12, 0)
    assert OFFICE_BERLIN.next_open(utc(2026, 3, 23, 0, 0)) == utc(2026, 3, 23, 8, 0)  # CET: +01:00
    assert OFFICE_BERLIN.next_open(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 30, 7, 0)  # CEST: +02:00
    assert OFFICE_BERLIN.is_open(berlin(2026, 3, 30, 9, 0))
    assert not OFFICE_BERLIN.is_open(berlin(2026, 3, 30, 8, 59))
    # Friday 17:00 + 2 h: one hour Friday, one hour Monday morning after the switch.
    assert OFFICE_BERLIN.add_business_seconds(berlin(2026, 3, 27, 17, 0), 2 * HOUR) == berlin(2026, 3, 30, 10, 0)
    assert OFFICE_BERLIN.business_seconds_between(berlin(2026, 3, 27, 9, 0), berlin(2026, 3, 30, 18, 0)) == 18 * HOUR


def test_switch_days_count_real_seconds() -> None:
    sunday = hours({"sun": [["00:00", "24:00"]]}, timezone="Europe/Berlin")
    assert sunday.business_seconds_between(utc(2026, 3, 28), utc(2026, 3, 30)) == 23 * HOUR
    assert sunday.business_seconds_between(utc(2026, 10, 24), utc(2026, 10, 26)) == 25 * HOUR


def test_interval_in_the_skipped_hour_starts_at_the_jump() -> None:
    schedule = hours({"sun": [["02:30", "03:30"]]}, timezone="Europe/Berlin")
    assert schedule.next_open(utc(2026, 3, 28)) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the jump
    assert schedule.is_open(utc(2026, 3, 29, 1, 15))  # 03:15 CEST
    assert not schedule.is_open(utc(2026, 3, 29, 0, 45))  # 01:45 CET
    assert schedule.business_seconds_between(utc(2026, 3, 28), utc(2026, 3, 30)) == 0.5 * HOUR


def test_interval_over_the_repeated_hour_covers_both_passes() -> None:
    schedule = hours({"sun": [["02:00", "03:00"]]}, timezone="Europe/Berlin")
    assert schedule.next_open(utc(2026, 10, 24)) == utc(2026, 10, 25, 0, 0)  # 02:00 CEST, the first pass
    assert schedule.is_open(berlin(2026, 10, 25, 2, 30, fold=1))  # 02:30 CET, the second pass
    assert schedule.current_close(utc(2026, 10, 25, 0, 0)) == utc(2026, 10, 25, 2, 0)  # 03:00 CET
    assert schedule.business_seconds_between(utc(2026, 10, 24), utc(2026, 10, 26)) == 2 * HOUR


# ---- always open ----

def test_always_open() -> None:
    always = BusinessHours.always_open()
    at = sh(2026, 10, 1, 3, 0)
    assert always.is_open(at)
    assert always.next_open(at) == at
    assert always.current_close(at) is None  # nothing to announce
    assert always.business_seconds_between(at, at + dt.timedelta(days=3)) == 72 * HOUR
    assert always.add_business_seconds(at, 100 * HOUR) == at + dt.timedelta(hours=100)
    berlin_always = BusinessHours.always_open("Europe/Berlin")
    assert berlin_always.business_seconds_between(berlin(2026, 3, 28), berlin(2026, 3, 30)) == 47 * HOUR
    assert BusinessHours.from_dict(always.to_dict()) == always


# ---- the stored form ----

def test_round_trip_and_normal_form() -> None:
    assert BusinessHours.from_dict(SCHOOL.to_dict()) == SCHOOL
    data = hours({"tue": [["13:30", "21:00"], ["8:30", "12:00"]]}, holidays=["2026-10-02", "2026-10-01"]).to_dict()
    assert data == {
        "timezone": "Asia/Shanghai",
        "weekly": {"mon": [], "tue": [["08:30", "12:00"], ["13:30", "21:00"]], "wed": [], "thu": [], "fri": [],
                   "sat": [], "sun": []},
        "holidays": ["2026-10-01", "2026-10-02"],
        "workdays": [],
        "makeup_weekday": "mon",
    }
    assert hash(BusinessHours.from_dict(data)) == hash(BusinessHours.from_dict(data))


def test_direct_construction_normalises() -> None:
    nine_to_five = (Interval(dt.time(9), dt.time(17)),)
    schedule = BusinessHours(weekly={4: nine_to_five}, holidays={dt.date(2026, 10, 1)})  # type: ignore[arg-type]
    assert schedule.weekly[0] == ()
    assert schedule.weekly[4] == nine_to_five
    assert schedule.holidays == frozenset({dt.date(2026, 10, 1)})
    with pytest.raises(TypeError):
        schedule.weekly[0] = nine_to_five  # type: ignore[index]


@pytest.mark.parametrize(("data", "code", "field", "words"), [
    ([], "bad_hours", "hours", "对象"),
    ({"weekly": {}, "holiday": []}, "unknown_field", "holiday", "holiday"),
    ({"timezone": "Asia/Shanghai"}, "missing_weekly", "weekly", "weekly"),
    ({"weekly": [["08:00", "12:00"]]}, "bad_weekly", "weekly", "mon"),
    ({"weekly": {"monday": []}}, "bad_weekday", "weekly", "monday"),
    ({"weekly": {"mon": "08:00-12:00"}}, "bad_interval", "weekly.mon", "周一"),
    ({"weekly": {"mon": [["08:00", "12:00", "13:00"]]}}, "bad_interval", "weekly.mon", "周一"),
    ({"weekly": {"mon": [["8:3", "12:00"]]}}, "bad_time", "weekly.mon", "“8:3”"),
    ({"weekly": {"mon": [["25:00", "26:00"]]}}, "bad_time", "weekly.mon", "25:00"),
    ({"weekly": {"mon": [["12:00", "12:60"]]}}, "bad_time", "weekly.mon", "12:60"),
    ({"weekly": {"mon": [["24:00", "24:00"]]}}, "bad_time", "weekly.mon", "24:00"),
    ({"weekly": {"mon": [["23:00", "24:30"]]}}, "bad_time", "weekly.mon", "24:30"),
    ({"weekly": {"mon": [[830, "12:00"]]}}, "bad_time", "weekly.mon", "HH:MM"),
    ({"weekly": {"tue": [["12:00", "12:00"]]}}, "empty_interval", "weekly.tue", "周二的时间段 12:00–12:00"),
    ({"weekly": {"tue": [["13:00", "12:00"]]}}, "empty_interval", "weekly.tue", "开始时间须早于结束时间"),
    ({"weekly": {"wed": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "overlapping_intervals", "weekly.wed",
     "周三的时间段 08:00–12:00 与 11:00–13:00 重叠"),
    ({"weekly": {"wed": [["11:00", "13:00"], ["08:00", "24:00"]]}}, "overlapping_intervals", "weekly.wed", "重叠"),
    ({"weekly": {"thu": [[f"{h:02}:00", f"{h:02}:30"] for h in range(9)]}}, "too_many_intervals", "weekly.thu",
     "每天最多 8 个时间段（周四有 9 个）"),
    ({"weekly": {}, "holidays": ["2026-13-01"]}, "bad_date", "holidays", "“2026-13-01”"),
    ({"weekly": {}, "holidays": ["2026/10/01"]}, "bad_date", "holidays", "YYYY-MM-DD"),
    ({"weekly": {}, "holidays": ["20261001"]}, "bad_date", "holidays", "20261001"),
    ({"weekly": {}, "workdays": [20260927]}, "bad_date", "workdays", "调休工作日"),
    ({"weekly": {}, "workdays": "2026-09-27"}, "bad_date", "workdays", "列表"),
    ({"weekly": {}, "holidays": [(dt.date(2026, 1, 1) + dt.timedelta(days=d)).isoformat() for d in range(401)]},
     "too_many_dates", "holidays", f"最多 {MAX_DATES} 个日期（现有 401 个）"),
    ({"weekly": {}, "holidays": ["2026-10-01"], "workdays": ["2026-10-01"]}, "holiday_and_workday", "workdays",
     "2026-10-01"),
    ({"weekly": {}, "timezone": "Asia/Beijing"}, "bad_timezone", "timezone", "“Asia/Beijing”"),
    ({"weekly": {}, "timezone": ""}, "bad_timezone", "timezone", "IANA"),
    ({"weekly": {}, "timezone": "../etc/passwd"}, "bad_timezone", "timezone", "IANA"),
    ({"weekly": {}, "timezone": 8}, "bad_timezone", "timezone", "Asia/Shanghai"),
    ({"weekly": {}, "makeup_weekday": "monday"}, "bad_makeup_weekday", "makeup_weekday", "monday"),
])
def test_from_dict_refuses_bad_input(data: Any, code: str, field: str, words: str) -> None:
    with pytest.raises(HoursError) as caught:
        BusinessHours.from_dict(data)
    assert isinstance(caught.value, DomainError)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert words in caught.value.message


def test_from_dict_accepts_touching_intervals_and_defaults() -> None:
    schedule = hours({"mon": [["08:00", "12:00"], ["12:00", "13:00"]]})
    assert schedule.timezone == "Asia/Shanghai"
    assert schedule.holidays == schedule.workdays == frozenset()
    assert len(schedule.weekly[0]) == 2


@pytest.mark.parametrize(("build", "code"), [
    (lambda: Interval(dt.time(12), dt.time(9)), "empty_interval"),
    (lambda: Interval(END_OF_DAY, END_OF_DAY), "empty_interval"),
    (lambda: Interval(dt.time(9, 0, 30), dt.time(12)), "bad_time"),
    (lambda: Interval(dt.time(9, tzinfo=dt.UTC), dt.time(12)), "bad_time"),
    (lambda: BusinessHours(weekly={7: ()}), "bad_weekday"),
    (lambda: BusinessHours(timezone="Mars/Olympus"), "bad_timezone"),
    (lambda: BusinessHours(makeup_weekday=7), "bad_makeup_weekday"),
    (lambda: BusinessHours(weekly={0: (Interval(dt.time(9), dt.time(12)), Interval(dt.time(11), dt.time(13)))}),
     "overlapping_intervals"),
    (lambda: BusinessHours(holidays=frozenset({dt.date(2026, 10, 1)}), workdays=frozenset({dt.date(2026, 10, 1)})),
     "holiday_and_workday"),
])
def test_direct_construction_is_validated_too(build: Any, code: str) -> None:
    with pytest.raises(HoursError) as caught:
        build()
    assert caught.value.code == code


def test_naive_datetimes_are_a_programming_error() -> None:
    naive = dt.datetime(2026, 11, 23, 9, 0)
    for call in (SCHOOL.is_open, SCHOOL.next_open, SCHOOL.current_close):
        with pytest.raises(ValueError, match="aware"):
            call(naive)
    with pytest.raises(ValueError, match="aware"):
        SCHOOL.business_seconds_between(naive, sh(2026, 11, 23, 10, 0))


# ---- what the visitor reads ----

NOW = sh(2026, 11, 26, 10, 0)  # Thursday


@pytest.mark.parametrize(("at", "now", "text"), [
    (NOW, NOW, "现在"),
    (sh(2026, 11, 26, 13, 30), NOW, "今天 13:30"),
    (sh(2026, 11, 27, 8, 30), NOW, "明天 08:30"),
    (sh(2026, 11, 30, 8, 30), NOW, "周一（11月30日）08:30"),
    (sh(2026, 12, 2, 8, 30), NOW, "周三（12月2日）08:30"),  # six days: still named by weekday
    (sh(2026, 12, 3, 8, 30), NOW, "12月3日 08:30"),  # a week: the date alone
    (sh(2027, 1, 4, 8, 30), NOW, "2027年1月4日 08:30"),
    (sh(2026, 11, 26, 8, 30), utc(2026, 11, 25, 17, 0), "今天 08:30"),  # 01:00 in Shanghai: already the 26th
    (sh(2026, 10, 8, 8, 30), sh(2026, 9, 30, 21, 30), "10月8日 08:30"),  # after Golden Week
])
def test_describe_next_open(at: dt.datetime, now: dt.datetime, text: str) -> None:
    assert SCHOOL.describe_next_open(at, now=now) == text


def test_describe_the_next_opening_from_now() -> None:
    now = sh(2026, 11, 28, 18, 0)  # Saturday evening
    opening = SCHOOL.next_open(now)
    assert opening is not None
    assert SCHOOL.describe_next_open(opening, now=now) == "周一（11月30日）08:30"
