"""Automatic assignment: the queue, in order, to agents with free capacity.

The queue is ordered by priority (VIP and A-grade first), then by how long each visitor has waited. For each
waiting conversation the group's strategy ranks the members who are online and below their maximum; seniors come
first when the routing decision asked for it. Assignment happens under two locks: the conversation's row (skipped
when another instance holds it) and the chosen agent's ``agent_states`` row (see ``presence.lock_for_assignment``),
with the agent's load counted again under the lock. So two instances dispatching at once can never give an agent
more than their maximum, and never wait on each other.

Only conversations routed to a skill group are assigned automatically (unless the group is set to manual
pick-up); the public queue of conversations no rule routed is picked from by hand, as before routing existed.

Dispatch runs when a conversation enters the queue, when capacity frees (resolve, release, transfer, an agent
coming online or raising their maximum) and, as a safety net, every few seconds on every instance.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.auth.models import User
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import utcnow
from edudesk.routing import presence
from edudesk.routing.models import AgentState, AgentStatus, SkillGroup, SkillGroupMember, Strategy

S = ConversationState
DEFAULT_HANDLE_SECONDS = 600.0
QUEUE_BATCH = 50


@dataclass(frozen=True)
class Candidate:
    user_id: int
    level: int
    active: int
    max_concurrent: int
    last_assigned_at: dt.datetime | None


@dataclass(frozen=True)
class Assignment:
    conversation_id: int
    user_id: int


def _members(session: Session, org_id: int, group_id: int | None) -> dict[int, int]:
    """user id → skill level of those who may serve the group (no group: every active agent, level 1)."""
    if group_id is None:
        ids = session.scalars(select(User.id).where(User.org_id == org_id, User.is_active.is_(True)))
        return dict.fromkeys(ids, 1)
    rows = session.execute(
        select(SkillGroupMember.user_id, SkillGroupMember.level)
        .join(User, User.id == SkillGroupMember.user_id)
        .where(SkillGroupMember.group_id == group_id, SkillGroupMember.org_id == org_id, User.is_active.is_(True)))
    return {uid: level for uid, level in rows}


def _online(session: Session, org_id: int, user_ids: Iterable[int], now: dt.datetime) -> list[AgentState]:
    """The agents among ``user_ids`` who take new conversations now: status online and a live console."""
    return list(session.scalars(select(AgentState).where(
        AgentState.org_id == org_id, AgentState.user_id.in_(list(user_ids)),
        AgentState.status == AgentStatus.online, AgentState.last_seen_at >= now - presence.STALE_AFTER)))


def _in_group(group_id: int | None) -> ColumnElement[bool]:
    return Conversation.group_id == group_id if group_id is not None else Conversation.group_id.is_(None)


def candidates(session: Session, org_id: int, group_id: int | None, now: dt.datetime | None = None
               ) -> list[Candidate]:
    """Members who are online (a live console, status online) and below their maximum right now."""
    now = now or utcnow()
    levels = _members(session, org_id, group_id)
    if not levels:
        return []
    online = {s.user_id: s for s in _online(session, org_id, levels, now)}
    if not online:
        return []
    counts = presence.active_counts(session, org_id, online)
    last = dict(session.execute(
        select(Conversation.assignee_id, func.max(Conversation.assigned_at))
        .where(Conversation.org_id == org_id, Conversation.assignee_id.in_(list(online)))
        .group_by(Conversation.assignee_id)).all())
    out = [Candidate(uid, levels[uid], counts.get(uid, 0), st.max_concurrent, last.get(uid))
           for uid, st in online.items()]
    return [c for c in out if c.active < c.max_concurrent]


def rank(cands: Iterable[Candidate], *, strategy: Strategy, senior_first: bool, last_agent_id: int | None = None,
         last_assigned_user_id: int | None = None) -> list[Candidate]:
    """The order in which free members are offered a conversation. Pure, so strategies are table-tested."""
    pool = list(cands)
    never = dt.datetime.min.replace(tzinfo=dt.UTC)

    def least_busy(c: Candidate) -> tuple[float, dt.datetime, int]:
        # Lowest share of capacity in use, then the one who has waited longest for a new conversation.
        return (c.active / c.max_concurrent, c.last_assigned_at or never, c.user_id)

    ordered = sorted(pool, key=least_busy)
    if strategy == Strategy.round_robin:
        ids = sorted(c.user_id for c in pool)
        start = next((i for i, uid in enumerate(ids) if last_assigned_user_id is not None
                      and uid > last_assigned_user_id), 0)
        turn = {uid: (i - start) % len(ids) for i, uid in enumerate(ids)}
        ordered = sorted(pool, key=lambda c: turn[c.user_id])
    if strategy == Strategy.last_agent and last_agent_id is not None:
        ordered.sort(key=lambda c: c.user_id != last_agent_id)  # stable: the rest stay least busy first
    if senior_first:
        ordered.sort(key=lambda c: -c.level)  # stable within a level
    return ordered


def last_agent_of_contact(session: Session, org_id: int, contact_id: int, exclude_conversation: int) -> int | None:
    return session.scalars(
        select(Conversation.assignee_id).where(
            Conversation.org_id == org_id, Conversation.contact_id == contact_id,
            Conversation.id != exclude_conversation, Conversation.assignee_id.is_not(None))
        .order_by(Conversation.id.desc()).limit(1)).first()


def _waiting(org_id: int) -> Select[Conversation]:
    """The org's queue in serving order: priority, then the longest wait (then the id, as ``position`` counts)."""
    return (select(Conversation).where(Conversation.org_id == org_id, Conversation.state == S.queued)
            .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id))


