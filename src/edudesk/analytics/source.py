"""Where the dashboard pages get their numbers: the seam between the pages and ``analytics.service``.

The pages (``analytics.views``) never compute a number; they ask a ``DashboardSource`` — in production the module
``edudesk.analytics.service`` itself (its module functions satisfy this protocol), set once by the app factory as
``app.state.dashboards``; in tests a fake that returns hand-made ``Dashboard`` / ``DrillPage`` values, so the pages,
charts and exports are tested against the contract (``analytics.shapes``), not against one computation of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from edudesk.analytics.shapes import Dashboard, DashboardKey, Drill, DrillPage, Filters, LiveWall

__all__ = ["DashboardSource", "SourceMissing", "source_of"]


class DashboardSource(Protocol):
    """What the pages need of the numbers. Every call is scoped to ``org_id``; a bad drill parameter or filter the
    numbers cannot use raises ``shapes.FilterError`` (the pages show it beside the field, with a 400)."""

    def dashboard(self, session: Session, org_id: int, key: DashboardKey, filters: Filters, *,
                  now: dt.datetime | None = None) -> Dashboard: ...

    def drill(self, session: Session, org_id: int, drill: Drill, filters: Filters, page: int, per_page: int = 50, *,
              mask_phones: bool) -> DrillPage: ...

    def live_wall(self, session: Session, org_id: int, *, now: dt.datetime | None = None) -> LiveWall:
        """Now, not a date range: headline figures (agents online, waiting, longest wait…), the agents and the
        queue. An agent's drill-down is shown under today's filters; a queued visitor links to the conversation."""
        ...


class SourceMissing(RuntimeError):
    """The app was built without the numbers (``app.state.dashboards`` unset): the pages answer 503."""


def source_of(conn: HTTPConnection) -> DashboardSource:
    source: DashboardSource | None = getattr(conn.app.state, "dashboards", None)
    if source is None:
        raise SourceMissing("app.state.dashboards is not set (see analytics/source.py)")
    return source
