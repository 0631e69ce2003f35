"""Recomputes one org's local day of roll-up rows from the raw rows: idempotent, and safe with several workers.

The day's ``analytics_days`` row is locked first (``FOR UPDATE`` on PostgreSQL; on SQLite the write that takes the
database's single writer lock), then the day's dirty marks are deleted *before* anything is read: a change that
commits after that delete leaves a mark of its own behind (its insert is not seen by the delete), so it is rolled
up by the next refresh, and a change committed before it is seen by the reads that follow. Then the day's rows are
deleted and inserted again. Nothing here commits: the caller commits one day at a time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from edudesk.analytics import attribution, rollup_conversations, rollup_others
from edudesk.analytics.models import (
    FACT_TABLES,
    AgentDay,
    ConversationFact,
    ConversationFlow,
    DirtyDay,
    LeadFact,
    QuestionFact,
    RollupDay,
    TicketFact,
    VisitDay,
)
from edudesk.db import utcnow


def lock_day(session: Session, org_id: int, day: dt.date) -> RollupDay:
    """The day's row, created when missing, locked until the transaction ends."""
    dialect = session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(make(RollupDay).values(org_id=org_id, day=day, computed_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["org_id", "day"]))
    stmt = select(RollupDay).where(RollupDay.org_id == org_id, RollupDay.day == day)
    if dialect == "sqlite":
        session.execute(update(RollupDay).where(RollupDay.org_id == org_id, RollupDay.day == day)
                        .values(computed_at=RollupDay.computed_at))
    else:
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(model), rows)


def recompute_day(session: Session, org_id: int, day: dt.date, *, now: dt.datetime | None = None) -> RollupDay:
    now = now or utcnow()
    marker = lock_day(session, org_id, day)
    session.execute(delete(DirtyDay).where(DirtyDay.org_id == org_id, DirtyDay.day == day))
    for model in FACT_TABLES:
        session.execute(delete(model).where(model.org_id == org_id, model.day == day))
    scenes = attribution.campaign_ids(session, org_id)
    facts, flows, questions = rollup_conversations.conversation_rows(session, org_id, day, scenes)
    _insert(session, ConversationFact, facts)
    _insert(session, ConversationFlow, flows)
    _insert(session, QuestionFact, questions)
    _insert(session, LeadFact, rollup_others.lead_rows(session, org_id, day, scenes))
    _insert(session, TicketFact, rollup_others.ticket_rows(session, org_id, day, scenes))
    _insert(session, VisitDay, rollup_others.visit_rows(session, org_id, day, scenes))
    _insert(session, AgentDay, rollup_others.agent_rows(session, org_id, day, now))
    marker.computed_at = now
    return marker


def recompute_range(session: Session, org_id: int, start: dt.date, end: dt.date, *,
                    now: dt.datetime | None = None, commit: bool = True) -> int:
    """Every day from ``start`` to ``end``, each in its own transaction (``commit``): the CLI's rebuild and the
    tests' "from scratch"."""
    day, n = start, 0
    while day <= end:
        recompute_day(session, org_id, day, now=now)
        if commit:
            session.commit()
        day += dt.timedelta(days=1)
        n += 1
    return n
