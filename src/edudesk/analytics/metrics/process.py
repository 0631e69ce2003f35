"""The process dashboard: the queue (arrivals, waiting time, abandoned chats), transfers, and ticket SLA compliance
(docs/metrics.md, "Process")."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from edudesk.analytics.metrics import common as m
from edudesk.analytics.shapes import Chart, Column, Figure, Filters, Panel, Row

C, T = m.C, m.T

QUEUE_COLUMNS = (Column("queued", "进入排队", "count"), Column("served", "排队后接入", "count"),
                 Column("wait", "平均等待", "seconds"), Column("abandoned", "放弃排队", "count"),
                 Column("abandon_rate", "放弃率", "percent"))
SLA_COLUMNS = (Column("tickets", "工单数", "count"), Column("first_met", "首次响应达标", "count"),
               Column("first_missed", "首次响应超时", "count"), Column("first_rate", "首响达标率", "percent"),
               Column("resolution_met", "解决达标", "count"), Column("resolution_missed", "解决超时", "count"),
               Column("resolution_rate", "解决达标率", "percent"))


def _queue(r: Any) -> dict[str, Any]:
    return {"queued": int(r.queued), "served": int(r.waited), "wait": m.mean(r.wait_sum, r.waited),
            "abandoned": int(r.abandoned), "abandon_rate": m.ratio(r.abandoned, r.queued)}


def ticket_sums() -> list[Any]:
    s = m.TICKET_SUBSETS
    return [m.count_if(s["all"]()).label("tickets"),
            m.count_if(s["first_response_met"]()).label("first_met"),
            m.count_if(s["first_response_missed"]()).label("first_missed"),
            m.count_if(s["resolution_met"]()).label("resolution_met"),
            m.count_if(s["resolution_missed"]()).label("resolution_missed")]


def _sla(r: Any) -> dict[str, Any]:
    return {"tickets": int(r.tickets), "first_met": int(r.first_met), "first_missed": int(r.first_missed),
            "first_rate": m.ratio(r.first_met, int(r.first_met) + int(r.first_missed)),
            "resolution_met": int(r.resolution_met), "resolution_missed": int(r.resolution_missed),
            "resolution_rate": m.ratio(r.resolution_met, int(r.resolution_met) + int(r.resolution_missed))}


def build(session: Session, org_id: int, filters: Filters) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    conds = m.conversation_conditions(org_id, filters)
    sums = m.conversation_sums(("queued", "waited", "wait_sum", "abandoned", "transfers", "transferred", "served"))
    sets = m.grouped_many(session, sums, conds, {"total": (), "hour": (C.hour,), "day": (C.day,),
                                                 "group": (C.group_id,)})
    overall = m.only(sets["total"], session, sums, conds)
    tconds = m.ticket_conditions(org_id, filters)
    tsets = m.grouped_many(session, ticket_sums(), tconds, {"total": (), "group": (T.group_id,), "day": (T.day,)})
    tickets = m.only(tsets["total"], session, ticket_sums(), tconds)
    groups = m.group_names(session, org_id)
    sla = _sla(tickets)
    figures = (
        Figure("queued", "进入排队", int(overall.queued), "count", m.drill("conversations", metric="queued")),
        Figure("wait", "平均等待时长", m.mean(overall.wait_sum, overall.waited), "seconds",
               m.drill("conversations", metric="waited")),
        Figure("abandoned", "放弃排队", int(overall.abandoned), "count", m.drill("conversations", metric="abandoned")),
        Figure("abandon_rate", "放弃率", m.ratio(overall.abandoned, overall.queued), "percent",
               m.drill("conversations", metric="abandoned")),
        Figure("transfers", "转接次数", int(overall.transfers), "count",
               m.drill("conversations", metric="transferred")),
        Figure("tickets", "工单数", sla["tickets"], "count", m.drill("tickets")),
        Figure("first_rate", "首次响应 SLA 达标率", sla["first_rate"], "percent",
               m.drill("tickets", metric="first_response_missed")),
        Figure("resolution_rate", "解决 SLA 达标率", sla["resolution_rate"], "percent",
               m.drill("tickets", metric="resolution_missed")),
    )
    by_hour = {int(r.hour): r for r in sets["hour"]}
    hour_rows = []
    for hour in range(24):
        r = by_hour.get(hour)
        cells = _queue(r) if r is not None else {"queued": 0, "served": 0, "wait": None, "abandoned": 0,
                                                  "abandon_rate": None}
        hour_rows.append(Row({"hour": f"{hour:02d}", **cells}, m.drill("conversations", hour=hour, metric="queued")))
    day_rows = tuple(Row({"day": r.day.isoformat(), **_queue(r)},
                         m.drill("conversations", day=r.day.isoformat(), metric="queued"))
                     for r in sorted(sets["day"], key=lambda r: r.day))
    transfer_rows = []
    for r in sorted(sets["group"], key=lambda r: (-int(r.transfers), r.group_id or 0)):
        if int(r.transfers):
            transfer_rows.append(Row({"group": m.label(groups, r.group_id, "未分组"), "transfers": int(r.transfers),
                                      "transferred": int(r.transferred), "served": int(r.served)},
                                     m.drill("conversations", group_id=r.group_id or m.NONE, metric="transferred")))
    sla_rows = []
    for r in sorted(tsets["group"], key=lambda r: (r.group_id is not None, r.group_id or 0)):
        sla_rows.append(Row({"group": m.label(groups, r.group_id, "未分组"), **_sla(r)},
                            m.drill("tickets", group_id=r.group_id or m.NONE)))
    sla_days = tuple(Row({"day": r.day.isoformat(), **_sla(r)}, m.drill("tickets", day=r.day.isoformat()))
                     for r in sorted(tsets["day"], key=lambda r: r.day))
    panels = (
        Panel("queue_by_hour", "各时段排队", (Column("hour", "小时"), *QUEUE_COLUMNS), tuple(hour_rows),
              Chart("bar", "hour", ("queued", "abandoned")),
              "进入人工队列的会话按开始时刻（北京时间）的小时；放弃 = 排队后没有客服接入就离开"),
        Panel("queue_daily", "每日排队", (Column("day", "日期"), *QUEUE_COLUMNS), day_rows,
              Chart("line", "day", ("queued", "abandoned")), "按会话开始日"),
        Panel("transfers", "转接（按技能组）",
              (Column("group", "技能组"), Column("transfers", "转接次数", "count"),
               Column("transferred", "被转接会话", "count"), Column("served", "人工接待会话", "count")),
              tuple(transfer_rows), Chart("bar", "group", ("transfers",)), "客服把会话转给同事或其他技能组的次数"),
        Panel("sla_by_group", "工单 SLA（按技能组）", (Column("group", "技能组"), *SLA_COLUMNS), tuple(sla_rows),
              Chart("stacked_bar", "group", ("first_met", "first_missed")),
              "达标率 = 达标 /（达标 + 超时）；尚未到期且未完成的工单不计入"),
        Panel("sla_daily", "每日工单 SLA", (Column("day", "日期"), *SLA_COLUMNS), sla_days,
              Chart("line", "day", ("first_rate", "resolution_rate")), "按工单创建日"),
    )
    return figures, panels