def _queue(session: Session, org_id: int, group_ids: set[int | None] | None, limit: int) -> list[Conversation]:
    """The conversations to place, best first: those waiting in groups that assign automatically. The public queue
    (no rule matched, no group) and groups set to ``manual`` are picked from by the agents themselves."""
    automatic = select(SkillGroup.id).where(SkillGroup.org_id == org_id, SkillGroup.strategy != Strategy.manual)
    stmt = _waiting(org_id).where(Conversation.group_id.in_(automatic)).limit(limit)
    if group_ids is not None:
        named = [g for g in group_ids if g is not None]
        if not named:
            return []
        stmt = stmt.where(Conversation.group_id.in_(named))
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True, of=Conversation)
    return list(session.scalars(stmt))


def _take_sqlite_write_lock(session: Session) -> None:
    """On SQLite, dispatch reads and writes under the database's write lock from its first statement, so what it
    counted cannot change before it writes (PostgreSQL uses row locks instead)."""
    if session.get_bind().dialect.name == "sqlite":
        presence.lock_for_assignment(session, -1, wait=True)


def assign_to(session: Session, conv: Conversation, user: User, *, group: SkillGroup) -> None:
    conversations_service.assign_automatically(session, conv, user)
    group.last_assigned_user_id = user.id


def dispatch(session: Session, org_id: int, *, group_ids: set[int | None] | None = None,
             limit: int = QUEUE_BATCH, now: dt.datetime | None = None) -> list[Assignment]:
    """Assigns waiting conversations, best first, while members have capacity. The caller commits."""
    _take_sqlite_write_lock(session)
    now = now or utcnow()
    done: list[Assignment] = []
    full: set[int] = set()  # agents found full (or locked elsewhere) in this round
    groups = {g.id: g for g in session.scalars(select(SkillGroup).where(SkillGroup.org_id == org_id))}
    moved_groups: set[int | None] = set()
    for conv in _queue(session, org_id, group_ids, limit):
        group = groups[conv.group_id or 0]  # ``_queue`` only returns conversations of automatic groups
        strategy = group.strategy
        pool = [c for c in candidates(session, org_id, conv.group_id, now) if c.user_id not in full]
        if not pool:
            continue
        last_agent = (last_agent_of_contact(session, org_id, conv.contact_id, conv.id)
                      if strategy == Strategy.last_agent else None)
        for cand in rank(pool, strategy=strategy, senior_first=conv.senior_first, last_agent_id=last_agent,
                         last_assigned_user_id=group.last_assigned_user_id):
            state = presence.lock_for_assignment(session, cand.user_id, wait=False)
            if state is None:
                full.add(cand.user_id)
                continue
            active = presence.active_counts(session, org_id, [cand.user_id]).get(cand.user_id, 0)
            if (state.status != AgentStatus.online or presence.effective_status(state, now) != AgentStatus.online
                    or active >= state.max_concurrent):
                full.add(cand.user_id)
                continue
            user = session.get(User, cand.user_id)
            if user is None:
                continue
            assign_to(session, conv, user, group=group)
            done.append(Assignment(conv.id, user.id))
            moved_groups.add(conv.group_id)
            if active + 1 >= state.max_concurrent:
                full.add(cand.user_id)
            break
    if moved_groups:
        announce_positions(session, org_id, moved_groups)
    return done


