"""China's statutory holidays and 调休 make-up workdays, so admins need not type Golden Week in by hand.

The State Council publishes each year's arrangement in late autumn; the ``chinese-calendar`` package carries it, so
a year it has no data for yet is an error that asks for an upgrade or manual dates, never a silent "no holidays".
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar  # no stubs (ignore_missing_imports); two calls, checked by tests

from edudesk.hours.schedule import HoursError


def official_days(year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """(statutory holidays, make-up workdays) of ``year``, ready for ``BusinessHours.holidays``/``.workdays``.

    Holidays are the named days off, weekends inside a holiday block included (an org open on Saturdays is
    still closed on the Saturday of Golden Week). Ordinary weekends are not listed: ``chinese_calendar`` counts
    them as holidays, but the weekly hours already say whether an org works them. Make-up workdays are the
    weekend days worked in exchange."""
    if isinstance(year, bool) or not isinstance(year, int) or not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise HoursError("bad_year", f"“{year}”不是有效的年份", "year")
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    first = dt.date(year, 1, 1)
    try:
        for offset in range((dt.date(year, 12, 31) - first).days + 1):
            day = first + dt.timedelta(days=offset)
            # (True, name): a day off for the named holiday; (False, name): a weekend day worked in exchange for
            # it; name None: an ordinary day.
            is_day_off, name = chinese_calendar.get_holiday_detail(day)
            if name is not None:
                (holidays if is_day_off else workdays).add(day)
    except NotImplementedError:
        raise HoursError(
            "no_official_days",
            f"暂无 {year} 年的法定节假日安排（chinese-calendar {chinese_calendar.__version__} 未收录），"
            "请升级 chinese-calendar 或手动填写节假日和调休工作日",
            "year",
        ) from None
    return frozenset(holidays), frozenset(workdays)
