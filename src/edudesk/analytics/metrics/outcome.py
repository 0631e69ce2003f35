"""The outcome dashboard: the funnel visitor → conversation → contact details → A/B → trial booked → attended →
enrolled, by source and by campaign, with the median time from a lead's creation to each step (docs/metrics.md,
"Outcome")."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.analytics.metrics import common as m
from edudesk.analytics.models import VisitDay
from edudesk.analytics.shapes import N_, Chart, Column, Drill, Figure, Filters, Panel, Row

C, L = m.C, m.L
STEPS = ("contact", "booked", "attended", "enrolled")
STEP_SECONDS = {"contact": L.contact_seconds, "booked": L.booked_seconds, "attended": L.attended_seconds,
                "enrolled": L.enrolled_seconds}
STEP_LABELS = {"contact": N_("留资"), "booked": N_("预约试听"), "attended": N_("到课试听"), "enrolled": N_("报名")}


def visits_apply(filters: Filters) -> bool:
    """Visits come before any channel, group or agent: with one of those filters they are not shown."""
    return filters.channel in (None, "web") and filters.group_id is None and filters.agent_id is None


def visits_by(session: Session, org_id: int, filters: Filters, column: Any | None) -> dict[Any, int]:
    if not visits_apply(filters):
        return {}
    v = VisitDay
    by = [column] if column is not None else []
    stmt = select(*by, m.total(v.visits)).where(*m.dimension_conditions(v, org_id, filters,
                                                                        source_and_campaign_only=True))
    if by:
        stmt = stmt.group_by(*by)
    return {(r[0] if by else None): int(r[-1]) for r in session.execute(stmt)}


def lead_sums() -> list[Any]:
    s = m.LEAD_SUBSETS
    return [m.count_if(s["all"]()).label("leads"), m.count_if(s["contact"]()).label("contact"),
            m.count_if(s["high_intent"]()).label("high_intent"),
            *(m.count_if(L.level == lv).label(f"level_{lv}") for lv in ("A", "B", "C")),
            m.count_if(s["booked"]()).label("booked"), m.count_if(s["attended"]()).label("attended"),
            m.count_if(s["enrolled"]()).label("enrolled")]


def medians(session: Session, conds: list[Any]) -> dict[str, float | None]:
    """Median seconds from a lead's creation to each step, over the leads that reached it."""
    values: dict[str, list[int]] = defaultdict(list)
    for row in session.execute(select(*STEP_SECONDS.values()).where(*conds)):
        for step, value in zip(STEP_SECONDS, row, strict=True):
            if value is not None:
                values[step].append(int(value))
    return {step: m.median(values[step]) for step in STEPS}


BREAKDOWN_COLUMNS = (
    Column("visits", "访问", "count"), Column("conversations", "有效会话", "count"),
    Column("leads", "线索", "count"), Column("contact", "留资线索", "count"),
    Column("level_A", "A 级", "count"), Column("level_B", "B 级", "count"),
    Column("level_C", "C 级", "count"), Column("booked", "预约试听", "count"), Column("attended", "到课", "count"),
    Column("enrolled", "报名", "count"), Column("enrol_rate", "留资→报名", "percent"),
)


def breakdown(session: Session, org_id: int, filters: Filters, key: str, title: str, lead_rows: list[Any],
              conv_rows: list[Any], names: dict[Any, str], empty: str) -> Panel:
    leads = {r[0]: r for r in lead_rows}
    convs = {r[0]: int(r.valid) for r in conv_rows}
    visits = visits_by(session, org_id, filters, getattr(VisitDay, key))
    rows = []
    for value in sorted(set(leads) | set(convs) | set(visits), key=lambda v: (v is None, str(v))):
        r = leads.get(value)
        counts = {k: int(getattr(r, k)) if r is not None else 0 for k in (
            "leads", "contact", "level_A", "level_B", "level_C", "booked", "attended", "enrolled")}
        param = "campaign_id" if key == "campaign_id" else key
        rows.append(Row({"name": m.label(names, value, empty),
                         "visits": visits.get(value) if visits_apply(filters) else None,
                         "conversations": convs.get(value, 0), **counts,
                         "enrol_rate": m.ratio(counts["enrolled"], counts["contact"])},
                        m.drill("leads", **{param: m.NONE if value is None else value})))
    label = "来源" if key == "source" else "推广活动"
    return Panel(f"by_{'source' if key == 'source' else 'campaign'}", title, (Column("name", label),
                                                                             *BREAKDOWN_COLUMNS),
                 tuple(rows), Chart("stacked_bar", "name", ("contact", "booked", "attended", "enrolled")),
                 "线索按创建日、会话按开始日、访问按开始日计入所选时段；按首次来源归因")