# --- queue position and wait estimate -----------------------------------------------------------------------


def position(session: Session, conv: Conversation) -> int:
    """1 = next in line: conversations of the same group ahead by priority, then by waiting time."""
    ahead = select(func.count()).select_from(Conversation).where(
        Conversation.org_id == conv.org_id, Conversation.state == S.queued, _in_group(conv.group_id),
        Conversation.id != conv.id,
        or_(Conversation.priority > conv.priority,
            and_(Conversation.priority == conv.priority,
                 or_(Conversation.queued_at < conv.queued_at,
                     and_(Conversation.queued_at == conv.queued_at, Conversation.id < conv.id)))))
    return int(session.scalar(ahead) or 0) + 1


def handle_seconds(session: Session, org_id: int, group_id: int | None, sample: int = 50) -> float:
    """Median time an agent spends on one conversation in this group lately (assigned → resolved)."""
    rows = session.execute(
        select(Conversation.assigned_at, Conversation.resolved_at).where(
            Conversation.org_id == org_id, _in_group(group_id), Conversation.assigned_at.is_not(None),
            Conversation.resolved_at.is_not(None), Conversation.resolved_at > Conversation.assigned_at)
        .order_by(Conversation.resolved_at.desc()).limit(sample)).all()
    spans = [(r.resolved_at - r.assigned_at).total_seconds() for r in rows]
    return statistics.median(spans) if len(spans) >= 3 else DEFAULT_HANDLE_SECONDS


@dataclass(frozen=True)
class WaitModel:
    """How fast a group's queue moves: its seats (online members' maxima, at least one) each free up once per
    median handling time. Deliberately simple and explainable ("about 4 minutes")."""

    seats: int
    per_seat: float

    def wait_seconds(self, pos: int) -> int:
        return math.ceil(pos * self.per_seat / max(1, self.seats))


def wait_model(session: Session, org_id: int, group_id: int | None, now: dt.datetime | None = None) -> WaitModel:
    online = _online(session, org_id, _members(session, org_id, group_id), now or utcnow())
    return WaitModel(sum(s.max_concurrent for s in online), handle_seconds(session, org_id, group_id))


def estimate_wait_seconds(session: Session, conv: Conversation, pos: int, now: dt.datetime | None = None) -> int:
    return wait_model(session, conv.org_id, conv.group_id, now).wait_seconds(pos)


def describe_wait(pos: int, wait_seconds: int) -> str:
    minutes = max(1, round(wait_seconds / 60))
    ahead = pos - 1
    line = "您是下一位" if ahead == 0 else f"您前面还有 {ahead} 位"
    return f"{line}，预计等待约 {minutes} 分钟。"


def _status(conv: Conversation, pos: int, model: WaitModel) -> dict[str, object]:
    wait = model.wait_seconds(pos)
    return {"conversation_id": conv.id, "position": pos, "wait_seconds": wait, "text": describe_wait(pos, wait)}


def queue_status(session: Session, conv: Conversation) -> dict[str, object]:
    return _status(conv, position(session, conv), wait_model(session, conv.org_id, conv.group_id))


def announce_positions(session: Session, org_id: int, group_ids: set[int | None]) -> None:
    """Tells every visitor still waiting in these groups their new place (the widget updates its banner).

    One read of the queue in serving order gives every place (a conversation's place is its rank within its
    group, as ``position`` counts it); each group's wait model is read once, not once per visitor."""
    named = [g for g in group_ids if g is not None]
    terms = [Conversation.group_id.in_(named)] if named else []
    if None in group_ids:
        terms.append(Conversation.group_id.is_(None))
    models: dict[int | None, WaitModel] = {}
    ranks: dict[int | None, int] = {}
    for conv in session.scalars(_waiting(org_id).where(or_(*terms)).limit(QUEUE_BATCH)):
        ranks[conv.group_id] = pos = ranks.get(conv.group_id, 0) + 1
        if conv.group_id not in models:
            models[conv.group_id] = wait_model(session, org_id, conv.group_id)
        events.record(session, events.DomainEvent(
            type="queue.position", org_id=org_id, data=_status(conv, pos, models[conv.group_id]),
            topics=(conversations_service.contact_topic(conv.contact_id),)))


def orgs_with_queue(session: Session) -> list[int]:
    return list(session.scalars(select(Conversation.org_id).where(Conversation.state == S.queued).distinct()))
