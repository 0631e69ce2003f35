"""The worked example (tests/analytics/seed.py) rolled up for both orgs, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.analytics import rollups
from edudesk.analytics.shapes import Filters
from edudesk.db import Database
from tests.analytics.seed import DAY, NEXT, Seeded, at, seed, seed_other_org
from tests.conftest import TwoOrgs

# "Now" for the roll-ups: after everything in the example happened.
NOW = at(DAY + dt.timedelta(days=10), "12:00")


@pytest.fixture
def seeded(database: Database, orgs: TwoOrgs) -> Seeded:
    with database.session() as session:
        out = seed(session, orgs.a.id, orgs.a.users["agent"].id, orgs.a.users["agent2"].id)
        seed_other_org(session, orgs.b.id)
        session.commit()
        for org_id in (orgs.a.id, orgs.b.id):
            rollups.recompute_range(session, org_id, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=3), now=NOW)
    return out


@pytest.fixture
def period() -> Filters:
    return Filters(start=DAY, end=NEXT)
