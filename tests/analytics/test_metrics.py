"""Every dashboard figure and table row of the worked example (docs/metrics.md), worked out by hand, on SQLite and
PostgreSQL: a table of (dashboard, what, expected)."""

from __future__ import annotations

from typing import Any

import pytest

from edudesk.analytics import service
from edudesk.analytics.shapes import Dashboard, Filters
from edudesk.db import Database
from tests.analytics.seed import Seeded

FIGURES = [
    # people: 王老师 served c2, 李老师 c4
    ("people", "served", 2), ("people", "first_response", 45.0), ("people", "response", 30.0),
    ("people", "handling", 420.0), ("people", "csat", 5.0), ("people", "satisfied", 1.0),
    ("people", "online_seconds", 18000), ("people", "busy_seconds", 3600), ("people", "occupancy", 0.0049),
    # data
    ("data", "conversations", 6), ("data", "valid", 5), ("data", "bot_rate", 0.4), ("data", "helpful_rate", 0.5),
    ("data", "handover_rate", 0.6), ("data", "capture_rate", 0.4),
    # process
    ("process", "queued", 3), ("process", "wait", 210.0), ("process", "abandoned", 1),
    ("process", "abandon_rate", 0.3333), ("process", "transfers", 1), ("process", "tickets", 3),
    ("process", "first_rate", 0.5), ("process", "resolution_rate", 1.0),
    # outcome
    ("outcome", "visits", 12), ("outcome", "conversations", 5), ("outcome", "contact", 3), ("outcome", "booked", 2),
    ("outcome", "attended", 1), ("outcome", "enrolled", 1), ("outcome", "enrol_rate", 0.3333),
]

# (dashboard, panel, the row's first cell, {column: expected})
ROWS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("people", "agents", "王老师", {"online_seconds": 10800, "busy_seconds": 3600, "away_seconds": 1800, "served": 1,
                                   "first_response": 30.0, "response": 30.0, "handling": 420.0, "csat": 5.0,
                                   "satisfied": 1.0, "occupancy": 0.0058}),
    ("people", "agents", "李老师", {"online_seconds": 7200, "busy_seconds": 0, "served": 1, "first_response": 60.0,
                                   "response": 30.0, "handling": None, "csat": None, "occupancy": 0.0}),
    ("data", "by_channel", "网页", {"conversations": 4, "valid": 3, "bot_resolved": 2, "bot_rate": 0.6667,
                                   "handed_over": 1, "handover_rate": 0.3333}),
    ("data", "by_channel", "微信公众号", {"conversations": 2, "valid": 2, "bot_resolved": 0, "handed_over": 2}),
    ("data", "by_source", "未知来源", {"conversations": 2, "valid": 1, "handed_over": 1}),
    ("data", "handover_reasons", "访客要求转人工", {"conversations": 2, "share": 0.6667}),
    ("data", "handover_reasons", "机器人多次未答", {"conversations": 1, "share": 0.3333}),
    ("data", "unanswered", "学费多少", {"asked": 3, "conversations": 2}),
    ("data", "unanswered", "有没有周末班", {"asked": 1, "conversations": 1}),
    ("data", "capture_channel", "网页", {"valid": 3, "captured": 1, "capture_rate": 0.3333}),
    ("data", "capture_channel", "微信公众号", {"valid": 2, "captured": 1, "capture_rate": 0.5}),
    ("data", "capture_source", "搜索", {"valid": 2, "captured": 2, "capture_rate": 1.0}),
    ("data", "capture_campaign", "春季推广", {"valid": 1, "captured": 0}),
    ("data", "capture_flow", "trial", {"valid": 1, "captured": 1, "capture_rate": 1.0}),
    ("data", "capture_flow", "无话术", {"valid": 4, "captured": 1, "capture_rate": 0.25}),
    ("data", "daily", "2026-03-02", {"conversations": 5, "valid": 4, "helpful_rate": 0.5, "capture_rate": 0.5}),
    ("process", "queue_by_hour", "09", {"queued": 1, "served": 1, "wait": 120.0, "abandoned": 0}),
    ("process", "queue_by_hour", "20", {"queued": 2, "served": 1, "wait": 300.0, "abandoned": 1,
                                        "abandon_rate": 0.5}),
    ("process", "transfers", "未分组", {"transfers": 1, "transferred": 1}),
    ("process", "sla_by_group", "小学数学", {"tickets": 2, "first_met": 1, "first_missed": 1, "first_rate": 0.5,
                                           "resolution_met": 1, "resolution_missed": 0, "resolution_rate": 1.0}),
    ("process", "sla_by_group", "未分组", {"tickets": 1, "first_rate": None, "resolution_rate": None}),
    ("outcome", "funnel", "访客访问", {"count": 12}),
    ("outcome", "funnel", "有效会话", {"count": 5, "from_previous": 0.4167}),
    ("outcome", "funnel", "留资（手机号/微信）", {"count": 3, "from_previous": 0.6, "median_seconds": 300.0}),
    ("outcome", "funnel", "A/B 级意向", {"count": 3, "from_previous": 1.0}),
    ("outcome", "funnel", "预约试听", {"count": 2, "from_previous": 0.6667, "median_seconds": 27570.0}),
    ("outcome", "funnel", "到课试听", {"count": 1, "from_previous": 0.5, "median_seconds": 176400.0}),
    ("outcome", "funnel", "报名", {"count": 1, "from_previous": 1.0, "median_seconds": 259200.0}),
    ("outcome", "levels", "A 级", {"leads": 2}), ("outcome", "levels", "B 级", {"leads": 1}),
    ("outcome", "levels", "C 级", {"leads": 1}),
    ("outcome", "by_source", "搜索", {"visits": 4, "conversations": 2, "leads": 2, "contact": 2, "level_A": 1,
                                     "level_B": 1, "booked": 2, "attended": 1, "enrolled": 1, "enrol_rate": 0.5}),
    ("outcome", "by_source", "广告", {"visits": 3, "conversations": 1, "leads": 2, "contact": 1, "level_C": 1,
                                     "booked": 0, "enrol_rate": 0.0}),
    ("outcome", "by_source", "直接访问", {"visits": 5, "conversations": 1, "leads": 0, "enrol_rate": None}),
    ("outcome", "by_campaign", "春季推广", {"visits": 2, "conversations": 1, "leads": 2, "contact": 1}),
    ("outcome", "by_campaign", "无推广活动", {"visits": 10, "conversations": 4, "contact": 2, "enrolled": 1}),
]

