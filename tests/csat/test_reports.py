"""The CSAT report's arithmetic on fixed data (tests/csat/factories.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.csat import reports
from edudesk.csat import service as csat_service
from edudesk.db import Database
from edudesk.errors import DomainError
from tests.conftest import TwoOrgs
from tests.csat.factories import END, START, seed


def test_report_per_agent_and_group(database: Database, orgs: TwoOrgs) -> None:
    seeded = seed(database, orgs)
    with database.session() as session:
        report = reports.report(session, orgs.a.id, START, END)
    agents = {r.label: r for r in report.by_agent}
    assert set(agents) == {"王老师", "李老师", reports.NO_AGENT}
    wang, li, nobody = agents["王老师"], agents["李老师"], agents[reports.NO_AGENT]
    assert (wang.resolved, wang.rated, wang.satisfied) == (5, 4, 2)
    assert wang.response_rate == pytest.approx(0.8)
    assert wang.average == pytest.approx((1 + 0.75 + 0.5 + 0) / 4)
    assert wang.satisfied_share == pytest.approx(0.5)
    assert (li.resolved, li.rated) == (2, 2) and li.response_rate == 1.0
    assert li.average == pytest.approx((0.25 + 1) / 2) and li.satisfied_share == pytest.approx(0.5)
    assert (nobody.key, nobody.resolved, nobody.rated, nobody.average, nobody.satisfied_share) == (
        None, 1, 0, None, None)
    assert [r.label for r in report.by_agent] == ["王老师", "李老师", reports.NO_AGENT]  # most rated first

    groups = {r.key: r for r in report.by_group}
    assert set(groups) == {seeded.math, seeded.english, None}
    math, english, none = groups[seeded.math], groups[seeded.english], groups[None]
    assert (math.label, math.resolved, math.rated) == ("数学", 4, 4)
    assert math.average == pytest.approx((1 + 0.75 + 0.5 + 0.25) / 4) and math.satisfied_share == 0.5
    assert (english.label, english.resolved, english.rated) == ("英语", 2, 2)
    assert english.average == pytest.approx(0.5) and english.satisfied_share == 0.5
    assert (none.label, none.resolved, none.rated) == (reports.NO_GROUP, 2, 0)

    total = report.total
    assert (total.resolved, total.rated, total.satisfied) == (8, 6, 3)
    assert total.response_rate == pytest.approx(0.75) and total.average == pytest.approx(3.5 / 6)

    assert [(low.conversation_id == seeded.low_comment_conv, low.score, low.scale) for low in report.low_scores] == [
        (False, 2, 5), (True, 1, 2)]  # newest first; 2 of 3 is the middle, not low
    assert report.low_scores[1].comment == "<b>回复太慢</b>" and report.low_scores[1].agent == "王老师"
    assert report.low_scores[1].group == "英语" and report.low_scores[1].score_label == "不满意"
    assert report.low_scores[0].comment == "" and report.low_scores[0].score_label == "不满意"

    data = report.as_dict()
    assert data["total"] == {"id": None, "label": "合计", "resolved": 8, "rated": 6, "response_rate": 0.75,
                             "average": 0.5833, "satisfied_share": 0.5}
    assert data["since"] == "2026-11-01" and data["until"] == "2026-11-07"


def test_the_other_org_and_an_empty_period(database: Database, orgs: TwoOrgs) -> None:
    seed(database, orgs)
    with database.session() as session:
        theirs = reports.report(session, orgs.b.id, START, END)
        empty = reports.report(session, orgs.a.id, dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    assert theirs.total.resolved == 1 and [r.label for r in theirs.by_group] == ["乙的组"]
    assert [low.comment for low in theirs.low_scores] == ["乙机构的差评"]
    assert empty.by_agent == [] and empty.by_group == [] and empty.low_scores == []
    assert (empty.total.resolved, empty.total.average, empty.total.response_rate) == (0, None, 0.0)


def test_scoring_rules() -> None:
    assert [csat_service.normalised(s, 5) for s in range(1, 6)] == [0, 0.25, 0.5, 0.75, 1]
    assert [csat_service.normalised(s, 3) for s in (1, 2, 3)] == [0, 0.5, 1]
    assert [csat_service.normalised(s, 2) for s in (1, 2)] == [0, 1]
    assert csat_service.normalised(2, None) == 0.25  # stored before scales: five stars
    assert [csat_service.is_satisfied(s, 5) for s in range(1, 6)] == [False, False, False, True, True]
    assert [csat_service.is_satisfied(s, 3) for s in (1, 2, 3)] == [False, False, True]
    assert [csat_service.is_satisfied(s, 2) for s in (1, 2)] == [False, True]
    assert [csat_service.is_low(s, 5) for s in range(1, 6)] == [True, True, False, False, False]


@pytest.mark.parametrize(("since", "until", "field"), [
    ("2026-13-01", "", "since"), ("", "明天", "until"), ("2026-11-07", "2026-11-01", "until"),
    ("2025-01-01", "2026-11-07", "until"),
])
def test_bad_ranges(since: str, until: str, field: str) -> None:
    with pytest.raises(DomainError) as exc:
        reports.parse_range(since, until, today=dt.date(2026, 11, 26))
    assert exc.value.field == field


def test_default_range_is_the_last_30_days() -> None:
    today = dt.date(2026, 11, 26)
    assert reports.parse_range("", "", today) == (dt.date(2026, 10, 28), today)
    assert reports.parse_range("", "2026-11-07", today) == (dt.date(2026, 10, 9), dt.date(2026, 11, 7))
    assert reports.parse_range("2026-11-01", "", today) == (dt.date(2026, 11, 1), today)
