"""Presence keeps agents' status history (``agent_status_intervals``): a stretch per effective status (online, busy,
away), ended when the status changes, when the console goes, or at the console's last sign of life."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from edudesk.auth.models import User
from edudesk.db import Database
from edudesk.routing import presence
from edudesk.routing.models import AgentStatusInterval
from tests.conftest import TwoOrgs


def _stretches(database: Database, user_id: int) -> list[tuple[str, bool]]:
    with database.session() as session:
        rows = session.scalars(select(AgentStatusInterval).where(AgentStatusInterval.user_id == user_id)
                               .order_by(AgentStatusInterval.id))
        return [(r.status, r.ended_at is not None) for r in rows]


def test_status_changes_write_stretches(database: Database, orgs: TwoOrgs) -> None:
    uid = orgs.a.users["agent"].id
    with database.session() as session:
        user = session.get(User, uid)
        assert user is not None
        presence.set_status(session, user, "busy")  # no console yet: offline either way, nothing to log
        session.commit()
        assert _stretches(database, uid) == []
        presence.connected(session, user)
        session.commit()
        presence.set_status(session, user, "away")
        session.commit()
        presence.set_status(session, user, "away")  # no change
        session.commit()
        presence.disconnected(session, user)
        session.commit()
    assert _stretches(database, uid) == [("busy", True), ("away", True)]
    with database.session() as session:
        rows = list(session.scalars(select(AgentStatusInterval).where(AgentStatusInterval.user_id == uid)))
        assert all(r.org_id == orgs.a.id for r in rows)
        assert rows[0].ended_at == rows[1].started_at or rows[0].ended_at <= rows[1].started_at  # type: ignore[operator]


def test_a_silent_console_ends_its_stretch_at_its_last_sign_of_life(database: Database, orgs: TwoOrgs) -> None:
    uid = orgs.a.users["agent"].id
    with database.session() as session:
        user = session.get(User, uid)
        assert user is not None
        presence.connected(session, user)
        session.commit()
        row = presence.state_for(session, user)
        gone = row.last_seen_at - dt.timedelta(hours=2)  # type: ignore[operator]
        row.last_seen_at = gone
        stretch = session.scalars(select(AgentStatusInterval).where(AgentStatusInterval.user_id == uid)).one()
        stretch.started_at = gone - dt.timedelta(hours=1)
        session.commit()
        presence.connected(session, user)  # back after the console died without a goodbye
        session.commit()
        first, second = session.scalars(select(AgentStatusInterval).where(AgentStatusInterval.user_id == uid)
                                        .order_by(AgentStatusInterval.id)).all()
        assert first.ended_at == gone + presence.STALE_AFTER
        assert second.status == "online" and second.ended_at is None
