"""The people dashboard: agents' time online / busy / away, conversations served, first-response, response and
handling times, CSAT and occupancy, per agent and per day (docs/metrics.md, "People")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.analytics.metrics import common as m
from edudesk.analytics.models import AgentDay
from edudesk.analytics.shapes import Chart, Column, Figure, Filters, Panel, Row
from edudesk.routing import presence
from edudesk.routing.models import AgentState, SkillGroupMember

C = m.C

AGENT_COLUMNS = (
    Column("agent", "客服"), Column("online_seconds", "在线时长", "seconds"),
    Column("busy_seconds", "忙碌时长", "seconds"), Column("away_seconds", "离开时长", "seconds"),
    Column("served", "接待会话", "count"), Column("first_response", "平均首次响应", "seconds"),
    Column("response", "平均响应", "seconds"), Column("handling", "平均处理时长", "seconds"),
    Column("csat", "满意度评分", "score"), Column("satisfied", "满意率", "percent"),
    Column("occupancy", "饱和度", "percent"),
)


SUMS = ("served", "responded", "frt_sum", "response_sum", "response_count", "handled", "handling_sum", "rated",
        "csat_sum", "satisfied")


def presence_seconds(session: Session, org_id: int, filters: Filters) -> dict[int, tuple[int, int, int]]:
    """Agent → (online, busy, away) seconds in the period; the agent and skill-group filters apply (a group means
    its members), the channel / source / campaign filters do not (time is not spent per channel)."""
    stmt = (select(AgentDay.agent_id, m.total(AgentDay.online_seconds), m.total(AgentDay.busy_seconds),
                   m.total(AgentDay.away_seconds))
            .where(AgentDay.org_id == org_id, AgentDay.day >= filters.start, AgentDay.day <= filters.end)
            .group_by(AgentDay.agent_id))
    if filters.agent_id is not None:
        stmt = stmt.where(AgentDay.agent_id == filters.agent_id)
    if filters.group_id is not None:
        stmt = stmt.where(AgentDay.agent_id.in_(select(SkillGroupMember.user_id).where(
            SkillGroupMember.org_id == org_id, SkillGroupMember.group_id == filters.group_id)))
    return {int(a): (int(o), int(b), int(w)) for a, o, b, w in session.execute(stmt)}


def occupancy(handling_sum: float | int, seats: int, online: int, busy: int) -> float | None:
    """Handling time over the seat-time the agent offered: (online + busy) × their maximum of parallel chats."""
    return m.ratio(handling_sum, seats * (online + busy))


def _measures(r: Any) -> dict[str, Any]:
    return {"served": int(r.served), "first_response": m.mean(r.frt_sum, r.responded),
            "response": m.mean(r.response_sum, r.response_count), "handling": m.mean(r.handling_sum, r.handled),
            "csat": m.csat_score(r.csat_sum, r.rated), "satisfied": m.ratio(r.satisfied, r.rated)}


def build(session: Session, org_id: int, filters: Filters) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    conds = m.conversation_conditions(org_id, filters)
    sums = m.conversation_sums(SUMS)
    sets = m.grouped_many(session, sums, conds, {"total": (), "agent": (C.agent_id,), "day": (C.day,)})
    overall = m.only(sets["total"], session, sums, conds)
    by_agent = {r.agent_id: r for r in sets["agent"]}
    time = presence_seconds(session, org_id, filters)
    seats = dict(session.execute(select(AgentState.user_id, AgentState.max_concurrent).where(
        AgentState.org_id == org_id)).all())
    names = m.user_names(session, org_id)
    rows = []
    agent_ids = sorted({a for a, r in by_agent.items() if a is not None and r.served} | set(time),
                       key=lambda a: (names.get(a, ""), a))
    total_seat_time = 0
    for agent_id in agent_ids:
        r = by_agent.get(agent_id)
        online, busy, away = time.get(agent_id, (0, 0, 0))
        seat = seats.get(agent_id, presence.DEFAULT_MAX_CONCURRENT)
        total_seat_time += seat * (online + busy)
        cells: dict[str, Any] = {"agent": names.get(agent_id, f"#{agent_id}"), "online_seconds": online,
                                 "busy_seconds": busy, "away_seconds": away}
        if r is not None:
            cells.update(_measures(r))
            cells["occupancy"] = occupancy(r.handling_sum, seat, online, busy)
        else:
            cells.update({"served": 0, "first_response": None, "response": None, "handling": None, "csat": None,
                          "satisfied": None, "occupancy": m.ratio(0, seat * (online + busy))})
        rows.append(Row(cells, m.drill("conversations", agent_id=agent_id, metric="served")))
    agents = Panel("agents", "客服工作量", AGENT_COLUMNS, tuple(rows),
                   Chart("stacked_bar", "agent", ("online_seconds", "busy_seconds", "away_seconds")),
                   "每位客服在所选时段的在线/忙碌/离开时长与接待指标；会话按开始日归属，归属最后接待的客服")
    daily = []
    for r in sorted(sets["day"], key=lambda r: r.day):
        daily.append(Row({"day": r.day.isoformat(), **_measures(r)},
                         m.drill("conversations", day=r.day.isoformat(), metric="served")))
    days = Panel("daily", "每日接待", (Column("day", "日期"), *AGENT_COLUMNS[4:10]), tuple(daily),
                 Chart("line", "day", ("served",)), "每天开始的会话中由人工接待的数量与平均时长")
    online_total = sum(o for o, _, _ in time.values())
    busy_total = sum(b for _, b, _ in time.values())
    served = _measures(overall)
    figures = (
        Figure("served", "人工接待会话", served["served"], "count", m.drill("conversations", metric="served")),
        Figure("first_response", "平均首次响应", served["first_response"], "seconds",
               m.drill("conversations", metric="responded")),
        Figure("response", "平均响应时长", served["response"], "seconds", m.drill("conversations", metric="replied")),
        Figure("handling", "平均处理时长", served["handling"], "seconds", m.drill("conversations", metric="handled")),
        Figure("csat", "满意度评分", served["csat"], "score", m.drill("conversations", metric="rated")),
        Figure("satisfied", "满意率", served["satisfied"], "percent", m.drill("conversations", metric="satisfied")),
        Figure("online_seconds", "在线时长合计", online_total, "seconds", m.drill("agents")),
        Figure("busy_seconds", "忙碌时长合计", busy_total, "seconds", m.drill("agents")),
        Figure("occupancy", "整体饱和度", m.ratio(sum(float(by_agent[a].handling_sum) for a in agent_ids
                                                     if a in by_agent), total_seat_time), "percent",
               m.drill("agents")),
    )
    return figures, (agents, days)
