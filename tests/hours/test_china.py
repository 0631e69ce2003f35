"""China's statutory days from chinese-calendar: named days off (weekends inside a block included), the weekend days
worked in exchange, no ordinary weekends, and a clear error for a year the package has no data for."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edudesk.hours.china import official_days
from edudesk.hours.schedule import BusinessHours, HoursError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_2026_makeup_workdays() -> None:
    _, workdays = official_days(2026)
    assert workdays == {dt.date(2026, 1, 4), dt.date(2026, 2, 14), dt.date(2026, 2, 28), dt.date(2026, 5, 9),
                        dt.date(2026, 9, 20), dt.date(2026, 10, 10)}
    assert all(day.weekday() >= 5 for day in workdays)


def test_2026_holidays() -> None:
    holidays, workdays = official_days(2026)
    assert {dt.date(2026, 10, d) for d in range(1, 8)} <= holidays  # Golden Week, its weekend included
    assert {dt.date(2026, 1, 1), dt.date(2026, 2, 17), dt.date(2026, 5, 1), dt.date(2026, 6, 19)} <= holidays
    assert dt.date(2026, 3, 7) not in holidays  # an ordinary Saturday
    assert dt.date(2026, 10, 8) not in holidays
    assert not holidays & workdays
    assert all(day.year == 2026 for day in holidays | workdays)


def test_official_days_feed_a_schedule() -> None:
    holidays, workdays = official_days(2026)
    weekdays = {day: [["08:30", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    schedule = dataclasses.replace(BusinessHours.from_dict({"weekly": weekdays}), holidays=holidays,
                                   workdays=workdays)
    at = dt.datetime(2026, 9, 30, 21, 30, tzinfo=SHANGHAI)
    assert schedule.next_open(at) == dt.datetime(2026, 10, 8, 8, 30, tzinfo=SHANGHAI)
    assert schedule.is_open(dt.datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI))  # 调休 Saturday
    assert BusinessHours.from_dict(schedule.to_dict()) == schedule


@pytest.mark.parametrize("year", [1999, 2100])
def test_year_without_data(year: int) -> None:
    with pytest.raises(HoursError) as caught:
        official_days(year)
    assert (caught.value.code, caught.value.field) == ("no_official_days", "year")
    assert f"{year} 年" in caught.value.message
    assert "手动填写" in caught.value.message


@pytest.mark.parametrize("year", ["2026", True, 0, 10_000, 2026.0])
def test_bad_year(year: Any) -> None:
    with pytest.raises(HoursError) as caught:
        official_days(year)
    assert caught.value.code == "bad_year"
