"""An agent's presence row is made on first use, also when two requests of one console make it at once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from edudesk.auth.models import User
from edudesk.db import Database
from edudesk.routing import presence
from edudesk.routing.models import AgentState, AgentStatus
from tests.conftest import TwoOrgs


def test_first_use_makes_the_row_with_the_defaults(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        user = session.get(User, orgs.a.users["agent"].id)
        assert user is not None
        row = presence.state_for(session, user)
        assert (row.status, row.max_concurrent) == (AgentStatus.online, presence.DEFAULT_MAX_CONCURRENT)
        assert presence.state_for(session, user) is row
        session.commit()


def test_the_loser_of_the_race_to_make_it_reads_the_winners_row(database: Database, orgs: TwoOrgs,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's status badge and its socket both ask at once: the other request inserts the row between
    this one's look-up and its insert (the race a browser test hit as a 500 on /console/status)."""
    agent_id = orgs.a.users["agent"].id
    with database.session() as session:
        user = session.get(User, agent_id)
        assert user is not None
        real = session.scalars
        calls = 0

        def the_other_request_wins(statement: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:  # this request's look-up: none yet — and meanwhile the other request commits one
                with database.session() as other:
                    other.add(AgentState(org_id=orgs.a.id, user_id=agent_id, status=AgentStatus.away,
                                         max_concurrent=3))
                    other.commit()
                return real(select(AgentState).where(AgentState.id == -1), *args, **kwargs)
            return real(statement, *args, **kwargs)

        monkeypatch.setattr(session, "scalars", the_other_request_wins)
        row = presence.state_for(session, user)
        monkeypatch.undo()
        assert (row.status, row.max_concurrent) == (AgentStatus.away, 3)  # the winner's row
        session.commit()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AgentState)) == 1
