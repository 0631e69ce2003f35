"""The data dashboard: conversations by channel, source and day-of-week × hour; what the bot solves (bot resolution
and 👍 rates); hand-overs and their reasons; top unanswered questions; 套电率 by channel, source, campaign and flow
(docs/metrics.md, "Data")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, not_, select
from sqlalchemy.orm import Session

from edudesk.analytics.metrics import common as m
from edudesk.analytics.models import ConversationFlow, QuestionFact
from edudesk.analytics.shapes import N_, Chart, Column, Figure, Filters, Panel, Row
from edudesk.leads import reports as leads_reports

C = m.C
TOP_QUESTIONS = 20

VOLUME_COLUMNS = (Column("conversations", "会话数", "count"), Column("valid", "有效会话", "count"),
                  Column("bot_resolved", "机器人独立解决", "count"), Column("bot_rate", "机器人解决率", "percent"),
                  Column("handed_over", "转人工", "count"), Column("handover_rate", "转人工率", "percent"))
CAPTURE_COLUMNS = (Column("valid", "有效会话", "count"), Column("captured", "留资会话", "count"),
                   Column("capture_rate", "套电率", "percent"))


def _volume(r: Any) -> dict[str, Any]:
    return {"conversations": int(r.conversations), "valid": int(r.valid), "bot_resolved": int(r.bot_resolved),
            "bot_rate": m.ratio(r.bot_resolved, r.valid), "handed_over": int(r.handed_over),
            "handover_rate": m.ratio(r.handed_over, r.valid)}


def _capture(r: Any) -> dict[str, Any]:
    return {"valid": int(r.valid), "captured": int(r.captured), "capture_rate": m.ratio(r.captured, r.valid)}


def _by(found: list[Any], key: str, title: str, labelled: Callable[[Any], str],
        cells: Callable[[Any], dict[str, Any]], columns: tuple[Column, ...], definition: str, metric: str,
        chart_series: tuple[str, ...]) -> Panel:
    rows = []
    for r in sorted(found, key=lambda r: (-int(r.valid), str(r[0]))):
        value = r[0]
        rows.append(Row({key: labelled(value), **cells(r)},
                        m.drill("conversations", **{key if key != "campaign" else "campaign_id":
                                                    m.NONE if value is None else value}, metric=metric)))
    return Panel(f"{title}", _TITLES[title], (Column(key, _KEY_LABELS[key]), *columns), tuple(rows),
                 Chart("bar", key, chart_series), definition)


_TITLES = {"by_channel": N_("各渠道会话"), "by_source": N_("各来源会话"), "capture_channel": N_("各渠道套电率"),
           "capture_source": N_("各来源套电率"), "capture_campaign": N_("各推广活动套电率")}
_KEY_LABELS = {"channel": "渠道", "source": "来源", "campaign": "推广活动"}


def heat_map(found: list[Any]) -> Panel:
    counts = {(int(r.dow), int(r.hour)): int(r.valid) for r in found}
    rows = tuple(Row({"dow": m.DOW_LABELS[d], "hour": f"{h:02d}", "conversations": counts.get((d, h), 0)},
                     m.drill("conversations", dow=d, hour=h, metric="valid"))
                 for d in range(7) for h in range(24))
    return Panel("heatmap", "会话时段分布（星期 × 小时）",
                 (Column("dow", "星期"), Column("hour", "小时"), Column("conversations", "有效会话", "count")), rows,
                 Chart("heatmap", "hour", ("conversations",), y="dow"),
                 "有效会话按开始时刻（北京时间）的星期与小时计数")


def reasons(found: list[Any], handed_over: int) -> Panel:
    rows = []
    counted = [(r.handoff_reason, int(r.handed_over)) for r in found if int(r.handed_over)]
    for reason, n in sorted(counted, key=lambda r: (-r[1], str(r[0]))):
        rows.append(Row({"reason": m.label(m.REASON_LABELS, reason, m.REASON_LABELS[m.NONE]),
                         "conversations": int(n), "share": m.ratio(n, handed_over)},
                        m.drill("conversations", reason=reason or m.NONE, metric="handed_over")))
    return Panel("handover_reasons", "转人工原因",
                 (Column("reason", "原因"), Column("conversations", "会话数", "count"),
                  Column("share", "占比", "percent")),
                 tuple(rows), Chart("pie", "reason", ("conversations",)), "有效会话中转人工的，按转人工原因分")


def questions(session: Session, org_id: int, filters: Filters, conds: list[Any]) -> Panel:
    q = QuestionFact
    matching = select(C.conversation_id).where(*conds)
    found = session.execute(
        select(q.query_norm, func.min(q.query), func.count(), func.count(func.distinct(q.conversation_id)))
        .where(q.org_id == org_id, q.day >= filters.start, q.day <= filters.end, q.conversation_id.in_(matching))
        .group_by(q.query_norm).order_by(func.count().desc(), q.query_norm).limit(TOP_QUESTIONS))
    rows = tuple(Row({"question": text, "asked": int(n), "conversations": int(convs)},
                     m.drill("conversations", question=norm, metric="missed"))
                 for norm, text, n, convs in found)
    return Panel("unanswered", "未解答问题 Top 20",
                 (Column("question", "访客问题"), Column("asked", "提问次数", "count"),
                  Column("conversations", "会话数", "count")), rows, Chart("bar", "question", ("asked",)),
                 "机器人没有找到答案的问题（知识库未命中），按归一化后的问法合并计数")


def by_flow(session: Session, org_id: int, filters: Filters, conds: list[Any]) -> Panel:
    f = ConversationFlow
    names = leads_reports.flow_names(session, org_id)
    sums = [m.count_if(m.CONVERSATION_SUBSETS["valid"]()).label("valid"),
            m.count_if(m.CONVERSATION_SUBSETS["captured"]()).label("captured")]
    ran = (select(f.flow_key, *sums).join(C, C.conversation_id == f.conversation_id)
           .where(f.org_id == org_id, f.day >= filters.start, f.day <= filters.end, *conds).group_by(f.flow_key))
    rows = []
    for r in sorted(session.execute(ran), key=lambda r: (-int(r.valid), r.flow_key)):
        rows.append(Row({"flow": names.get(r.flow_key, r.flow_key), **_capture(r)},
                        m.drill("conversations", flow=r.flow_key, metric="valid")))
    in_flows = select(f.conversation_id).where(f.org_id == org_id, f.day >= filters.start, f.day <= filters.end)
    none = m.grouped(session, sums, [*conds, not_(C.conversation_id.in_(in_flows))])[0]
    if int(none.valid):
        rows.append(Row({"flow": m.NO_FLOW, **_capture(none)},
                        m.drill("conversations", flow=m.NO_FLOW, metric="valid")))
    return Panel("capture_flow", "各话术流程套电率", (Column("flow", "话术流程"), *CAPTURE_COLUMNS), tuple(rows),
                 Chart("bar", "flow", ("capture_rate",)),
                 "一次会话运行过的每个话术流程各计一次，因此各行之和可能大于总数")


def daily(found: list[Any]) -> Panel:
    rows = []
    for r in sorted(found, key=lambda r: r.day):
        rows.append(Row({"day": r.day.isoformat(), **_volume(r), "helpful_rate": m.ratio(
            r.votes_up, int(r.votes_up) + int(r.votes_down)), "capture_rate": m.ratio(r.captured, r.valid)},
            m.drill("conversations", day=r.day.isoformat(), metric="valid")))
    return Panel("daily", "每日会话与机器人表现",
                 (Column("day", "日期"), *VOLUME_COLUMNS, Column("helpful_rate", "👍 率", "percent"),
                  Column("capture_rate", "套电率", "percent")), tuple(rows),
                 Chart("line", "day", ("valid", "bot_resolved", "handed_over")), "按会话开始日（北京时间）")


def build(session: Session, org_id: int, filters: Filters) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    conds = m.conversation_conditions(org_id, filters)
    sums = m.conversation_sums(("conversations", "valid", "bot_resolved", "handed_over", "captured", "votes_up",
                                "votes_down"))
    # One scan of the period's conversations for every grouping the page shows (PostgreSQL: GROUPING SETS).
    sets = m.grouped_many(session, sums, conds, {
        "total": (), "channel": (C.channel,), "source": (C.source,), "campaign": (C.campaign_id,),
        "day": (C.day,), "heat": (C.dow, C.hour), "reason": (C.handoff_reason,)})
    overall = m.only(sets["total"], session, sums, conds)
    campaigns = m.campaign_names(session, org_id)

    def channel_label(v: Any) -> str:
        return m.label(m.CHANNEL_LABELS, v, N_("未知渠道"))

    def source_label(v: Any) -> str:
        return m.label(m.SOURCE_LABELS, v, m.SOURCE_LABELS[m.NONE])

    def campaign_label(v: Any) -> str:
        return m.label(campaigns, v, N_("无推广活动"))

    votes = int(overall.votes_up) + int(overall.votes_down)
    by_channel, by_source, by_campaign = sets["channel"], sets["source"], sets["campaign"]
    figures = (
        Figure("conversations", "会话总数", int(overall.conversations), "count", m.drill("conversations")),
        Figure("valid", "有效会话", int(overall.valid), "count", m.drill("conversations", metric="valid")),
        Figure("bot_rate", "机器人解决率", m.ratio(overall.bot_resolved, overall.valid), "percent",
               m.drill("conversations", metric="bot_resolved")),
        Figure("helpful_rate", "👍 率", m.ratio(overall.votes_up, votes), "percent",
               m.drill("conversations", metric="voted")),
        Figure("handover_rate", "转人工率", m.ratio(overall.handed_over, overall.valid), "percent",
               m.drill("conversations", metric="handed_over")),
        Figure("capture_rate", "套电率", m.ratio(overall.captured, overall.valid), "percent",
               m.drill("conversations", metric="captured")),
    )
    panels = (
        _by(by_channel, "channel", "by_channel", channel_label, _volume, VOLUME_COLUMNS,
            N_("按会话渠道；有效会话 = 访客至少发过一条消息"), "valid", ("valid", "bot_resolved", "handed_over")),
        _by(by_source, "source", "by_source", source_label, _volume, VOLUME_COLUMNS,
            N_("按访客的首次来源（线索归因）"), "valid", ("valid", "bot_resolved", "handed_over")),
        heat_map(sets["heat"]),
        daily(sets["day"]),
        reasons(sets["reason"], int(overall.handed_over)),
        questions(session, org_id, filters, conds),
        _by(by_channel, "channel", "capture_channel", channel_label, _capture, CAPTURE_COLUMNS,
            N_("留资会话 / 有效会话（留下手机号或微信）"), "valid", ("capture_rate",)),
        _by(by_source, "source", "capture_source", source_label, _capture, CAPTURE_COLUMNS,
            N_("留资会话 / 有效会话，按首次来源"), "valid", ("capture_rate",)),
        _by(by_campaign, "campaign", "capture_campaign", campaign_label, _capture,
            CAPTURE_COLUMNS, N_("留资会话 / 有效会话，按首次触达的推广活动"), "valid", ("capture_rate",)),
        by_flow(session, org_id, filters, conds),
    )
    return figures, panels
