"""Drill-downs list exactly what a figure counted: for every figure and every table row of the worked example, the
list's total is the number shown (the same conditions select both). Phones are masked unless allowed; bad
parameters are refused by name; pages page."""

from __future__ import annotations

import pytest

from edudesk.analytics import service
from edudesk.analytics.shapes import Drill, FilterError, Filters
from edudesk.db import Database
from tests.analytics.seed import DAY, Seeded

# Which column of a panel counts what its rows' drill-downs list.
COUNTED = {
    ("people", "agents"): "served", ("people", "daily"): "served",
    ("data", "by_channel"): "valid", ("data", "by_source"): "valid", ("data", "heatmap"): "conversations",
    ("data", "daily"): "valid", ("data", "handover_reasons"): "conversations",
    ("data", "unanswered"): "conversations", ("data", "capture_channel"): "valid",
    ("data", "capture_source"): "valid", ("data", "capture_campaign"): "valid", ("data", "capture_flow"): "valid",
    ("process", "queue_by_hour"): "queued", ("process", "queue_daily"): "queued",
    ("process", "transfers"): "transferred", ("process", "sla_by_group"): "tickets",
    ("process", "sla_daily"): "tickets",
    ("outcome", "funnel"): "count", ("outcome", "levels"): "leads", ("outcome", "conversion_times"): "leads",
    ("outcome", "by_source"): "leads", ("outcome", "by_campaign"): "leads",
}
# Figures whose drill lists what the figure counts (rates and averages list their numerator's or denominator's set).
COUNT_FIGURES = {"served", "conversations", "valid", "queued", "abandoned", "tickets", "contact", "booked",
                 "attended", "enrolled"}


def _total(database: Database, org_id: int, drill: Drill, filters: Filters) -> int:
    with database.session() as session:
        return service.drill(session, org_id, drill, filters).total


@pytest.mark.parametrize("key", ["people", "data", "process", "outcome"])
def test_every_drill_down_lists_what_its_number_counts(database: Database, seeded: Seeded, period: Filters,
                                                       key: str) -> None:
    with database.session() as session:
        dash = service.dashboard(session, seeded.org_id, key, period)
    checked = 0
    for figure in dash.figures:
        if figure.key in COUNT_FIGURES and figure.drill is not None:
            assert _total(database, seeded.org_id, figure.drill, period) == figure.value, figure.key
            checked += 1
    for panel in dash.panels:
        column = COUNTED[(key, panel.key)]
        for row in panel.rows:
            if row.drill is None:
                continue
            assert _total(database, seeded.org_id, row.drill, period) == row.cells[column], (panel.key, row.cells)
            checked += 1
    assert checked >= 5


def test_averages_drill_to_the_conversations_averaged(database: Database, seeded: Seeded, period: Filters) -> None:
    """First response over the 2 answered conversations, handling over the 1 finished, CSAT over the 1 rated."""
    with database.session() as session:
        dash = service.dashboard(session, seeded.org_id, "people", period)
    figures = {f.key: f for f in dash.figures}
    expected = {"first_response": 2, "response": 2, "handling": 1, "csat": 1, "satisfied": 1}
    got = {k: _total(database, seeded.org_id, figures[k].drill, period) for k in expected}  # type: ignore[arg-type]
    assert got == expected


def test_conversation_rows_link_to_the_console_and_mask_phones(database: Database, seeded: Seeded,
                                                               period: Filters) -> None:
    drill = Drill("conversations", {"metric": "bot_resolved"})
    with database.session() as session:
        masked = service.drill(session, seeded.org_id, drill, period)
        shown = service.drill(session, seeded.org_id, drill, period, mask_phones=False)
    c1 = seeded.conversations["c1"]
    assert [r.href for r in masked.rows] == [f"/console/c/{seeded.conversations['c6']}", f"/console/c/{c1}"]
    assert masked.rows[1].cells["phone"] == "138****8001"
    assert shown.rows[1].cells["phone"] == "13800138001"
    assert "13800138001" not in repr(masked)


def test_lead_and_ticket_rows_link_to_their_pages(database: Database, seeded: Seeded, period: Filters) -> None:
    with database.session() as session:
        leads = service.drill(session, seeded.org_id, Drill("leads", {"metric": "enrolled"}), period)
        tickets = service.drill(session, seeded.org_id, Drill("tickets", {"metric": "first_response_missed"}),
                                period)
        agents = service.drill(session, seeded.org_id, Drill("agents", {}), period)
    assert leads.total == 1 and leads.rows[0].href is not None and leads.rows[0].href.startswith("/contacts/")
    assert leads.rows[0].cells["phone"] == "138****8001" and leads.rows[0].cells["level"] == "A"
    assert [r.href for r in tickets.rows] == [f"/tickets/{seeded.tickets['T2']}"]
    assert tickets.rows[0].cells["first_response"] == "超时"
    assert agents.total == 2


def test_pages(database: Database, seeded: Seeded, period: Filters) -> None:
    drill = Drill("conversations", {})
    with database.session() as session:
        first = service.drill(session, seeded.org_id, drill, period, page=1, per_page=4)
        second = service.drill(session, seeded.org_id, drill, period, page=2, per_page=4)
        beyond = service.drill(session, seeded.org_id, drill, period, page=9, per_page=4)
    assert (first.total, len(first.rows), len(second.rows), len(beyond.rows)) == (6, 4, 2, 0)
    assert {r.cells["id"] for r in first.rows + second.rows} == set(seeded.conversations.values())


@pytest.mark.parametrize(("kind", "params", "field"), [
    ("conversations", {"metric": "everything"}, "metric"),
    ("conversations", {"hour": "24"}, "hour"),
    ("conversations", {"hour": "1; DROP TABLE conversations"}, "hour"),
    ("conversations", {"dow": "-1"}, "dow"),
    ("conversations", {"agent_id": "abc"}, "agent_id"),
    ("conversations", {"day": "2026-13-01"}, "day"),
    ("conversations", {"level": "A"}, "level"),
    ("leads", {"level": "D"}, "level"),
    ("leads", {"question": "x"}, "question"),
    ("tickets", {"metric": "valid"}, "metric"),
    ("nothing", {}, "kind"),
])
def test_bad_parameters_are_refused_by_name(database: Database, seeded: Seeded, period: Filters, kind: str,
                                            params: dict[str, str], field: str) -> None:
    with pytest.raises(FilterError) as caught, database.session() as session:
        service.drill(session, seeded.org_id, Drill(kind, params), period)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_hostile_text_parameters_match_nothing(database: Database, seeded: Seeded, period: Filters) -> None:
    for params in ({"question": "' OR 1=1 --"}, {"channel": "<script>"}, {"reason": "x" * 500},
                   {"flow": "'; DELETE FROM leads; --"}):
        assert _total(database, seeded.org_id, Drill("conversations", params), period) == 0


def test_a_day_parameter_narrows_to_that_day(database: Database, seeded: Seeded, period: Filters) -> None:
    assert _total(database, seeded.org_id, Drill("conversations", {"day": DAY.isoformat()}), period) == 5
