"""Marks the local days whose roll-up rows a transaction changes, in that same transaction (the outbox rule).

An ``after_flush`` hook on the session factory looks at the objects the flush wrote — conversations (and through
them their messages), leads and their contact values, trial bookings, tickets, knowledge-base misses and agents'
status stretches — and inserts one ``analytics_dirty`` row per (org, day) not yet marked in this transaction. The
``analytics.refresh`` job turns marks into recomputed days. Rows written without the ORM (bulk UPDATEs, the visitor
trail's batch writer) are caught by the refresh job's look at today and by the daily repair (``analytics.jobs``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from edudesk.analytics.models import DirtyDay
from edudesk.conversations.models import Conversation, Message
from edudesk.kb.models import KbMiss
from edudesk.leads.models import Lead, LeadValue
from edudesk.localtime import LOCAL_TZ
from edudesk.routing.models import AgentStatusInterval
from edudesk.tickets.models import Ticket
from edudesk.trials.models import TrialBooking

MARKED_KEY = "edudesk_analytics_marked"
# A status stretch marks every day it covers, up to this many (rollup_others.LONGEST_STRETCH reads as far back).
MAX_STRETCH_DAYS = 31


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(LOCAL_TZ).date()


def _created_of(session: Session, model: Any, ident: int | None) -> dt.datetime | None:
    """The start of a related row: from the identity map when loaded, else one SELECT on the flush's connection."""
    if ident is None:
        return None
    loaded = session.identity_map.get(session.identity_key(model, ident))
    if loaded is not None:
        return loaded.created_at  # type: ignore[no-any-return]
    return session.connection().execute(select(model.created_at).where(model.id == ident)).scalar()


def days_of(session: Session, obj: object) -> Iterator[tuple[int, dt.date]]:
    """(org, day) pairs whose roll-up ``obj`` feeds."""
    org_id = getattr(obj, "org_id", None)
    if org_id is None:
        return
    at: dt.datetime | None = None
    if isinstance(obj, Conversation | Lead | Ticket):
        at = obj.created_at
    elif isinstance(obj, Message | KbMiss):
        at = _created_of(session, Conversation, obj.conversation_id)
    elif isinstance(obj, LeadValue):
        at = _created_of(session, Conversation, obj.conversation_id)
        lead_at = _created_of(session, Lead, obj.lead_id)
        if lead_at is not None:
            yield org_id, local_day(lead_at)
    elif isinstance(obj, TrialBooking):
        at = _created_of(session, Lead, obj.lead_id)
    elif isinstance(obj, AgentStatusInterval):
        first = local_day(obj.started_at)
        last = local_day(obj.ended_at) if obj.ended_at is not None else first
        for n in range(min((last - first).days, MAX_STRETCH_DAYS) + 1):
            yield org_id, first + dt.timedelta(days=n)
        return
    if at is not None:
        yield org_id, local_day(at)


WATCHED = (Conversation, Message, Lead, LeadValue, TrialBooking, Ticket, KbMiss, AgentStatusInterval)


def _watched(objects: Iterable[object]) -> Iterator[object]:
    return (o for o in objects if isinstance(o, WATCHED))


def attach(factory: sessionmaker[Session]) -> None:
    @sa_event.listens_for(factory, "after_flush")
    def _after_flush(session: Session, flush_context: object) -> None:
        changed = [*_watched(session.new), *_watched(session.dirty), *_watched(session.deleted)]
        if not changed:
            return
        marked: set[tuple[int, dt.date]] = session.info.setdefault(MARKED_KEY, set())
        fresh = {pair for obj in changed for pair in days_of(session, obj)} - marked
        if fresh:
            session.connection().execute(insert(DirtyDay), [{"org_id": o, "day": d} for o, d in sorted(fresh)])
            marked.update(fresh)

    @sa_event.listens_for(factory, "after_transaction_end")
    def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
        # The root ends (commit or rollback), or a savepoint does (its marks may be rolled back with it): either way
        # forget what was marked, so a later flush marks again rather than trusting a mark that may be gone.
        if transaction.parent is None or transaction.nested:
            session.info.pop(MARKED_KEY, None)
