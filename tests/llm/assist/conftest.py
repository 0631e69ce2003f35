"""Conversations for the assist tests, served through the app's own session factory (so the resolve hook that
enqueues the 服务小结 is the real one), and a worker that runs the app's jobs."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from edudesk import jobs
from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import SenderKind
from edudesk.db import Database

Line = tuple[str, str]  # ("v" visitor | "a" agent, text)


def serve(
    db: Database, org_id: int, agent: User | None, lines: Sequence[Line], *, visitor: str = "v1", resolve: bool = False
) -> int:
    """A conversation handed to ``agent`` (or left in the queue when None) with ``lines``; resolved by the agent
    when ``resolve``. Returns its id."""
    with db.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        conv = conversations_service.open_conversation(session, contact, "web")
        conversations_service.post_message(session, conv, SenderKind.visitor, "转人工")
        conversations_service.handoff(session, conv, "asked", agents_online=True, announce=False)
        if agent is not None:
            conversations_service.accept(session, agent, conv.id)
        for who, text in lines:
            if who == "a" and agent is not None:
                conversations_service.send_agent_message(session, agent, conv.id, text)
            else:
                conversations_service.post_message(session, conv, SenderKind.visitor, text)
        conv_id = conv.id
        session.commit()
        if resolve and agent is not None:
            conversations_service.resolve(session, agent, conv_id, close_after_seconds=3600)
            session.commit()
    return conv_id


def run_jobs(app: FastAPI) -> int:
    ctx = app.state.ctx
    worker = jobs.Worker(ctx.db, ctx.jobs, worker_id="assist-test")
    total = 0
    while ran := worker.run_pending(limit=100):
        total += ran
    return total
