"""Routing fixtures: staff with skill levels and presence, and visitors put straight into the queue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.routing import presence
from edudesk.routing import service as routing_service
from edudesk.routing.models import AgentState, AgentStatus
from tests.conftest import PASSWORD, TwoOrgs


@dataclass
class Team:
    org_id: int
    group_id: int
    users: dict[str, User]  # name → user


def online(database: Database, user_id: int, *, max_concurrent: int = 5, status: str = "online",
           seen: dt.datetime | None = None) -> None:
    with database.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        presence.connected(session, user)
        row = presence.state_for(session, user)
        row.max_concurrent = max_concurrent
        row.status = AgentStatus(status)
        if seen is not None:
            row.last_seen_at = seen
        session.commit()


def make_team(database: Database, org_id: int, name: str, levels: dict[str, int], **group: Any) -> Team:
    with database.session() as session:
        actor = Actor(org_id, label="test")
        g = routing_service.create_group(session, actor, name, **group)
        users = {}
        for username, level in levels.items():
            user = auth_service.create_user(session, actor, username=username, password=PASSWORD,
                                            display_name=f"{username}老师", role="agent")
            routing_service.add_member(session, actor, g.id, user.id, level)
            users[username] = user
        session.commit()
        for user in users.values():
            session.expunge(user)
        return Team(org_id, g.id, users)


def queue(database: Database, org_id: int, visitor: str, *, group_id: int | None, priority: int = 0,
          senior_first: bool = False, queued_at: dt.datetime | None = None) -> int:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        conv = conversations_service.open_conversation(session, contact, "web")
        conv.group_id, conv.priority, conv.senior_first = group_id, priority, senior_first
        conversations_service.handoff(session, conv, "test", agents_online=True)
        if queued_at is not None:
            conv.queued_at = queued_at
        session.commit()
        return conv.id


def assignee(database: Database, conv_id: int) -> int | None:
    with database.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        return conv.assignee_id


def state(database: Database, user_id: int) -> AgentState:
    with database.session() as session:
        row = session.query(AgentState).filter_by(user_id=user_id).one()
        session.expunge(row)
        return row


@pytest.fixture
def team(database: Database, orgs: TwoOrgs) -> Team:
    return make_team(database, orgs.a.id, "小学数学", {"zhang": 5, "li": 2, "zhao": 1})
