"""What the four dashboards share: the filter bar and a drill-down's parameters as WHERE clauses on the roll-up
tables, the named subsets a figure counts (the same subset its drill-down lists, so the two cannot disagree), the
standard sums of one grouped query, ratios and labels. Definitions: docs/metrics.md."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Boolean, Column, ColumnElement, Integer, and_, case, cast, func, not_, select, text, true, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression

from edudesk.analytics.models import ConversationFact, ConversationFlow, LeadFact, QuestionFact, TicketFact
from edudesk.analytics.shapes import N_, Drill, DrillKind, FilterError, Filters
from edudesk.auth.models import User
from edudesk.campaigns.models import Campaign
from edudesk.routing.models import SkillGroup

C = ConversationFact
L = LeadFact
T = TicketFact
NONE = "none"  # a drill parameter naming "no group / no agent / no campaign / no reason"
NO_FLOW = "无话术"

CONVERSATION_SUBSETS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "all": lambda: true(),
    "valid": lambda: C.valid.is_(True),
    "bot_resolved": lambda: C.bot_resolved.is_(True),
    "handed_over": lambda: and_(C.valid.is_(True), C.handed_over.is_(True)),
    "queued": lambda: C.queued.is_(True),
    "served": lambda: C.served.is_(True),
    "abandoned": lambda: C.abandoned.is_(True),
    "waited": lambda: C.wait_seconds.is_not(None),
    "responded": lambda: C.first_response_seconds.is_not(None),
    "replied": lambda: C.response_count > 0,
    "handled": lambda: C.handling_seconds.is_not(None),
    "rated": lambda: C.csat_rated.is_(True),
    "satisfied": lambda: C.csat_satisfied.is_(True),
    "transferred": lambda: C.transfers > 0,
    "captured": lambda: and_(C.valid.is_(True), C.captured.is_(True)),
    "voted": lambda: (C.votes_up + C.votes_down) > 0,
    "missed": lambda: C.misses > 0,
}
LEAD_SUBSETS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "all": lambda: true(),
    "contact": lambda: L.has_contact.is_(True),
    "high_intent": lambda: and_(L.has_contact.is_(True), L.level.in_(("A", "B"))),
    "booked": lambda: L.booked.is_(True),
    "attended": lambda: L.attended.is_(True),
    "enrolled": lambda: L.enrolled.is_(True),
}
TICKET_SUBSETS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "all": lambda: true(),
    "first_response_met": lambda: T.first_response_met.is_(True),
    "first_response_missed": lambda: T.first_response_missed.is_(True),
    "resolution_met": lambda: T.resolution_met.is_(True),
    "resolution_missed": lambda: T.resolution_missed.is_(True),
}
SUBSETS: dict[str, dict[str, Callable[[], ColumnElement[bool]]]] = {
    "conversations": CONVERSATION_SUBSETS, "leads": LEAD_SUBSETS, "tickets": TICKET_SUBSETS, "agents": {"all": true},
}
FILTER_KEYS = ("channel", "source", "campaign_id", "group_id", "agent_id")
# Drill parameters besides the filter bar's, per list.
EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "conversations": ("metric", "day", "hour", "dow", "reason", "flow", "question"),
    "leads": ("metric", "day", "level"),
    "tickets": ("metric", "day"),
    "agents": ("metric",),
}

# The names a dashboard shows for stored keys; N_ puts them in the catalogue, the pages translate text cells.
CHANNEL_LABELS = {"web": N_("网页"), "wechat": N_("微信公众号"), "wecom": N_("微信客服"), "weixin": N_("微信"),
                  "api": "API", "form": N_("表单"), "import": N_("导入"), "manual": N_("手动录入"),
                  "fake": N_("测试渠道"), "phone": N_("电话")}
SOURCE_LABELS = {"ad": N_("广告"), "campaign": N_("推广活动"), "search": N_("搜索"), "social": N_("社交媒体"),
                 "referral": N_("外部链接"), "direct": N_("直接访问"), NONE: N_("未知来源")}
REASON_LABELS = {"visitor_request": N_("访客要求转人工"), "bot_misses": N_("机器人多次未答"),
                 "complaint": N_("投诉/不满"), "flow": N_("话术流程转人工"), "vip": N_("VIP 访客"),
                 "rule": N_("转人工规则"), NONE: N_("未记录原因")}
DOW_LABELS = (N_("周一"), N_("周二"), N_("周三"), N_("周四"), N_("周五"), N_("周六"), N_("周日"))


def drill(kind: DrillKind, **params: object) -> Drill:
    """A drill-down: ``None`` values are left out, everything else is a string (query-string safe)."""
    return Drill(kind, {k: str(v) for k, v in params.items() if v is not None})


def _int_param(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise FilterError(name, "参数不正确")
    return int(raw)


def narrowed(filters: Filters, params: Mapping[str, str]) -> tuple[Filters, dict[str, str]]:
    """The filter bar narrowed by a drill's filter-named parameters (``none`` kept aside as "is empty")."""
    changes: dict[str, Any] = {}
    empty: dict[str, str] = {}
    for key in FILTER_KEYS:
        raw = params.get(key)
        if raw is None or raw == "":
            continue
        if raw == NONE and key.endswith("_id"):  # (a source kind may well be "none": no attribution known)
            empty[key] = raw
            continue
        if key.endswith("_id"):
            if not raw.isdigit() or len(raw) > 12:
                raise FilterError(key, "请选择列表中的一项")
            changes[key] = int(raw)
        else:
            if len(raw) > 32:
                raise FilterError(key, "请选择列表中的一项")
            changes[key] = raw
    day = params.get("day")
    if day:
        try:
            when = dt.date.fromisoformat(day)
        except ValueError:
            raise FilterError("day", "日期格式应为 YYYY-MM-DD") from None
        changes["start"] = changes["end"] = when
    return (replace(filters, **changes) if changes else filters), empty