def build(session: Session, org_id: int, filters: Filters) -> tuple[tuple[Figure, ...], tuple[Panel, ...]]:
    cconds = m.conversation_conditions(org_id, filters)
    lconds = m.lead_conditions(org_id, filters)
    valid_sum = [m.count_if(C.valid.is_(True)).label("valid")]
    csets = m.grouped_many(session, valid_sum, cconds, {"total": (), "source": (C.source,),
                                                        "campaign": (C.campaign_id,)})
    lsets = m.grouped_many(session, lead_sums(), lconds, {"total": (), "source": (L.source,),
                                                          "campaign": (L.campaign_id,)})
    valid = int(m.only(csets["total"], session, valid_sum, cconds).valid)
    leads = m.only(lsets["total"], session, lead_sums(), lconds)
    visits = visits_by(session, org_id, filters, None).get(None, 0) if visits_apply(filters) else None
    times = medians(session, lconds)
    steps: list[tuple[str, str, int | None, Drill | None, float | None]] = [
        ("visits", N_("访客访问"), visits, None, None),
        ("conversations", "有效会话", valid, m.drill("conversations", metric="valid"), None),
        ("contact", N_("留资（手机号/微信）"), int(leads.contact), m.drill("leads", metric="contact"),
         times["contact"]),
        ("high_intent", N_("A/B 级意向"), int(leads.high_intent), m.drill("leads", metric="high_intent"), None),
        ("booked", "预约试听", int(leads.booked), m.drill("leads", metric="booked"), times["booked"]),
        ("attended", N_("到课试听"), int(leads.attended), m.drill("leads", metric="attended"), times["attended"]),
        ("enrolled", "报名", int(leads.enrolled), m.drill("leads", metric="enrolled"), times["enrolled"]),
    ]
    rows = []
    previous: int | None = None
    for _key, label, count, drill, median in steps:
        rows.append(Row({"step": label, "count": count, "from_previous": m.ratio(count, previous),
                         "median_seconds": median}, drill))
        previous = count
    funnel = Panel("funnel", "转化漏斗",
                   (Column("step", "环节"), Column("count", "数量", "count"),
                    Column("from_previous", "上一环节转化率", "percent"),
                    Column("median_seconds", "自线索创建的中位时长", "seconds")), tuple(rows),
                   Chart("funnel", "step", ("count",)),
                   "访问、会话、线索分别按开始日/创建日计入所选时段；留资之后各环节只计本时段创建的线索")
    level_rows = tuple(Row({"level": f"{lv} 级", "leads": int(getattr(leads, f"level_{lv}"))},
                           m.drill("leads", level=lv)) for lv in ("A", "B", "C"))
    levels = Panel("levels", "线索意向等级", (Column("level", "等级"), Column("leads", "线索数", "count")), level_rows,
                   Chart("pie", "level", ("leads",)), "本时段创建的线索（合并到旧线索的不计）按 A/B/C 等级")
    time_rows = tuple(Row({"step": STEP_LABELS[s], "median_seconds": times[s],
                           "leads": int(getattr(leads, s))}, m.drill("leads", metric=s)) for s in STEPS)
    conversion = Panel("conversion_times", "转化时长（中位数）",
                       (Column("step", "环节"), Column("median_seconds", "中位时长", "seconds"),
                        Column("leads", "线索数", "count")), time_rows, Chart("bar", "step", ("median_seconds",)),
                       "从线索创建到该环节的时长，取到达该环节的线索的中位数；到课以试听课开始时间计")
    figures = (
        Figure("visits", "访问", visits, "count", None),
        Figure("conversations", "有效会话", valid, "count", m.drill("conversations", metric="valid")),
        Figure("contact", "留资线索", int(leads.contact), "count", m.drill("leads", metric="contact")),
        Figure("booked", "预约试听", int(leads.booked), "count", m.drill("leads", metric="booked")),
        Figure("attended", "到课", int(leads.attended), "count", m.drill("leads", metric="attended")),
        Figure("enrolled", "报名", int(leads.enrolled), "count", m.drill("leads", metric="enrolled")),
        Figure("enrol_rate", "留资→报名转化率", m.ratio(leads.enrolled, leads.contact), "percent",
               m.drill("leads", metric="enrolled")),
    )
    campaigns = m.campaign_names(session, org_id)
    panels = (
        funnel, levels, conversion,
        breakdown(session, org_id, filters, "source", N_("各来源转化"), lsets["source"], csets["source"],
                  m.SOURCE_LABELS, m.SOURCE_LABELS[m.NONE]),
        breakdown(session, org_id, filters, "campaign_id", N_("各推广活动转化"), lsets["campaign"], csets["campaign"],
                  campaigns, N_("无推广活动")),
    )
    return figures, panels
