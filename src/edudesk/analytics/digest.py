"""The management summary mail: yesterday's (or last week's) headline figures of the four dashboards, each with its
change against the period before, their top panels as small tables, and links to the dashboards themselves.

Built from ``shapes.Dashboard`` values only, so the mail cannot disagree with the pages. No session, no HTTP: the
caller fetches the dashboards (``digest_jobs``) and hands them in.

Privacy: the summary carries aggregate numbers and the names of dimensions (channels, sources, agents, steps). A
panel that quotes visitors (a key or text column named like ``question``, ``query``, ``message``, ``keyword``…) is
never mailed, and every text cell is scrubbed of phone-like digit runs and e-mail addresses before it is shown.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader

from edudesk.analytics import display
from edudesk.analytics.shapes import DASHBOARD_KEYS, Cell, ColumnKind, Dashboard, Filters, Panel
from edudesk.localtime import local_text
from edudesk.web import TEMPLATE_DIR

DigestKind = Literal["daily", "weekly"]
KIND_LABELS: dict[str, str] = {"daily": "每日", "weekly": "每周"}
TITLES: dict[str, str] = {"people": "人员", "data": "数据", "process": "服务过程", "outcome": "转化结果"}
WEEKDAYS = "一二三四五六日"
MAX_PANELS = 2  # per dashboard: a mail is read on a phone
MAX_ROWS = 8
MAX_COLUMNS = 6
TEXT_CELL_MAX = 40
# Panels that quote what visitors wrote are never mailed (they may hold names and numbers).
FREE_TEXT_WORDS = ("question", "query", "message", "keyword", "content", "note", "text", "transcript")
_PHONE_LIKE = re.compile(r"\d{7,}|1[3-9]\d[\s-]\d{4}[\s-]\d{4}|\+?86[\s-]?1[3-9]\d{9}")
_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Period:
    """Local calendar days, both ends included: one day, or Monday to Sunday."""

    kind: DigestKind
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        shift = dt.timedelta(days=self.days)
        return Period(self.kind, self.start - shift, self.end - shift)

    def filters(self) -> Filters:
        return Filters(start=self.start, end=self.end)

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return f"{self.start.isoformat()}（周{WEEKDAYS[self.start.weekday()]}）"
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"

    @property
    def against(self) -> str:
        return "与前一天相比" if self.kind == "daily" else "与上一周相比"


@dataclass(frozen=True)
class FigureLine:
    label: str
    value: str
    change: str  # "" when there is nothing to compare with
    trend: Literal["up", "down", "flat", ""]


@dataclass(frozen=True)
class PanelTable:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    more_rows: int  # rows left out (the dashboard has them all)
    numeric: tuple[bool, ...] = ()  # per column: right-aligned


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    url: str
    figures: tuple[FigureLine, ...]
    panels: tuple[PanelTable, ...]


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


# --- values ---------------------------------------------------------------------------------------------------------

def _number(value: Cell) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def safe_text(value: object) -> str:
    """A text cell as it may leave the building: no control characters, no phone-like numbers, no e-mail
    addresses, at most ``TEXT_CELL_MAX`` characters."""
    text = _CONTROL.sub(" ", str(value)).strip()
    text = _EMAIL_LIKE.sub("＊＊＊", _PHONE_LIKE.sub("＊＊＊", text))
    return text if len(text) <= TEXT_CELL_MAX else text[:TEXT_CELL_MAX - 1] + "…"


def format_value(value: Cell, kind: ColumnKind) -> str:
    """As the dashboard page shows it (``display.human``); text cells made safe to leave the building."""
    if value is None:
        return display.EMPTY
    if kind == "text" or _number(value) is None:
        return safe_text(value)
    return display.human(value, kind)


def format_change(current: Cell, previous: Cell, kind: ColumnKind) -> tuple[str, Literal["up", "down", "flat", ""]]:
    now, before = _number(current), _number(previous)
    if now is None or before is None or kind == "text":
        return "", ""
    diff = now - before
    if abs(diff) < 1e-9:
        return "持平", "flat"
    sign = "+" if diff > 0 else "−"
    trend: Literal["up", "down"] = "up" if diff > 0 else "down"
    if kind == "percent":
        return f"{sign}{abs(diff) * 100:.1f} 个百分点", trend
    if kind == "seconds":
        return f"{sign}{display.seconds_text(abs(diff))}", trend
    if kind == "score":
        return f"{sign}{abs(diff):.1f}", trend
    amount = f"{int(abs(diff)):,}" if diff == int(diff) else f"{abs(diff):,.1f}"
    if before:
        return f"{sign}{amount}，{sign}{abs(diff) / abs(before) * 100:.1f}%", trend
    return f"{sign}{amount}", trend


# --- choosing what goes into the mail -----------------------------------------------------------------------------

def quotes_visitors(panel: Panel) -> bool:
    """A panel of free text (top unanswered questions, keywords): never mailed."""
    names = [panel.key.lower()] + [c.key.lower() for c in panel.columns if c.kind == "text"]
    return any(word in name for name in names for word in FREE_TEXT_WORDS)


def mailed_panels(dashboard: Dashboard) -> tuple[PanelTable, ...]:
    out: list[PanelTable] = []
    for panel in dashboard.panels:
        if len(out) >= MAX_PANELS:
            break
        if not panel.rows or quotes_visitors(panel) or (panel.chart is not None and panel.chart.kind == "heatmap"):
            continue
        columns = panel.columns[:MAX_COLUMNS]
        rows = tuple(tuple(format_value(row.cells.get(c.key), c.kind) for c in columns)
                     for row in panel.rows[:MAX_ROWS])
        out.append(PanelTable(title=safe_text(panel.title), headers=tuple(safe_text(c.label) for c in columns),
                              rows=rows, more_rows=max(0, len(panel.rows) - MAX_ROWS),
                              numeric=tuple(c.kind != "text" for c in columns)))
    return tuple(out)


def dashboard_url(base_url: str, key: str, filters: Filters) -> str:
    return f"{base_url.rstrip('/')}/admin/dashboards/{key}?{urlencode(filters.to_query())}"


def sections(current: Mapping[str, Dashboard], previous: Mapping[str, Dashboard], period: Period,
             base_url: str) -> tuple[Section, ...]:
    out = []
    for key in DASHBOARD_KEYS:
        board = current.get(key)
        if board is None:
            continue
        before = previous.get(key)
        earlier = {f.key: f.value for f in before.figures} if before is not None else {}
        figures = []
        for figure in board.figures:
            change, trend = format_change(figure.value, earlier.get(figure.key), figure.kind)
            figures.append(FigureLine(safe_text(figure.label), format_value(figure.value, figure.kind), change, trend))
        out.append(Section(key=key, title=safe_text(board.title) or TITLES[key],
                           url=dashboard_url(base_url, key, period.filters()), figures=tuple(figures),
                           panels=mailed_panels(board)))
    return tuple(out)


# --- the message ----------------------------------------------------------------------------------------------------

def one_line(text: str, limit: int = 60) -> str:
    """An org name fit for a Subject header: no line breaks (header injection), bounded."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescaped whatever the file name: org, agent and channel names are typed by people.
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True)


