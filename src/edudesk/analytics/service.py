"""The numbers of the management dashboards: what the pages, the exports and the e-mailed summary call.

- ``dashboard(session, org_id, key, filters, *, now=None)`` → ``shapes.Dashboard`` for ``people``, ``data``,
  ``process`` or ``outcome``: a few grouped queries on the roll-up tables (``analytics.models``), never on messages.
- ``drill(session, org_id, drill, filters, page, per_page=50, *, mask_phones=True)`` → ``shapes.DrillPage``: the
  rows behind a figure, chosen by the same conditions the figure counted.
- ``live_wall(session, org_id, *, now=None)`` → ``shapes.LiveWall``: agents and queue now.

Definitions: docs/metrics.md. Freshness: the roll-ups are kept by ``analytics.jobs`` (``Dashboard.as_of``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.analytics.metrics import data, live, outcome, people, process
from edudesk.analytics.metrics import drill as drill_lists
from edudesk.analytics.models import RollupDay
from edudesk.analytics.shapes import (
    DASHBOARD_KEYS,
    N_,
    Dashboard,
    DashboardKey,
    Drill,
    DrillPage,
    Figure,
    FilterError,
    Filters,
    LiveWall,
    Panel,
)

__all__ = ["TITLES", "as_of", "dashboard", "drill", "live_wall"]

Builder = Callable[[Session, int, Filters], tuple[tuple[Figure, ...], tuple[Panel, ...]]]
BUILDERS: dict[str, Builder] = {"people": people.build, "data": data.build, "process": process.build,
                                "outcome": outcome.build}
TITLES: dict[str, str] = {"people": N_("人员管理"), "data": N_("数据分析"), "process": N_("服务过程"),
                          "outcome": N_("服务结果")}


def as_of(session: Session, org_id: int, filters: Filters) -> dt.datetime | None:
    """The oldest computation among the period's rolled-up days (None: none rolled up): the dashboard is at least
    as fresh as this."""
    return session.scalar(select(func.min(RollupDay.computed_at)).where(
        RollupDay.org_id == org_id, RollupDay.day >= filters.start, RollupDay.day <= filters.end))


def dashboard(session: Session, org_id: int, key: str, filters: Filters, *, now: dt.datetime | None = None
              ) -> Dashboard:
    """One dashboard for the org and the filter bar. ``now`` is accepted for symmetry with the live wall and the
    summary e-mail (the numbers come from the roll-ups, which the jobs keep at their own clock)."""
    if key not in DASHBOARD_KEYS:
        raise FilterError("key", "未知的看板")
    figures, panels = BUILDERS[key](session, org_id, filters)
    dash_key: DashboardKey = key
    return Dashboard(dash_key, TITLES[key], filters, figures, panels, as_of(session, org_id, filters))


def drill(session: Session, org_id: int, drill: Drill, filters: Filters, page: int = 1, per_page: int = 50, *,
          mask_phones: bool = True) -> DrillPage:
    """The conversations, leads, tickets or agents behind a figure or a row (``drill`` from the dashboard, or
    parsed from a drill-down URL: unknown parameters raise ``FilterError`` naming the parameter)."""
    return drill_lists.drill_page(session, org_id, drill.kind, dict(drill.params), filters, page, per_page,
                                  mask_phones=mask_phones)


def live_wall(session: Session, org_id: int, *, now: dt.datetime | None = None) -> LiveWall:
    return live.live_wall(session, org_id, now=now)
