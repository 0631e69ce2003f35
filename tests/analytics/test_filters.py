"""The filter bar cuts every dashboard the same way (date range, channel, source, campaign, skill group, agent), and
one org never sees another's numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from edudesk.analytics import service
from edudesk.analytics.shapes import Drill, Filters
from edudesk.db import Database
from tests.analytics.seed import DAY, NEXT, Seeded

CASES: list[tuple[dict[str, Any], str, str, Any]] = [
    ({"end": DAY}, "data", "valid", 4),
    ({"start": NEXT}, "data", "valid", 1),
    ({"start": NEXT}, "outcome", "visits", 2),
    ({"channel": "wechat"}, "data", "valid", 2),
    ({"channel": "wechat"}, "data", "handover_rate", 1.0),
    ({"channel": "wechat"}, "process", "tickets", 1),
    ({"channel": "wechat"}, "outcome", "visits", None),  # visits come before any channel
    ({"channel": "web"}, "outcome", "visits", 12),
    ({"channel": "web"}, "outcome", "contact", 1),  # L1 (L4 came by a form)
    ({"source": "search"}, "data", "valid", 2),
    ({"source": "search"}, "outcome", "contact", 2),
    ({"source": "search"}, "outcome", "visits", 4),
    ({"source": "none"}, "data", "conversations", 2),
    ({"agent_id": "agent"}, "people", "served", 1),
    ({"agent_id": "agent"}, "people", "online_seconds", 10800),
    ({"agent_id": "agent2"}, "process", "transfers", 1),
    ({"agent_id": "agent"}, "outcome", "visits", None),
]


def _filters(period: Filters, seeded: Seeded, change: dict[str, Any]) -> Filters:
    change = dict(change)
    if change.get("agent_id") == "agent":
        change["agent_id"] = seeded.agent_id
    elif change.get("agent_id") == "agent2":
        change["agent_id"] = seeded.agent2_id
    return replace(period, **change)


@pytest.mark.parametrize(("change", "key", "figure", "expected"), CASES)
def test_filter(database: Database, seeded: Seeded, period: Filters, change: dict[str, Any], key: str, figure: str,
                expected: Any) -> None:
    with database.session() as session:
        dash = service.dashboard(session, seeded.org_id, key, _filters(period, seeded, change))
    assert {f.key: f.value for f in dash.figures}[figure] == expected


def test_campaign_and_group_filters(database: Database, seeded: Seeded, period: Filters) -> None:
    with database.session() as session:
        by_campaign = service.dashboard(session, seeded.org_id, "outcome", replace(period,
                                                                                 campaign_id=seeded.campaign_id))
        by_group = service.dashboard(session, seeded.org_id, "process", replace(period, group_id=seeded.group_id))
    assert {f.key: f.value for f in by_campaign.figures}["contact"] == 1
    assert {f.key: f.value for f in by_campaign.figures}["visits"] == 2
    process = {f.key: f.value for f in by_group.figures}
    assert (process["queued"], process["tickets"], process["first_rate"]) == (1, 2, 0.5)


def test_orgs_never_see_each_other(database: Database, seeded: Seeded, period: Filters, orgs: Any) -> None:
    with database.session() as session:
        other = service.dashboard(session, orgs.b.id, "outcome", period)
        other_data = service.dashboard(session, orgs.b.id, "data", period)
        # Org B asking for org A's conversation list with A's ids in the parameters still sees only its own.
        listed = service.drill(session, orgs.b.id, Drill("conversations", {}), period)
        by_a_agent = service.drill(session, orgs.b.id, Drill("conversations", {"agent_id": str(seeded.agent_id)}),
                                   period)
        wall = service.live_wall(session, orgs.b.id)
    assert {f.key: f.value for f in other.figures}["contact"] == 1
    assert {f.key: f.value for f in other.figures}["visits"] == 1
    assert {f.key: f.value for f in other_data.figures}["valid"] == 1
    assert listed.total == 1 and set(seeded.conversations.values()).isdisjoint({r.cells["id"] for r in listed.rows})
    assert by_a_agent.total == 0
    assert wall.queue.rows == () and wall.agents.rows == ()


def test_a_year_is_the_longest_range() -> None:
    from edudesk.analytics.shapes import FilterError

    with pytest.raises(FilterError):
        Filters(DAY, DAY + dt.timedelta(days=366))