HEAT = {("周一", "09"): 2, ("周一", "20"): 2, ("周二", "10"): 1}


def _dash(database: Database, seeded: Seeded, key: str, filters: Filters) -> Dashboard:
    with database.session() as session:
        return service.dashboard(session, seeded.org_id, key, filters)


@pytest.fixture
def dashboards(database: Database, seeded: Seeded, period: Filters) -> dict[str, Dashboard]:
    return {key: _dash(database, seeded, key, period) for key in ("people", "data", "process", "outcome")}


def test_every_figure_as_worked_out_by_hand(dashboards: dict[str, Dashboard]) -> None:
    got = [(key, f.key, f.value) for key, d in dashboards.items() for f in d.figures]
    expected = {(k, f): v for k, f, v in FIGURES}
    assert {(k, f): v for k, f, v in got if (k, f) in expected} == expected


def test_table_rows_as_worked_out_by_hand(dashboards: dict[str, Dashboard]) -> None:
    for key, panel_key, first, expected in ROWS:
        panel = dashboards[key].panel(panel_key)
        first_column = panel.columns[0].key
        rows = [r for r in panel.rows if r.cells[first_column] == first]
        assert len(rows) == 1, (key, panel_key, first, [r.cells[first_column] for r in panel.rows])
        assert {k: rows[0].cells[k] for k in expected} == expected, (key, panel_key, first)


def test_heat_map_has_every_hour_of_the_week(dashboards: dict[str, Dashboard]) -> None:
    panel = dashboards["data"].panel("heatmap")
    assert len(panel.rows) == 7 * 24
    nonzero = {(r.cells["dow"], r.cells["hour"]): r.cells["conversations"] for r in panel.rows
               if r.cells["conversations"]}
    assert nonzero == HEAT
    assert panel.chart is not None and panel.chart.kind == "heatmap" and panel.chart.y == "dow"


def test_every_chart_is_drawn_from_its_own_columns(dashboards: dict[str, Dashboard]) -> None:
    for d in dashboards.values():
        assert d.as_of is not None
        for panel in d.panels:
            keys = {c.key for c in panel.columns}
            for row in panel.rows:
                assert set(row.cells) == keys, (d.key, panel.key)
            if panel.chart is not None:
                assert {panel.chart.x, *panel.chart.series, *([panel.chart.y] if panel.chart.y else [])} <= keys


def test_an_empty_period_has_zeros_and_no_rates(database: Database, seeded: Seeded) -> None:
    import datetime as dt

    empty = Filters(dt.date(2025, 1, 1), dt.date(2025, 1, 7))
    data = _dash(database, seeded, "data", empty)
    assert {f.key: f.value for f in data.figures} == {
        "conversations": 0, "valid": 0, "bot_rate": None, "helpful_rate": None, "handover_rate": None,
        "capture_rate": None}
    assert data.as_of is None
    people = _dash(database, seeded, "people", empty)
    assert people.panel("agents").rows == ()


def test_unknown_dashboard_is_a_filter_error(database: Database, seeded: Seeded, period: Filters) -> None:
    from edudesk.analytics.shapes import FilterError

    with pytest.raises(FilterError), database.session() as session:
        service.dashboard(session, seeded.org_id, "finance", period)
