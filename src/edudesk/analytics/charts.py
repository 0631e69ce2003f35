"""A panel's chart as plain JSON for ``static/dashboards.js``: drawn from the panel's own rows, so the chart and the
table beside it show the same numbers.

The page embeds this in a ``<script type="application/json">`` block (data, never run: the staff CSP allows no
inline script) and the script turns it into an ECharts option. Labels are translated here; values stay raw (a
percent as its fraction, a duration in seconds) with their column kind, and the script formats them exactly as
``display.human`` does, from the same translated patterns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edudesk.analytics import display
from edudesk.analytics.shapes import Column, Panel

__all__ = ["chart_spec", "duration_patterns"]

Translate = Callable[[str], str]


def duration_patterns(gettext: Translate) -> dict[str, str]:
    """The same patterns ``display.seconds_text`` uses, for the script's tooltips; and a duration axis's units
    (its ticks fall on whole hours, minutes or seconds)."""
    return {"hms": gettext("%(h)d小时%(m)02d分%(s)02d秒"), "ms": gettext("%(m)d分%(s)02d秒"),
            "s": gettext("%(s)d秒"), "axis_h": gettext("%(n)s小时"), "axis_m": gettext("%(n)s分钟"),
            "axis_s": gettext("%(n)s秒")}


def _label(value: object, column: Column, gettext: Translate) -> str:
    text = display.human(value if isinstance(value, str | int | float) else None, column.kind, gettext)
    return gettext(text) if column.kind == "text" else text


def chart_spec(panel: Panel, links: Sequence[str | None], gettext: Translate) -> dict[str, Any] | None:
    """None when the panel has no chart or names a column it does not have (the table alone is then shown)."""
    chart = panel.chart
    if chart is None:
        return None
    columns = {c.key: c for c in panel.columns}
    if chart.x not in columns or not chart.series or any(s not in columns for s in chart.series):
        return None
    if chart.kind == "heatmap" and (chart.y is None or chart.y not in columns):
        return None
    x_col = columns[chart.x]
    spec: dict[str, Any] = {
        "kind": chart.kind, "title": gettext(panel.title), "links": list(links),
        "durations": duration_patterns(gettext),
        "series": [{"key": key, "name": gettext(columns[key].label), "kind": columns[key].kind,
                    "data": [display.as_number(r.cells.get(key)) for r in panel.rows]} for key in chart.series],
    }
    if chart.kind != "heatmap":
        spec["categories"] = [_label(r.cells.get(chart.x), x_col, gettext) for r in panel.rows]
        return spec
    assert chart.y is not None
    y_col = columns[chart.y]
    xs: dict[str, int] = {}
    ys: dict[str, int] = {}
    points: list[list[float | int | None]] = []
    for row in panel.rows:
        x = xs.setdefault(_label(row.cells.get(chart.x), x_col, gettext), len(xs))
        y = ys.setdefault(_label(row.cells.get(chart.y), y_col, gettext), len(ys))
        points.append([x, y, display.as_number(row.cells.get(chart.series[0]))])
    spec.update(categories=list(xs), y_categories=list(ys), points=points)
    return spec
