"""The institution's clock: Asia/Shanghai, where validity dates, trial-class times, reports and reminders live.

One place for it, so "today" means the same day to the bot's cache, the knowledge base, the capture-rate report and
the trial offers. (Orgs carry a ``timezone`` column for when per-org zones are needed; every org uses this today.)
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_today(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(LOCAL_TZ).date()


def local_text(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as the institution reads it on a page ("—" when there is none)."""
    return value.astimezone(LOCAL_TZ).strftime(fmt) if value is not None else "—"


def local_midnight(day: dt.date) -> dt.datetime:
    """The UTC instant at which the local ``day`` begins."""
    return dt.datetime.combine(day, dt.time(), LOCAL_TZ).astimezone(dt.UTC)


def utc_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[since, until) in UTC of the local days ``start`` to ``end`` (both included): what a report filters on."""
    return local_midnight(start), local_midnight(end + dt.timedelta(days=1))
