"""A hand-made ``DashboardSource`` for the pages' tests: fixed dashboards in the contract's shapes, one of every
chart kind, a drill-down behind every figure and row, and a record of every call (which org asked, for what).

The numbers are made up and say nothing about how ``analytics.service`` computes them; what the pages do with them
(formatting, charts, links, exports, escaping) is what these tests check. Each org's values carry its own id and
a marker, so a page that asked for the wrong org shows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from edudesk.analytics.shapes import (
    Chart,
    Column,
    Dashboard,
    DashboardKey,
    Drill,
    DrillPage,
    Figure,
    FilterError,
    Filters,
    LiveWall,
    Panel,
    Row,
)

HOSTILE = '<script>alert("x")</script>'
FORMULA = '=HYPERLINK("http://evil.example","点我")'
AS_OF = dt.datetime(2026, 12, 7, 2, 30, tzinfo=dt.UTC)  # 10:30 北京时间


def marker(org_id: int) -> str:
    return f"机构{org_id}专属"


def _people(org_id: int) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    figures = (
        Figure("served", "接待对话", 1234, "count", Drill("conversations", {"served": "1"})),
        Figure("first_response", "平均首次响应", 65, "seconds", Drill("conversations", {"metric": "first_response"})),
        Figure("csat", "满意度", 4.6, "score", Drill("conversations", {"rated": "1"})),
        Figure("occupancy", "饱和度", 0.813, "percent", Drill("agents")),
    )
    agents = Panel(
        key="agents", title="坐席工作量", definition="按坐席统计所选日期内的接待和响应。",
        columns=(Column("agent", "坐席"), Column("served", "接待对话", "count"),
                 Column("first_response", "平均首次响应", "seconds"), Column("aht", "平均处理时长", "seconds"),
                 Column("csat", "满意度", "score"), Column("occupancy", "饱和度", "percent")),
        rows=(Row({"agent": "王老师", "served": 700, "first_response": 42, "aht": 3725, "csat": 4.8,
                   "occupancy": 0.9}, Drill("conversations", {"agent_id": "1"})),
              Row({"agent": f"李老师{marker(org_id)}", "served": 534, "first_response": 95, "aht": 610, "csat": None,
                   "occupancy": 0.62}, Drill("conversations", {"agent_id": "2"}))),
        chart=Chart("bar", x="agent", series=("served",)))
    time_use = Panel(
        key="time", title="在线 / 忙碌 / 离开时长",
        columns=(Column("agent", "坐席"), Column("online", "在线", "seconds"), Column("busy", "忙碌", "seconds"),
                 Column("away", "离开", "seconds")),
        rows=(Row({"agent": "王老师", "online": 28800, "busy": 14400, "away": 1800}, Drill("agents", {"user": "1"})),
              Row({"agent": "李老师", "online": 25200, "busy": 9000, "away": 3600}, Drill("agents", {"user": "2"}))),
        chart=Chart("stacked_bar", x="agent", series=("online", "busy", "away")))
    return figures, (agents, time_use)


def _data(org_id: int) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    figures = (
        Figure("conversations", "对话总数", 5210, "count", Drill("conversations")),
        Figure("bot_resolved", "机器人解决率", 0.634, "percent", Drill("conversations", {"bot_resolved": "1"})),
        Figure("capture", "套电率", 0.211, "percent", Drill("leads")),
    )
    weekdays = ("周一", "周二", "周三")
    heat = Panel(
        key="by_hour", title="按时段的对话量",
        columns=(Column("hour", "时段"), Column("weekday", "星期"), Column("conversations", "对话", "count")),
        rows=tuple(Row({"hour": f"{h}时", "weekday": d, "conversations": (h * 7 + n * 3) % 40},
                       Drill("conversations", {"hour": str(h), "weekday": str(n + 1)}))
                   for n, d in enumerate(weekdays) for h in (9, 14, 20)),
        chart=Chart("heatmap", x="hour", y="weekday", series=("conversations",)))
    channels = Panel(
        key="by_channel", title="各渠道对话与套电率",
        columns=(Column("channel", "渠道"), Column("conversations", "对话", "count"),
                 Column("capture", "套电率", "percent")),
        rows=(Row({"channel": "网页", "conversations": 3000, "capture": 0.25},
                  Drill("conversations", {"channel": "web"})),
              Row({"channel": "微信公众号", "conversations": 2210, "capture": 0.16},
                  Drill("conversations", {"channel": "wechat"}))),
        chart=Chart("pie", x="channel", series=("conversations",)))
    unanswered = Panel(
        key="unanswered", title="未解决的问题", definition="机器人没有答上、访客也没转人工的问题。",
        columns=(Column("question", "问题"), Column("times", "次数", "count")),
        rows=(Row({"question": FORMULA, "times": 12}, Drill("conversations", {"question": "1"})),
              Row({"question": HOSTILE, "times": 3}, Drill("conversations", {"question": "2"})),
              Row({"question": f"周末有课吗{marker(org_id)}", "times": 2}, Drill("conversations", {"question": "3"}))))
    trend = Panel(
        key="trend", title="每日对话量",
        columns=(Column("day", "日期"), Column("conversations", "对话", "count"), Column("handover", "转人工率",
                                                                                           "percent")),
        rows=(Row({"day": "12-05", "conversations": 700, "handover": 0.3},
                  Drill("conversations", {"day": "2026-12-05"})),
              Row({"day": "12-06", "conversations": 810, "handover": 0.28},
                  Drill("conversations", {"day": "2026-12-06"}))),
        chart=Chart("line", x="day", series=("conversations", "handover")))
    return figures, (heat, channels, unanswered, trend)


def _process(org_id: int) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    figures = (
        Figure("waiting", "平均排队时长", 48, "seconds", Drill("conversations", {"queued": "1"})),
        Figure("abandoned", "放弃的对话", 17, "count", Drill("conversations", {"abandoned": "1"})),
        Figure("sla", "工单按时完成率", 0.92, "percent", Drill("tickets")),
    )
    queue = Panel(
        key="queue", title="排队与放弃",
        columns=(Column("day", "日期"), Column("queued", "排队", "count"), Column("abandoned", "放弃", "count"),
                 Column("wait", "平均等待", "seconds")),
        rows=(Row({"day": "12-05", "queued": 40, "abandoned": 5, "wait": 35},
                  Drill("conversations", {"day": "2026-12-05"})),
              Row({"day": "12-06", "queued": 52, "abandoned": 12, "wait": 61},
                  Drill("conversations", {"day": "2026-12-06"}))),
        chart=Chart("bar", x="day", series=("queued", "abandoned")))
    transfers = Panel(
        key="transfers", title="转接", definition="按转入的技能组统计。",
        columns=(Column("group", "技能组"), Column("transfers", "转接", "count")),
        rows=(Row({"group": "小学数学", "transfers": 9}, Drill("conversations", {"group_id": "7", "metric": "t"})),
              Row({"group": "未分组", "transfers": 2}, Drill("conversations", {"group_id": "none", "metric": "t"}))))
    return figures, (queue, transfers)


def _outcome(org_id: int) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    figures = (
        Figure("enrolled", "报名", 31, "count", Drill("leads", {"stage": "enrolled"})),
        Figure("to_trial", "约课到到课", 0.71, "percent", Drill("leads", {"stage": "attended"})),
    )
    stages = (("访客", 9800), ("对话", 5210), ("留资", 1100), ("A/B/C", 900), ("约试听", 240), ("到课", 170),
              ("报名", 31))
    funnel = Panel(
        key="funnel", title="转化漏斗",
        columns=(Column("stage", "阶段"), Column("count", "人数", "count")),
        rows=tuple(Row({"stage": s, "count": n}, Drill("leads", {"stage": str(i)})) for i, (s, n) in enumerate(stages)),
        chart=Chart("funnel", x="stage", series=("count",)))
    return figures, (funnel,)


BUILDERS = {"people": _people, "data": _data, "process": _process, "outcome": _outcome}
TITLES = {"people": "人员管理", "data": "数据分析", "process": "服务过程", "outcome": "服务结果"}


@dataclass
class FakeSource:
    """Answers like ``analytics.service``; ``calls`` lists (function, org_id, details) of every call."""

    calls: list[tuple[str, int, Any]] = field(default_factory=list)
    total: int = 120  # rows behind every drill-down

    def dashboard(self, session: Session, org_id: int, key: DashboardKey, filters: Filters, *,
                  now: dt.datetime | None = None) -> Dashboard:
        self.calls.append(("dashboard", org_id, (key, filters)))
        figures, panels = BUILDERS[key](org_id)
        return Dashboard(key, TITLES[key], filters, figures, panels, as_of=AS_OF)

    def drill(self, session: Session, org_id: int, drill: Drill, filters: Filters, page: int, per_page: int = 50, *,
              mask_phones: bool) -> DrillPage:
        self.calls.append(("drill", org_id, (drill, filters, page, per_page, mask_phones)))
        if drill.params.get("hour", "0").isdigit() is False:
            raise FilterError("hour", "时段不正确")
        start = (page - 1) * per_page
        rows = tuple(
            Row({"id": n + 1, "visitor": f"访客{n + 1}{marker(org_id) if n == 0 else ''}",
                 "phone": "138****0000" if mask_phones else "13800000000",
                 "note": FORMULA if n == 1 else (HOSTILE if n == 2 else "咨询课程"), "wait": 65},
                href=f"/console/c/{n + 1}" if n != 3 else "javascript:alert(1)")
            for n in range(start, min(start + per_page, self.total)))
        return DrillPage(title="对话明细", columns=(
            Column("id", "编号", "count"), Column("visitor", "访客"), Column("phone", "手机号"), Column("note", "摘要"),
            Column("wait", "等待", "seconds")), rows=rows, total=self.total, page=page, per_page=per_page)

    def live_wall(self, session: Session, org_id: int, *, now: dt.datetime | None = None) -> LiveWall:
        self.calls.append(("live_wall", org_id, None))
        agents = Panel(key="agents_now", title="客服实时状态", columns=(
            Column("agent", "客服"), Column("status", "状态"), Column("chats", "服务中", "count"),
            Column("max", "接待上限", "count"), Column("load", "负载", "percent")), rows=(
            Row({"agent": "王老师", "status": "在线", "chats": 3, "max": 5, "load": 0.6},
                Drill("conversations", {"agent_id": "3", "metric": "served"})),
            Row({"agent": f"李老师{marker(org_id)}", "status": "离开", "chats": 0, "max": 5, "load": 0},
                Drill("conversations", {"agent_id": "4", "metric": "served"}))),
            chart=Chart("bar", "agent", ("chats",)), definition="不在线且没有服务中会话的客服不列出")
        queue = Panel(key="queue_now", title="排队中的访客", columns=(
            Column("id", "会话"), Column("waited", "已等待", "seconds"), Column("channel", "渠道")), rows=(
            Row({"id": 17, "waited": 185, "channel": "网页"}, href="/console/c/17"),))
        figures = (Figure("waiting", "排队访客", 4 + len(self.calls), "count"),
                   Figure("longest_wait", "最长等待", 185, "seconds"), Figure("online", "在线客服", 1, "count"))
        return LiveWall(figures, agents, queue, AS_OF)
