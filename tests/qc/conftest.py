"""Served conversations for the QC tests: a visitor, a handoff, an agent's replies, then closed as in real life
(resolve + the visitor's rating) through the app's own session factory, so the close hook is the real one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from edudesk import jobs
from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, SenderKind
from edudesk.db import Database
from tests.conftest import TwoOrgs

Line = tuple[str, str]  # ("c" visitor | "a" agent, text)
Serve = Callable[..., int]


def serve(db: Database, org_id: int, agent: User, lines: Sequence[Line], *, visitor: str = "v1",
          close: bool = True) -> int:
    """A conversation handed to ``agent`` who exchanges ``lines`` with the visitor; closed by the visitor's
    rating unless ``close`` is False. Returns its id."""
    with db.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        conv = conversations_service.open_conversation(session, contact, "web")
        conversations_service.post_message(session, conv, SenderKind.visitor, "转人工")
        conversations_service.handoff(session, conv, "asked", agents_online=True, announce=False)
        conversations_service.accept(session, agent, conv.id)
        for who, text in lines:
            if who == "a":
                conversations_service.send_agent_message(session, agent, conv.id, text)
            else:
                conversations_service.post_message(session, conv, SenderKind.visitor, text)
        conv_id = conv.id
        session.commit()
        if close:
            conversations_service.resolve(session, agent, conv_id, close_after_seconds=3600)
            conversations_service.rate(session, org_id, contact.id, 5, None)
            session.commit()
    return conv_id


def run_jobs(app: FastAPI) -> int:
    ctx = app.state.ctx
    worker = jobs.Worker(ctx.db, ctx.jobs, worker_id="qc-test")
    total = 0
    while ran := worker.run_pending(limit=100):
        total += ran
    return total


def pending(db: Database, kind: str) -> list[jobs.Job]:
    with db.session() as session:
        return list(session.scalars(select(jobs.Job).where(jobs.Job.kind == kind,
                                                           jobs.Job.status == jobs.JobStatus.pending)))


@pytest.fixture
def served(app: FastAPI, orgs: TwoOrgs) -> Serve:
    """serve() through the app's database (whose session factory carries the QC hook)."""
    db: Database = app.state.ctx.db

    def make(lines: Sequence[Line], *, org: str = "a", agent: str = "agent", **kw: object) -> int:
        fixture = orgs.a if org == "a" else orgs.b
        return serve(db, fixture.id, fixture.users[agent], lines, **kw)  # type: ignore[arg-type]

    return make


def conversation(db: Database, conv_id: int) -> Conversation:
    with db.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        session.expunge(conv)
        return conv
