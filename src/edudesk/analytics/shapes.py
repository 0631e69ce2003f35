"""What a dashboard is, independent of how its numbers are computed and how they are drawn.

The numbers (``analytics.service``) produce these values; the pages (``analytics.views``), the CSV/XLSX exports
and the e-mailed summary consume them. Keeping one shape means a figure on the page, in its table, in the export
and in the e-mail cannot disagree, and every figure carries the drill-down that lists what is behind it.

Every chart is drawn from a panel's own rows: the table beside the chart *is* the chart's data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DASHBOARD_KEYS", "MAX_RANGE_DAYS", "N_", "Cell", "Chart", "Column", "Dashboard", "DashboardKey", "Drill",
    "DrillKind", "DrillPage", "Figure", "FilterError", "Filters", "LiveWall", "Panel", "Row",
]

DashboardKey = Literal["people", "data", "process", "outcome"]
DASHBOARD_KEYS: tuple[DashboardKey, ...] = ("people", "data", "process", "outcome")
# A dashboard covers at most a year: longer ranges are an export job, not a page.
MAX_RANGE_DAYS = 366

# How a value is shown and exported: count (integer), percent (a fraction 0..1, shown as %), seconds (a duration,
# shown as 1分05秒), score (e.g. CSAT 4.6), text.
ColumnKind = Literal["text", "count", "percent", "seconds", "score"]
Cell = str | int | float | None
ChartKind = Literal["bar", "stacked_bar", "line", "pie", "heatmap", "funnel"]
# What a drill-down lists: conversations, leads (contacts with their lead card), tickets, or agents.
DrillKind = Literal["conversations", "leads", "tickets", "agents"]


def N_(text: str) -> str:
    """Marks a label for the catalogue without translating it: labels are built before the request's language is
    known and translated when drawn (``analytics.present``); ``analytics.labels`` extracts them for Babel."""
    return text


class FilterError(ValueError):
    """A filter value a person typed that cannot be used; ``field`` names the form field for the message."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Filters:
    """The filter bar. Dates are local calendar days (``localtime.LOCAL_TZ``), both ends included."""

    start: dt.date
    end: dt.date
    channel: str | None = None  # conversation channel key: web, wechat, wecom, api, form, …
    source: str | None = None  # attribution source kind of the lead: search, ad, social, direct, referral, …
    campaign_id: int | None = None
    group_id: int | None = None  # skill group
    agent_id: int | None = None  # user id of an agent

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise FilterError("end", "结束日期不能早于开始日期")
        if (self.end - self.start).days + 1 > MAX_RANGE_DAYS:
            raise FilterError("start", f"时间范围最长 {MAX_RANGE_DAYS} 天")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_query(self) -> dict[str, str]:
        """The query-string form (links, drill-downs, exports keep the same filters)."""
        out = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for name in ("channel", "source", "campaign_id", "group_id", "agent_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, str], today: dt.date, default_days: int = 7) -> Filters:
        """Parses the filter bar; absent dates mean the last ``default_days`` days up to ``today``."""

        def date_of(name: str, default: dt.date) -> dt.date:
            raw = (params.get(name) or "").strip()
            if not raw:
                return default
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise FilterError(name, "日期格式应为 YYYY-MM-DD") from None

        def id_of(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            if not raw.isdigit() or len(raw) > 12:
                raise FilterError(name, "请选择列表中的一项")
            return int(raw)

        def key_of(name: str) -> str | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            if len(raw) > 32 or not all(c.isalnum() or c in "_-." for c in raw):
                raise FilterError(name, "请选择列表中的一项")
            return raw

        end = date_of("end", today)
        start = date_of("start", end - dt.timedelta(days=default_days - 1))
        return cls(start=start, end=end, channel=key_of("channel"), source=key_of("source"),
                   campaign_id=id_of("campaign_id"), group_id=id_of("group_id"), agent_id=id_of("agent_id"))


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # Chinese; the views translate it through the catalogue
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Drill:
    """What lies behind one number: ``params`` narrow the dashboard's filters (e.g. ``{"hour": "20"}``)."""

    kind: DrillKind
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    cells: Mapping[str, Cell]
    drill: Drill | None = None  # the list behind this row's figures
    href: str | None = None  # in a drill-down page: the record itself (a conversation, a contact, a ticket)


@dataclass(frozen=True)
class Chart:
    """How to draw a panel from its rows: categories from column ``x``, one series per key in ``series``; a
    heat map takes its second axis from column ``y`` and its value from ``series[0]``."""

    kind: ChartKind
    x: str
    series: tuple[str, ...]
    y: str | None = None


@dataclass(frozen=True)
class Panel:
    key: str  # unique within its dashboard; used in export URLs
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    chart: Chart | None = None
    definition: str = ""  # one line: how the numbers are defined (docs/metrics.md has the long form)


@dataclass(frozen=True)
class Figure:
    """A headline number at the top of a dashboard."""

    key: str
    label: str
    value: Cell
    kind: ColumnKind = "count"
    drill: Drill | None = None


@dataclass(frozen=True)
class Dashboard:
    key: DashboardKey
    title: str
    filters: Filters
    figures: tuple[Figure, ...]
    panels: tuple[Panel, ...]
    # Roll-ups are kept by jobs: the moment the newest roll-up row was computed (None: nothing rolled up yet).
    as_of: dt.datetime | None = None

    def panel(self, key: str) -> Panel:
        for panel in self.panels:
            if panel.key == key:
                return panel
        raise KeyError(key)


@dataclass(frozen=True)
class DrillPage:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: int
    page: int  # 1-based
    per_page: int


@dataclass(frozen=True)
class LiveWall:
    """The supervisors' wall on the people dashboard: the agents now (status, chats, load) and the visitors waiting
    now, read live (not from roll-ups); ``at`` is the moment it was read."""

    figures: tuple[Figure, ...]
    agents: Panel
    queue: Panel
    at: dt.datetime
