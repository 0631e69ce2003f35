"""Agents' status and capacity, and the lock that keeps automatic assignment within each agent's maximum.

The chosen status lives in ``agent_states``; whether the agent is actually there comes from their console
connections, which refresh ``last_seen_at`` every few seconds on whichever instance holds them. An agent whose
consoles are all gone is offline for routing (automatically, within ``STALE_AFTER``), and is back at their chosen
status when a console reconnects. Everything reads the database, so ``edudesk worker`` processes and every
``serve`` instance agree without Redis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.auth.models import User
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import utcnow
from edudesk.errors import DomainError
from edudesk.events import agents_topic
from edudesk.routing.models import STATUS_LABELS, AgentState, AgentStatus, AgentStatusInterval

# Consoles refresh every HEARTBEAT_SECONDS; three missed refreshes make the agent offline.
HEARTBEAT_SECONDS = 15
STALE_AFTER = dt.timedelta(seconds=3 * HEARTBEAT_SECONDS)
MAX_CONCURRENT_LIMIT = 50
DEFAULT_MAX_CONCURRENT = 5


class PresenceError(DomainError):
    pass


@dataclass(frozen=True)
class AgentLoad:
    user_id: int
    name: str
    status: AgentStatus  # effective: offline when no console is connected
    chosen: AgentStatus
    max_concurrent: int
    active: int  # conversations being served now

    @property
    def free(self) -> int:
        return max(0, self.max_concurrent - self.active)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def state_for(session: Session, user: User) -> AgentState:
    """The agent's row, created on first use with the defaults (online, five at a time). A console that opens
    asks for it from several requests at once (the status badge, the socket's presence): the loser of the race to
    insert it reads the winner's row instead of answering 500."""
    query = select(AgentState).where(AgentState.user_id == user.id)
    row = session.scalars(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = AgentState(org_id=user.org_id, user_id=user.id, status=AgentStatus.online,
                             max_concurrent=DEFAULT_MAX_CONCURRENT)
            session.add(row)
            session.flush()
    except IntegrityError:
        found = session.scalars(query).first()
        if found is None:
            raise
        return found
    return row


def effective_status(row: AgentState | None, now: dt.datetime | None = None) -> AgentStatus:
    if row is None or row.last_seen_at is None:
        return AgentStatus.offline
    if row.last_seen_at < (now or utcnow()) - STALE_AFTER:
        return AgentStatus.offline
    return row.status


def _publish(session: Session, user: User, row: AgentState) -> None:
    events.record(session, events.DomainEvent(
        type="agent.status", org_id=user.org_id,
        data={"user_id": user.id, "status": effective_status(row).value, "chosen": row.status.value,
              "max_concurrent": row.max_concurrent},
        topics=(agents_topic(user.org_id),),
    ))


def _log_change(session: Session, row: AgentState, before: AgentStatus, after: AgentStatus,
                last_seen: dt.datetime | None) -> None:
    """Keeps the status history (``AgentStatusInterval``) when the effective status changes: ends the open stretch
    (at the console's last sign of life plus ``STALE_AFTER`` when it went silent earlier) and opens the new one."""
    if before == after:
        return
    now = utcnow()
    end = min(now, last_seen + STALE_AFTER) if last_seen is not None else now
    for stretch in session.scalars(select(AgentStatusInterval).where(
            AgentStatusInterval.user_id == row.user_id, AgentStatusInterval.ended_at.is_(None))):
        stretch.ended_at = max(stretch.started_at, end)
    if after != AgentStatus.offline:
        session.add(AgentStatusInterval(org_id=row.org_id, user_id=row.user_id, status=after.value, started_at=now))


def set_status(session: Session, user: User, status: str) -> AgentState:
    try:
        chosen = AgentStatus(status)
    except ValueError:
        raise PresenceError("bad_status", "状态只能是 在线、忙碌、离开 或 离线", "status") from None
    row = state_for(session, user)
    if row.status != chosen:
        before = effective_status(row)
        row.status = chosen
        row.status_changed_at = utcnow()
        audit_service.record(session, audit_service.Actor(user.org_id, user.id, user.username),
                             "agent.status", "user", user.id, status=chosen.value)
        _log_change(session, row, before, effective_status(row), row.last_seen_at)
        _publish(session, user, row)
    return row


def set_max_concurrent(session: Session, actor: audit_service.Actor, user: User, value: int) -> AgentState:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENT_LIMIT:
        raise PresenceError("bad_max", f"最大接待量须为 1–{MAX_CONCURRENT_LIMIT} 的整数", "max_concurrent")
    row = state_for(session, user)
    if row.max_concurrent != value:
        row.max_concurrent = value
        audit_service.record(session, actor, "agent.max_concurrent", "user", user.id, max_concurrent=value)
        _publish(session, user, row)
    return row


def seen(session: Session, user_ids: Iterable[int], now: dt.datetime | None = None) -> None:
    """The heartbeat of connected consoles: one UPDATE for every agent connected to this instance."""
    ids = sorted(set(user_ids))
    if ids:
        session.execute(update(AgentState).where(AgentState.user_id.in_(ids)).values(last_seen_at=now or utcnow()))


def connected(session: Session, user: User) -> None:
    """A console of ``user`` connected: fresh at once, so a returning agent gets work without waiting a beat (the
    ``agent.status`` event of an agent who was offline for routing makes the dispatcher look at the queue)."""
    row = state_for(session, user)
    was_offline = effective_status(row) == AgentStatus.offline
    last_seen = row.last_seen_at
    row.last_seen_at = utcnow()
    if was_offline:
        _log_change(session, row, AgentStatus.offline, row.status, last_seen)
        _publish(session, user, row)


def disconnected(session: Session, user: User) -> None:
    """The user's last console on *every* instance is gone (the caller checked): offline at once."""
    row = state_for(session, user)
    if row.last_seen_at is not None:
        before, last_seen = effective_status(row), row.last_seen_at
        row.last_seen_at = None
        _log_change(session, row, before, AgentStatus.offline, last_seen)
        _publish(session, user, row)


def active_counts(session: Session, org_id: int, user_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Conversations each agent is serving now (assigned, not yet resolved)."""
    stmt = (select(Conversation.assignee_id, func.count())
            .where(Conversation.org_id == org_id, Conversation.state == ConversationState.assigned,
                   Conversation.assignee_id.is_not(None))
            .group_by(Conversation.assignee_id))
    if user_ids is not None:
        stmt = stmt.where(Conversation.assignee_id.in_(list(user_ids)))
    return {int(uid): int(n) for uid, n in session.execute(stmt) if uid is not None}


def board(session: Session, org_id: int) -> list[AgentLoad]:
    """Every active staff member with their effective status and load: the supervisor's overview."""
    users = list(session.scalars(select(User).where(User.org_id == org_id, User.is_active.is_(True))
                                 .order_by(User.display_name)))
    states = {s.user_id: s for s in session.scalars(select(AgentState).where(AgentState.org_id == org_id))}
    counts = active_counts(session, org_id)
    now = utcnow()
    out = []
    for user in users:
        row = states.get(user.id)
        out.append(AgentLoad(
            user_id=user.id, name=user.display_name, status=effective_status(row, now),
            chosen=row.status if row else AgentStatus.online,
            max_concurrent=row.max_concurrent if row else DEFAULT_MAX_CONCURRENT, active=counts.get(user.id, 0)))
    return out


def lock_for_assignment(session: Session, user_id: int, *, wait: bool) -> AgentState | None:
    """Locks the agent's row so that counting their conversations and adding one is atomic across instances.

    PostgreSQL: ``FOR UPDATE`` (``SKIP LOCKED`` when ``wait`` is false, so a dispatcher passes over an agent another
    instance is assigning to instead of queueing behind it, and two dispatchers never deadlock). SQLite: a write to
    the row takes the database's single write lock, which serialises the whole rest of the transaction. Returns
    None when the row is locked elsewhere (PostgreSQL, ``wait`` false) or does not exist."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE agent_states SET max_concurrent = max_concurrent WHERE user_id = :u"),
                        {"u": user_id})
        stmt = select(AgentState).where(AgentState.user_id == user_id).execution_options(populate_existing=True)
        return session.scalars(stmt).first()
    stmt = (select(AgentState).where(AgentState.user_id == user_id)
            .with_for_update(skip_locked=not wait).execution_options(populate_existing=True))
    return session.scalars(stmt).first()


def has_capacity(session: Session, user: User, *, extra: int = 1) -> bool:
    """Under the agent's lock: whether ``extra`` more conversations fit. Staff without a state row (admins who
    never opened the console) have the default capacity."""
    row = lock_for_assignment(session, user.id, wait=True)
    limit = row.max_concurrent if row is not None else DEFAULT_MAX_CONCURRENT
    return active_counts(session, user.org_id, [user.id]).get(user.id, 0) + extra <= limit
