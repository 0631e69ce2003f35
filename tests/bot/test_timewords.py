"""Time words from the business calendar, with frozen instants: before opening, at lunch, after closing, on a
weekend, on a holiday and a 调休 make-up workday, given in UTC and read on Asia/Shanghai's clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from edudesk.bot import timewords
from edudesk.bot.flows import variables
from edudesk.hours.schedule import BusinessHours

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAY = [["08:00", "12:00"], ["13:30", "21:00"]]
HOURS = BusinessHours.from_dict({
    "timezone": "Asia/Shanghai",
    "weekly": {"mon": WEEKDAY, "tue": WEEKDAY, "wed": WEEKDAY, "thu": WEEKDAY, "fri": WEEKDAY,
               "sat": [["09:00", "17:00"]], "sun": []},
    "holidays": [f"2026-10-0{d}" for d in range(1, 8)],
    "workdays": ["2026-10-10"],
})


def at(text: str) -> dt.datetime:
    """A Shanghai wall time, handed over in UTC as the service's clock does."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


@pytest.mark.parametrize(("now", "next_open", "reply_time"), [
    # Tuesday 07:25, the office opens at 08:00: not "明天一早".
    ("2026-12-08 07:25", "今天上午 8:00", "今天上午 8:00上班后"),
    ("2026-12-08 10:00", "现在", "稍后"),
    # Lunch break: this afternoon, on a 12-hour clock.
    ("2026-12-08 12:10", "今天下午 1:30", "今天下午 1:30上班后"),
    # Open, but closing in 15 minutes: nobody is promised "稍后".
    ("2026-12-08 20:45", "现在", "明天上午 8:00上班后"),
    ("2026-12-08 22:30", "明天上午 8:00", "明天上午 8:00上班后"),
    # After midnight it is still "today" that the office opens.
    ("2026-12-09 00:30", "今天上午 8:00", "今天上午 8:00上班后"),
    # Friday night → Saturday's own hours; Saturday evening → Monday, by its weekday.
    ("2026-12-11 22:00", "明天上午 9:00", "明天上午 9:00上班后"),
    ("2026-12-12 18:00", "周一上午 8:00", "周一上午 8:00上班后"),
    ("2026-12-13 10:00", "明天上午 8:00", "明天上午 8:00上班后"),
    # National Day: closed 1–7 October, open again on the 8th, a week or more away → the date.
    ("2026-09-30 21:30", "10月8日上午 8:00", "10月8日上午 8:00上班后"),
    ("2026-10-03 10:00", "周四上午 8:00", "周四上午 8:00上班后"),
    # Friday 9 October: Saturday the 10th is a make-up workday with Monday's hours.
    ("2026-10-09 21:30", "明天上午 8:00", "明天上午 8:00上班后"),
])
def test_words_follow_the_calendar(now: str, next_open: str, reply_time: str) -> None:
    instant = at(now)
    assert timewords.next_open_words(HOURS, instant) == next_open
    assert timewords.reply_time_words(HOURS, instant) == reply_time
    assert timewords.variables(HOURS, instant) == {"next_open": next_open, "reply_time": reply_time}


def test_the_day_is_the_schedules_not_utcs() -> None:
    # 22:30 UTC on Monday is 06:30 on Tuesday in Shanghai and 23:30 on Monday in Berlin.
    instant = dt.datetime(2026, 12, 7, 22, 30, tzinfo=dt.UTC)
    assert timewords.next_open_words(HOURS, instant) == "今天上午 8:00"
    berlin = BusinessHours.from_dict({"timezone": "Europe/Berlin", "weekly": {"tue": [["08:00", "18:00"]]}})
    assert timewords.next_open_words(berlin, instant) == "明天上午 8:00"  # still Monday evening in Berlin


def test_a_date_in_another_year_says_the_year() -> None:
    hours = BusinessHours.from_dict({"weekly": {"mon": [["09:00", "18:00"]]},
                                     "holidays": ["2027-01-04", "2027-01-11"]})
    assert timewords.next_open_words(hours, at("2026-12-29 10:00")) == "2027年1月18日上午 9:00"


def test_always_open_and_never_open() -> None:
    assert timewords.variables(BusinessHours.always_open(), at("2026-12-08 03:00")) == {
        "next_open": "现在", "reply_time": "稍后"}
    closed = BusinessHours.from_dict({"weekly": {}})
    assert timewords.variables(closed, at("2026-12-08 03:00")) == {"next_open": "工作时间",
                                                                   "reply_time": "工作时间内"}


def test_render_fills_known_variables_only() -> None:
    values = {"next_open": "明天上午 8:00", "reply_time": "明天上午 8:00上班后"}
    assert variables.render("老师{reply_time}联系您（{next_open}上班）", values) == \
        "老师明天上午 8:00上班后联系您（明天上午 8:00上班）"
    assert variables.render("{nope} {1} { next_open } 无变量", values) == "{nope} {1} { next_open } 无变量"
    assert variables.unknown("{next_open}{nxet_open}{nxet_open}{reply}") == ["nxet_open", "reply"]
