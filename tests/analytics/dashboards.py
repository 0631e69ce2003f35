"""Hand-made ``Dashboard`` values standing in for ``analytics.service.dashboard`` (the numbers are another part)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from edudesk.analytics.shapes import Chart, Column, Dashboard, DashboardKey, Drill, Figure, Filters, Panel, Row

XSS = "<script>alert(1)</script>"
PHONE = "13912345678"


def dashboards(filters: Filters, *, scale: int = 1, agent: str = "王老师") -> dict[str, Dashboard]:
    """Four dashboards; ``scale`` multiplies the counts so two periods differ."""
    as_of = dt.datetime(2026, 12, 7, 0, 5, tzinfo=dt.UTC)
    people = Dashboard("people", "人员", filters, (
        Figure("conversations", "接待会话", 40 * scale, "count", Drill("conversations")),
        Figure("first_response", "平均首次响应", 30.0 * scale, "seconds"),
        Figure("csat", "满意度", 4.0 + 0.2 * scale, "score"),
    ), (
        Panel("agents", "顾问工作量", (Column("agent", "顾问"), Column("served", "接待", "count"),
                                     Column("aht", "平均处理时长", "seconds")),
              tuple(Row({"agent": name, "served": n * scale, "aht": 125.0}, Drill("agents", {"agent_id": str(i)}))
                    for i, (name, n) in enumerate(((agent, 25), ("李老师", 15)), start=1)),
              Chart("bar", "agent", ("served",))),
    ), as_of)
    data = Dashboard("data", "数据", filters, (
        Figure("bot_resolution", "机器人解决率", 0.5 + 0.1 * scale, "percent"),
        Figure("capture_rate", "套电率", 0.25, "percent"),
    ), (
        Panel("by_hour", "会话时段", (Column("weekday", "星期"), Column("hour", "小时"), Column("n", "会话", "count")),
              (Row({"weekday": "周一", "hour": "20", "n": 7}),), Chart("heatmap", "hour", ("n",), y="weekday")),
        Panel("unanswered_questions", "未解决问题", (Column("question", "问题"), Column("n", "次数", "count")),
              (Row({"question": f"我是张三电话{PHONE}", "n": 3}),)),
        Panel("by_channel", "按渠道", (Column("channel", "渠道"), Column("n", "会话", "count"),
                                     Column("rate", "套电率", "percent")),
              tuple(Row({"channel": f"渠道{i}", "n": i, "rate": 0.1}) for i in range(12))),
    ), as_of)
    process = Dashboard("process", "服务过程", filters, (
        Figure("queue_wait", "平均排队", 62.0, "seconds"),
        Figure("abandoned", "放弃会话", 0, "count"),
    ), (), as_of)
    outcome = Dashboard("outcome", "转化结果", filters, (
        Figure("leads", "新线索", 10 * scale, "count"),
        Figure("enrolled", "报名", 2, "count"),
    ), (
        Panel("funnel", "转化漏斗", (Column("step", "环节"), Column("n", "人数", "count")),
              (Row({"step": "访客", "n": 300}), Row({"step": "留资", "n": 40}), Row({"step": "报名", "n": 2})),
              Chart("funnel", "step", ("n",))),
    ), as_of)
    return {"people": people, "data": data, "process": process, "outcome": outcome}


@dataclass
class FakeSource:
    """A ``DashboardSource`` that records what was asked. Counts differ between neighbouring periods (a day or a
    week apart): scale 2 on even ordinal start days, 1 on odd ones."""

    agent: str = "王老师"
    calls: list[tuple[int, str, Filters]] = field(default_factory=list)

    def __call__(self, session: Session, org_id: int, key: DashboardKey, filters: Filters, *,
                 now: dt.datetime | None = None) -> Dashboard:
        self.calls.append((org_id, key, filters))
        scale = 2 if filters.start.toordinal() % 2 == 0 else 1
        return dashboards(filters, scale=scale, agent=self.agent)[key]