def dimension_conditions(model: Any, org_id: int, filters: Filters, empty: Mapping[str, str] | None = None,
                         *, source_and_campaign_only: bool = False) -> list[ColumnElement[bool]]:
    """The filter bar on one roll-up table (which has ``org_id``, ``day`` and the dimension columns)."""
    conds: list[ColumnElement[bool]] = [model.org_id == org_id, model.day >= filters.start, model.day <= filters.end]
    keys = ("source", "campaign_id") if source_and_campaign_only else FILTER_KEYS
    for key in keys:
        column = getattr(model, key)
        if empty and key in empty:
            conds.append(column.is_(None))
            continue
        value = getattr(filters, key)
        if value is not None:
            conds.append(column == value)
    return conds


def subset(kind: str, params: Mapping[str, str]) -> ColumnElement[bool]:
    metric = params.get("metric") or "all"
    found = SUBSETS[kind].get(metric)
    if found is None:
        raise FilterError("metric", "未知的指标")
    return found()


def conversation_conditions(org_id: int, filters: Filters, params: Mapping[str, str] | None = None
                            ) -> list[ColumnElement[bool]]:
    """The conversations a figure counts: filter bar, drill parameters, and the named subset."""
    params = params or {}
    filters, empty = narrowed(filters, params)
    conds = dimension_conditions(C, org_id, filters, empty)
    conds.append(subset("conversations", params))
    hour = _int_param(params, "hour", 0, 23)
    if hour is not None:
        conds.append(C.hour == hour)
    dow = _int_param(params, "dow", 0, 6)
    if dow is not None:
        conds.append(C.dow == dow)
    reason = params.get("reason")
    if reason:
        conds.append(C.handoff_reason.is_(None) if reason == NONE else C.handoff_reason == reason[:64])
    flow = params.get("flow")
    if flow:
        ran = select(ConversationFlow.conversation_id).where(
            ConversationFlow.org_id == org_id, ConversationFlow.day >= filters.start,
            ConversationFlow.day <= filters.end)
        conds.append(not_(C.conversation_id.in_(ran)) if flow == NO_FLOW
                     else C.conversation_id.in_(ran.where(ConversationFlow.flow_key == flow[:64])))
    question = params.get("question")
    if question:
        conds.append(C.conversation_id.in_(select(QuestionFact.conversation_id).where(
            QuestionFact.org_id == org_id, QuestionFact.day >= filters.start, QuestionFact.day <= filters.end,
            QuestionFact.query_norm == question[:200])))
    return conds


def lead_conditions(org_id: int, filters: Filters, params: Mapping[str, str] | None = None
                    ) -> list[ColumnElement[bool]]:
    params = params or {}
    filters, empty = narrowed(filters, params)
    conds = dimension_conditions(L, org_id, filters, empty)
    conds.append(subset("leads", params))
    level = params.get("level")
    if level:
        if level not in ("A", "B", "C"):
            raise FilterError("level", "等级只能是 A、B 或 C")
        conds.append(L.level == level)
    return conds


def ticket_conditions(org_id: int, filters: Filters, params: Mapping[str, str] | None = None
                      ) -> list[ColumnElement[bool]]:
    params = params or {}
    filters, empty = narrowed(filters, params)
    conds = dimension_conditions(T, org_id, filters, empty)
    conds.append(subset("tickets", params))
    return conds


def count_if(cond: ColumnElement[bool]) -> Any:
    """How many rows meet ``cond`` (a plain boolean column is summed as 0/1, which is cheaper than CASE)."""
    if isinstance(cond, BinaryExpression) and cond.operator is operators.is_ and isinstance(cond.left, Column) \
            and isinstance(cond.left.type, Boolean):
        return func.coalesce(func.sum(cast(cond.left, Integer)), 0)
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def total(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)


