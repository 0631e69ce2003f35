"""Time words that follow the business calendar, for what the bot promises ("老师明天上午 9:00上班后联系您").

Pure: a ``BusinessHours`` and an instant in, Chinese words out, on the schedule's own clock (Asia/Shanghai for every
org today). The words are the ones a 课程顾问 would say: the day relative to today (今天 / 明天; the weekday within the
week, because "后天" on a Saturday night makes parents count; the date beyond), the part of the day and a 12-hour
clock within it ("下午 1:30", not "下午 13:30").
"""

from __future__ import annotations

import datetime as dt

from edudesk.hours.schedule import WEEKDAYS, BusinessHours

__all__ = ["CLOSING_SOON", "next_open_words", "reply_time_words", "spoken_time", "variables"]

# Open but closing within this: nobody should be promised "稍后" any more; the next opening is named instead.
CLOSING_SOON = dt.timedelta(minutes=30)
NOW = "现在"
SOON = "稍后"
NEVER = "工作时间"  # nothing opens within the schedule's horizon: no time to name


def _period(hour: int) -> str:
    if hour < 5:
        return "凌晨"
    if hour < 12:
        return "上午"
    if hour < 13:
        return "中午"
    if hour < 18:
        return "下午"
    return "晚上"


def spoken_time(hours: BusinessHours, at: dt.datetime, now: dt.datetime) -> str:
    """``at`` as said on ``now``'s day, on the schedule's clock: "今天上午 8:00", "明天下午 1:30", "周一上午 9:00",
    "10月8日上午 9:00" (a week or more ahead; with the year when it differs)."""
    local, today = at.astimezone(hours.tz), now.astimezone(hours.tz).date()
    days = (local.date() - today).days
    if days <= 0:
        day = "今天"
    elif days == 1:
        day = "明天"
    elif days < 7:
        day = WEEKDAYS[local.weekday()]
    else:
        day = f"{local.year}年" if local.year != today.year else ""
        day += f"{local.month}月{local.day}日"
    hour = local.hour if local.hour <= 12 else local.hour - 12
    return f"{day}{_period(local.hour)} {hour}:{local.minute:02d}"


def next_open_words(hours: BusinessHours, now: dt.datetime) -> str:
    """When humans are next at work: "现在" while open, else the next opening as :func:`spoken_time` says it."""
    if hours.is_open(now):
        return NOW
    upcoming = hours.next_open(now)
    return spoken_time(hours, upcoming, now) if upcoming is not None else NEVER


def reply_time_words(hours: BusinessHours, now: dt.datetime) -> str:
    """When a teacher can answer: "稍后" while open and not closing within ``CLOSING_SOON``; else the next
    opening after this stretch, "明天上午 9:00上班后"."""
    start = now
    if hours.is_open(now):
        close = hours.current_close(now)
        if close is None or close - now > CLOSING_SOON:
            return SOON
        start = close
    upcoming = hours.next_open(start)
    return f"{spoken_time(hours, upcoming, now)}上班后" if upcoming is not None else f"{NEVER}内"


def variables(hours: BusinessHours, now: dt.datetime) -> dict[str, str]:
    """The values of the script variables (``bot.flows.variables``) at ``now``."""
    return {"next_open": next_open_words(hours, now), "reply_time": reply_time_words(hours, now)}