def _text(org: str, period: Period, parts: Sequence[Section], as_of: str, settings_url: str) -> str:
    lines = [f"{org} · {KIND_LABELS[period.kind]}服务摘要", f"{period.label} · {period.against}", ""]
    for section in parts:
        lines.append(f"【{section.title}】")
        for figure in section.figures:
            lines.append(f"  {figure.label}：{figure.value}" + (f"（{figure.change}）" if figure.change else ""))
        for panel in section.panels:
            lines.append(f"  {panel.title}")
            lines.append("    " + " | ".join(panel.headers))
            lines.extend("    " + " | ".join(row) for row in panel.rows)
            if panel.more_rows:
                lines.append(f"    ……另有 {panel.more_rows} 行，见看板")
        lines.append(f"  打开看板：{section.url}")
        lines.append("")
    if not parts:
        lines += ["本期暂无统计数据。", ""]
    lines += [f"数据截至 {as_of}。" if as_of else "", "这封邮件只含汇总数字，不含访客的姓名和联系方式。",
              f"调整收件人或发送时间：{settings_url}"]
    return "\n".join(lines) + "\n"


def build(org_name: str, period: Period, current: Mapping[str, Dashboard], previous: Mapping[str, Dashboard],
          base_url: str) -> Digest:
    org = one_line(org_name) or "edudesk"
    parts = sections(current, previous, period, base_url)
    stamps = [board.as_of for board in current.values() if board.as_of is not None]
    as_of = local_text(min(stamps)) if stamps else ""
    settings_url = f"{base_url.rstrip('/')}/admin/reports/mail"
    subject = f"【{org}】{KIND_LABELS[period.kind]}服务摘要 {period.label}"
    html = _environment().get_template("analytics/digest_mail.html").render(
        org=org, period=period, kind_label=KIND_LABELS[period.kind], sections=parts, as_of=as_of,
        settings_url=settings_url)
    return Digest(subject=subject, text=_text(org, period, parts, as_of, settings_url), html=html)
