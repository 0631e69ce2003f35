"""A dashboard made ready for its template: every value written per its column's kind, every figure and row with
its drill-down link, every chart as JSON. Templates then only lay things out (no formatting rules in Jinja)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from edudesk.analytics import charts, display
from edudesk.analytics.filterbar import drill_url
from edudesk.analytics.shapes import Column, Dashboard, Drill, DrillPage, Figure, Filters, Panel, Row

__all__ = ["FigureView", "PanelView", "TableView", "drill_table", "figures", "panels"]

Translate = Callable[[str], str]


@dataclass(frozen=True)
class FigureView:
    key: str
    label: str
    text: str
    link: str | None


@dataclass(frozen=True)
class TableRow:
    cells: tuple[str, ...]
    link: str | None  # the drill-down (a dashboard) or the record itself (a drill-down page)


@dataclass(frozen=True)
class TableView:
    headers: tuple[str, ...]
    numeric: tuple[bool, ...]  # per column: right-aligned figures
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class PanelView:
    key: str
    title: str
    definition: str
    table: TableView
    chart: dict[str, Any] | None
    exports: dict[str, str]  # format → URL


def _link(drill: Drill | None, filters: Filters, origin: str, href: str | None = None) -> str | None:
    """A row's drill-down under the page's filters, else the record it names (the live wall's queue)."""
    return drill_url(drill, filters, origin) if drill is not None else safe_href(href)


def _table(columns: Sequence[Column], rows: Sequence[Row], links: Sequence[str | None],
           gettext: Translate) -> TableView:
    numeric = tuple(c.kind != "text" for c in columns)
    out = []
    for row, link in zip(rows, links, strict=True):
        cells = []
        for column in columns:
            text = display.human(row.cells.get(column.key), column.kind, gettext)
            cells.append(gettext(text) if column.kind == "text" else text)
        out.append(TableRow(tuple(cells), link))
    return TableView(tuple(gettext(c.label) for c in columns), numeric, tuple(out))


def figures(board: Dashboard, gettext: Translate) -> list[FigureView]:
    return [FigureView(f.key, gettext(f.label), display.human(f.value, f.kind, gettext),
                       _link(f.drill, board.filters, board.key)) for f in board.figures]


def live_figures(items: Sequence[Figure], filters: Filters, gettext: Translate) -> list[FigureView]:
    """The live wall's figures, a drill-down (if any) under today's filters."""
    return [FigureView(f.key, gettext(f.label), display.human(f.value, f.kind, gettext),
                       _link(f.drill, filters, "people")) for f in items]


def panel_view(panel: Panel, board_key: str, filters: Filters, gettext: Translate) -> PanelView:
    links = [_link(r.drill, filters, board_key, r.href) for r in panel.rows]
    query = filters.to_query()
    exports = {fmt: f"/admin/dashboards/{board_key}/export?" + urlencode({"panel": panel.key, "format": fmt, **query})
               for fmt in ("csv", "xlsx")}
    return PanelView(panel.key, gettext(panel.title), gettext(panel.definition) if panel.definition else "",
                     _table(panel.columns, panel.rows, links, gettext), charts.chart_spec(panel, links, gettext),
                     exports)


def panels(board: Dashboard, gettext: Translate) -> list[PanelView]:
    return [panel_view(p, board.key, board.filters, gettext) for p in board.panels]


def safe_href(href: str | None) -> str | None:
    """A record's link only when it is a path of this site: never ``javascript:`` nor another host (``//x``)."""
    if not href or not href.startswith("/") or href.startswith("//") or "\\" in href:
        return None
    return href


def drill_table(result: DrillPage, gettext: Translate) -> TableView:
    return _table(result.columns, result.rows, [safe_href(r.href) for r in result.rows], gettext)
