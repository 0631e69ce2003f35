"""The live wall: agents now (effective status, chats being served, load against their maximum) and the visitors
waiting in the queue now, longest wait first. Read from the live rows (``routing.presence`` and the queue), never
from roll-ups: it is "now", not a period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.analytics.metrics import common as m
from edudesk.analytics.shapes import Chart, Column, Figure, LiveWall, Panel, Row
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import utcnow
from edudesk.routing import presence
from edudesk.routing.models import AgentStatus

QUEUE_LIMIT = 50


def _seconds(now: dt.datetime, since: dt.datetime | None) -> int | None:
    return max(0, round((now - since).total_seconds())) if since is not None else None


def live_wall(session: Session, org_id: int, *, now: dt.datetime | None = None) -> LiveWall:
    now = now or utcnow()
    board = presence.board(session, org_id)
    serving = {a.user_id for a in board if a.active}
    agents = [a for a in board if a.status != AgentStatus.offline or a.user_id in serving]
    agent_rows = tuple(Row({"agent": a.name, "status": a.status_label, "chats": a.active, "max": a.max_concurrent,
                            "load": m.ratio(a.active, a.max_concurrent)},
                           m.drill("conversations", agent_id=a.user_id, metric="served")) for a in agents)
    waiting = list(session.execute(
        select(Conversation.id, Conversation.queued_at, Conversation.channel, Conversation.group_id)
        .where(Conversation.org_id == org_id, Conversation.state == ConversationState.queued)
        .order_by(Conversation.queued_at, Conversation.id)))
    groups = m.group_names(session, org_id)
    queue_rows = tuple(Row({"id": cid, "waited": _seconds(now, queued), "channel": m.label(m.CHANNEL_LABELS, ch, ""),
                            "group": m.label(groups, gid, "未分组")}, href=f"/console/c/{cid}")
                       for cid, queued, ch, gid in waiting[:QUEUE_LIMIT])
    longest = _seconds(now, waiting[0].queued_at) if waiting else None
    count = {status: sum(1 for a in board if a.status == status) for status in AgentStatus}
    figures = (
        Figure("online", "在线客服", count[AgentStatus.online], "count"),
        Figure("busy", "忙碌客服", count[AgentStatus.busy], "count"),
        Figure("away", "离开客服", count[AgentStatus.away], "count"),
        Figure("chats", "服务中会话", sum(a.active for a in board), "count"),
        Figure("waiting", "排队访客", len(waiting), "count"),
        Figure("longest_wait", "最长等待", longest, "seconds"),
    )
    return LiveWall(
        figures,
        Panel("agents_now", "客服实时状态",
              (Column("agent", "客服"), Column("status", "状态"), Column("chats", "服务中", "count"),
               Column("max", "接待上限", "count"), Column("load", "负载", "percent")), agent_rows,
              Chart("bar", "agent", ("chats",)), "不在线且没有服务中会话的客服不列出"),
        Panel("queue_now", "排队中的访客",
              (Column("id", "会话"), Column("waited", "已等待", "seconds"), Column("channel", "渠道"),
               Column("group", "技能组")), queue_rows, None, "等待最久的在前"),
        now)
