"""How inspection hooks into the rest without the areas knowing: a flush listener and the job registrations.

Conversations close in several places (the visitor's rating, the auto-close job, an agent closing, a retention
purge) and the conversations area must not import us (we sit in the layer above it). So the app factory attaches
:func:`attach` to its session factory: before every flush it looks for conversations whose ``state`` becomes
``closed`` (or whose content is being purged) and enqueues a ``qc.inspect`` job in that same session — the job
commits in the closing transaction or not at all, exactly like a job the closing code enqueued itself. The check
looks only at conversations the session changed, so it costs nothing on flushes that touch none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from edudesk import jobs
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.qc import sampling
from edudesk.qc.inspection import INSPECT_JOB, Inspector

ENQUEUED_KEY = "edudesk_qc_enqueued"


def _needs_inspection(conv: Conversation) -> bool:
    state = inspect(conv)
    if "state" not in state.committed_state and "content_purged_at" not in state.committed_state:
        return False  # neither changed (no committed value, no history): the bot turn's flush, at no cost
    closing = state.attrs.state.history
    if closing.added and closing.added[0] == ConversationState.closed and ConversationState.closed not in (
            closing.deleted or ()):
        return True
    purged = state.attrs.content_purged_at.history
    return bool(purged.added and purged.added[0] is not None)


def enqueue_closed(session: Session) -> None:
    """Enqueues ``qc.inspect`` for each conversation in ``session`` that is being closed or purged (once per
    conversation and transaction)."""
    done: set[int] = session.info.setdefault(ENQUEUED_KEY, set())
    for obj in session.dirty:
        if not isinstance(obj, Conversation) or obj.id in done or not _needs_inspection(obj):
            continue
        done.add(obj.id)
        jobs.enqueue(session, INSPECT_JOB, {"org_id": obj.org_id, "conversation_id": obj.id}, org_id=obj.org_id)


def attach(factory: sessionmaker[Session]) -> None:
    @sa_event.listens_for(factory, "before_flush")
    def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
        enqueue_closed(session)

    @sa_event.listens_for(factory, "after_transaction_end")
    def _end(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            session.info.pop(ENQUEUED_KEY, None)


def register(registry: jobs.JobRegistry, inspector: Inspector | None = None) -> Inspector:
    inspector = inspector or Inspector()
    registry.register(INSPECT_JOB, inspector, background=True)
    sampling.register(registry)
    return inspector
