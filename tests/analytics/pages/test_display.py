"""How dashboard values are written (page, chart, export), and the chart JSON a panel becomes: table tests."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from edudesk.analytics import charts, display, filterbar, present
from edudesk.analytics.shapes import Chart, Column, Drill, DrillPage, Filters, Panel, Row
from edudesk.i18n import Catalogues, set_locale


@pytest.mark.parametrize(("value", "kind", "shown"), [
    (1234, "count", "1,234"), (0, "count", "0"), (12.6, "count", "13"), ("7", "count", "7"),
    (0.2534, "percent", "25.3%"), (1, "percent", "100.0%"), (0, "percent", "0.0%"),
    (65, "seconds", "1分05秒"), (5, "seconds", "5秒"), (0, "seconds", "0秒"), (59.6, "seconds", "1分00秒"),
    (3725, "seconds", "1小时02分05秒"), (86400, "seconds", "24小时00分00秒"), (-65, "seconds", "-1分05秒"),
    (4.6, "score", "4.6"), (4, "score", "4.0"), (95, "score", "95"), (95.5, "score", "95.5"),
    ("王老师", "text", "王老师"), (12, "text", "12"),
    (None, "count", "—"), (None, "percent", "—"), (None, "text", "—"), ("", "text", "—"),
    (math.nan, "percent", "—"), (math.inf, "count", "—"), ("n/a", "seconds", "n/a"), (True, "count", "—"),
    (True, "text", "—"),
])
def test_human(value: object, kind: str, shown: str) -> None:
    assert display.human(value, kind, str) == shown  # type: ignore[arg-type]


def test_durations_in_english() -> None:
    catalogues = Catalogues()
    set_locale("en")
    try:
        assert display.human(65, "seconds", catalogues.gettext) == "1m 05s"
        assert display.human(3725, "seconds", catalogues.gettext) == "1h 02m 05s"
        assert display.human(5, "seconds", catalogues.gettext) == "5s"
    finally:
        set_locale("zh")


@pytest.mark.parametrize(("value", "kind", "cell"), [
    (1234, "count", 1234), (0.25341, "percent", 0.2534), (65.4, "seconds", 65), (4.567, "score", 4.57),
    (None, "count", None), ("=1+1", "text", "=1+1"), ("x", "count", "x"), (math.nan, "percent", None),
])
def test_export_value(value: object, kind: str, cell: object) -> None:
    assert display.export_value(value, kind) == cell  # type: ignore[arg-type]


def _panel(chart: Chart | None, rows: tuple[Row, ...] = ()) -> Panel:
    return Panel("p", "面板", (Column("hour", "时段"), Column("day", "星期"), Column("n", "对话", "count"),
                              Column("rate", "比例", "percent")), rows, chart)


def test_chart_spec_of_a_bar_keeps_raw_values_and_links() -> None:
    rows = (Row({"hour": "9时", "n": 3, "rate": 0.5}), Row({"hour": "10时", "n": None, "rate": "x"}))
    spec = charts.chart_spec(_panel(Chart("bar", "hour", ("n", "rate")), rows), ["/a", None], str)
    assert spec is not None
    assert spec["categories"] == ["9时", "10时"] and spec["links"] == ["/a", None]
    assert [s["data"] for s in spec["series"]] == [[3.0, None], [0.5, None]]
    assert [s["kind"] for s in spec["series"]] == ["count", "percent"]
    assert spec["durations"]["ms"] == "%(m)d分%(s)02d秒"


def test_chart_spec_of_a_heatmap_indexes_both_axes() -> None:
    rows = tuple(Row({"hour": h, "day": d, "n": n}) for n, (d, h) in enumerate(
        [("周一", "9时"), ("周一", "20时"), ("周二", "9时"), ("周二", "20时")]))
    spec = charts.chart_spec(_panel(Chart("heatmap", "hour", ("n",), y="day"), rows), [None] * 4, str)
    assert spec is not None
    assert spec["categories"] == ["9时", "20时"] and spec["y_categories"] == ["周一", "周二"]
    assert spec["points"] == [[0, 0, 0.0], [1, 0, 1.0], [0, 1, 2.0], [1, 1, 3.0]]


@pytest.mark.parametrize("chart", [None, Chart("bar", "nope", ("n",)), Chart("bar", "hour", ("n", "nope")),
                                   Chart("bar", "hour", ()), Chart("heatmap", "hour", ("n",)),
                                   Chart("heatmap", "hour", ("n",), y="nope")])
def test_a_chart_naming_columns_the_panel_lacks_is_left_out(chart: Chart | None) -> None:
    assert charts.chart_spec(_panel(chart), [], str) is None


FILTERS = Filters(dt.date(2026, 12, 1), dt.date(2026, 12, 7), channel="web")


def test_drill_url_keeps_filters_and_makes_filter_named_params_filters() -> None:
    url = filterbar.drill_url(Drill("conversations", {"hour": "20", "agent_id": "5", "channel": "wechat"}), FILTERS,
                              "data")
    assert url.startswith("/admin/dashboards/drill?kind=conversations&from=data&")
    assert "start=2026-12-01&end=2026-12-07" in url and "hour=20" in url and "agent_id=5" in url
    assert "channel=wechat" in url and "channel=web" not in url
    assert "from=" not in filterbar.drill_url(Drill("leads"), FILTERS, "evil")


def test_drill_params_may_not_take_the_page_s_own_names() -> None:
    with pytest.raises(ValueError, match="reserved"):
        filterbar.drill_url(Drill("leads", {"page": "2"}), FILTERS)


@pytest.mark.parametrize(("href", "kept"), [
    ("/console/c/1", True), ("/leads/3?x=1", True), ("javascript:alert(1)", False), ("//evil.example/x", False),
    ("https://evil.example", False), ("/\\evil.example", False), ("", False), (None, False)])
def test_only_this_site_s_paths_are_links(href: str | None, kept: bool) -> None:
    page = DrillPage("明细", (Column("a", "A"),), (Row({"a": "x"}, href=href),), 1, 1, 50)
    assert present.drill_table(page, str).rows[0].link == (href if kept else None)


def test_presets_end_today() -> None:
    today = dt.date(2026, 12, 7)
    assert [(p.label, p.start, p.end) for p in filterbar.presets(today)] == [
        ("今天", today, today), ("近7天", dt.date(2026, 12, 1), today), ("近30天", dt.date(2026, 11, 8), today),
        ("本月", dt.date(2026, 12, 1), today)]