def conversation_sums(names: Sequence[str] | None = None) -> list[Any]:
    """The standard sums of one grouped query on ``analytics_conversations`` (labels = keys of the result rows);
    ``names`` picks the ones a page reads (each costs a little for every row of a long period)."""
    s = CONVERSATION_SUBSETS
    every = {
        "conversations": func.count(),
        **{name: count_if(s[name]()) for name in (
            "valid", "bot_resolved", "handed_over", "queued", "served", "abandoned", "waited", "responded",
            "handled", "rated", "satisfied", "transferred", "captured")},
        "wait_sum": total(C.wait_seconds), "frt_sum": total(C.first_response_seconds),
        "response_sum": total(C.response_sum), "response_count": total(C.response_count),
        "handling_sum": total(C.handling_seconds), "csat_sum": total(C.csat_value),
        "transfers": total(C.transfers), "votes_up": total(C.votes_up), "votes_down": total(C.votes_down),
    }
    return [every[name].label(name) for name in (names or every)]


def grouped(session: Session, columns: Sequence[Any], conds: Sequence[ColumnElement[bool]],
            by: Sequence[Any] = ()) -> list[Any]:
    stmt = select(*by, *columns).where(*conds)
    if by:
        stmt = stmt.group_by(*by)
    return list(session.execute(stmt))


def only(rows: list[Any], session: Session, columns: Sequence[Any], conds: Sequence[ColumnElement[bool]]) -> Any:
    """The total row of a grouping (asked again on its own if a dialect returned none for no rows)."""
    return rows[0] if rows else grouped(session, columns, conds)[0]


class Grouped:
    """One row of ``grouped_many``: the sums by name, the grouping columns by their key, ``row[i]`` the i-th
    grouping column (as a row of ``grouped`` has them first)."""

    __slots__ = ("_keys", "_values")

    def __init__(self, keys: Sequence[tuple[str, Any]], values: Mapping[str, Any]) -> None:
        self._keys = keys
        self._values = values

    def __getitem__(self, index: int) -> Any:
        return self._keys[index][1]

    def __getattr__(self, name: str) -> Any:
        for key, value in self._keys:
            if key == name:
                return value
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def grouped_many(session: Session, columns: Sequence[Any], conds: Sequence[ColumnElement[bool]],
                 sets: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Several groupings of the same rows (name → grouping columns; ``()`` = the total). On PostgreSQL one scan
    with GROUPING SETS — a year of conversations is read once per page, not once per panel; elsewhere one query
    per grouping. Rows of both kinds read alike (``row[0]``, ``row.<column key>``, ``row.<sum label>``)."""
    if session.get_bind().dialect.name != "postgresql" or len(sets) < 2:
        return {name: grouped(session, columns, conds, by=list(by)) for name, by in sets.items()}
    distinct: list[Any] = []
    for by in sets.values():
        for col in by:
            if not any(col is seen for seen in distinct):
                distinct.append(col)
    index = {id(col): i for i, col in enumerate(distinct)}
    width = len(distinct)
    full = (1 << width) - 1
    masks = {name: full & ~sum(1 << (width - 1 - index[id(col)]) for col in by) for name, by in sets.items()}
    keys = [col.label(f"_g{i}") for i, col in enumerate(distinct)]
    stmt = (select(*keys, func.grouping(*distinct).label("_mask"), *columns).where(*conds)
            .group_by(func.grouping_sets(*(tuple_(*by) if by else text("()") for by in sets.values()))))
    out: dict[str, list[Any]] = {name: [] for name in sets}
    by_mask: dict[int, list[str]] = {}
    for name, mask in masks.items():
        by_mask.setdefault(mask, []).append(name)
    labels = [c.name for c in columns]
    for row in session.execute(stmt):
        mapping = row._mapping
        values = {label: mapping[label] for label in labels}
        for name in by_mask.get(int(mapping["_mask"]), ()):
            out[name].append(Grouped([(col.key, mapping[f"_g{index[id(col)]}"]) for col in sets[name]], values))
    return out


def ratio(part: float | int | None, whole: float | int | None, digits: int = 4) -> float | None:
    if part is None or not whole:
        return None
    return round(float(part) / float(whole), digits)


def mean(total_: float | int | None, count: int | None) -> float | None:
    """An average rounded to 0.1 (seconds, scores); None when nothing was counted."""
    if total_ is None or not count:
        return None
    return round(float(total_) / float(count), 1)


def csat_score(csat_sum: float | None, rated: int | None) -> float | None:
    """The average normalised rating (0..1) shown on five stars (1..5), one decimal."""
    if csat_sum is None or not rated:
        return None
    return round(1 + 4 * float(csat_sum) / float(rated), 2)


def median(values: Sequence[int | float]) -> float | None:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def user_names(session: Session, org_id: int) -> dict[int, str]:
    return dict(session.execute(select(User.id, User.display_name).where(User.org_id == org_id)).all())


def group_names(session: Session, org_id: int) -> dict[int, str]:
    return dict(session.execute(select(SkillGroup.id, SkillGroup.name).where(SkillGroup.org_id == org_id))
                .all())


def campaign_names(session: Session, org_id: int) -> dict[int, str]:
    return dict(session.execute(select(Campaign.id, Campaign.name).where(Campaign.org_id == org_id))
                .all())


def label(mapping: Mapping[Any, str], key: Any, empty: str) -> str:
    if key is None:
        return empty
    return mapping.get(key, str(key))

