"""QC reports per agent and per skill group over a range of local days (by the conversations' closing time).

For each agent (the one who served the conversation) or group: conversations inspected, the average automatic
score, the average *final* score (after review and appeal decisions), hits in total and per rule, conversations
reviewed, appeals, and appeals overturned. The same rows feed the page and the CSV export.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import spreadsheets
from edudesk.localtime import utc_bounds
from edudesk.qc import reviews, ruleset
from edudesk.qc.models import QcHit, QcInspection, QcReview, ReviewState
from edudesk.qc.results import names


@dataclass
class ReportRow:
    key: int | None
    label: str
    inspected: int = 0
    score_total: int = 0
    final_total: int = 0
    hits: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    reviewed: int = 0
    appeals: int = 0
    overturned: int = 0

    @property
    def average(self) -> float | None:
        return self.score_total / self.inspected if self.inspected else None

    @property
    def final_average(self) -> float | None:
        return self.final_total / self.inspected if self.inspected else None


@dataclass(frozen=True)
class Report:
    since: dt.date
    until: dt.date
    by: str
    rows: list[ReportRow]
    rules: list[tuple[str, str]]  # (key, name) of every rule that hit, for the columns
    total: ReportRow


def report(session: Session, org_id: int, since: dt.date, until: dt.date, by: str = "agent") -> Report:
    start, end = utc_bounds(since, until)
    inspections = list(session.scalars(select(QcInspection).where(
        QcInspection.org_id == org_id, QcInspection.closed_at >= start, QcInspection.closed_at < end)))
    ids = [i.id for i in inspections]
    hits: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for start_at in range(0, len(ids), 1000):
        chunk = ids[start_at:start_at + 1000]
        for inspection_id, key, name in session.execute(select(
                QcHit.inspection_id, QcHit.rule_key, QcHit.rule_name).where(QcHit.org_id == org_id,
                                                                            QcHit.inspection_id.in_(chunk))):
            hits[inspection_id].append((key, name))
    conv_ids = [i.conversation_id for i in inspections]
    cases: dict[int, QcReview] = {}
    for start_at in range(0, len(conv_ids), 1000):
        cases.update((r.conversation_id, r) for r in session.scalars(select(QcReview).where(
            QcReview.org_id == org_id, QcReview.conversation_id.in_(conv_ids[start_at:start_at + 1000]))))
    users, groups = names(session, org_id)
    rule_names = {r["key"]: r["name"] for r in ruleset.current(session, org_id).rules}
    rows: dict[int | None, ReportRow] = {}
    total = ReportRow(None, "合计")
    seen_rules: dict[str, str] = {}
    for ins in inspections:
        owner = ins.agent_id if by == "agent" else ins.group_id
        if owner not in rows:
            label = (users.get(owner, "—") if by == "agent" else groups.get(owner, "—")) if owner else (
                "无接待人" if by == "agent" else "未分组")
            rows[owner] = ReportRow(owner, label)
        case = cases.get(ins.conversation_id)
        for row in (rows[owner], total):
            row.inspected += 1
            row.score_total += ins.score
            row.final_total += reviews.final_score(ins, case)
            row.hits += ins.hit_count
            for rule_key, rule_name in hits.get(ins.id, []):
                row.by_rule[rule_key] = row.by_rule.get(rule_key, 0) + 1
                seen_rules.setdefault(rule_key, rule_names.get(rule_key, rule_name))
            if case is not None and case.reviewed_at is not None:
                row.reviewed += 1
            if case is not None and case.appealed_at is not None:
                row.appeals += 1
            if case is not None and case.state == ReviewState.overturned:
                row.overturned += 1
    ordered = sorted(rows.values(), key=lambda r: (r.key is None, r.label))
    return Report(since, until, by, ordered, sorted(seen_rules.items()), total)


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


def to_csv(rep: Report) -> bytes:
    head = "客服" if rep.by == "agent" else "技能组"
    header = [head, "质检会话数", "平均自动得分", "平均最终得分", "命中总数",
              *[f"命中：{name}" for _, name in rep.rules], "已复核", "申诉", "申诉改判"]
    rows = [[row.label, row.inspected, _num(row.average), _num(row.final_average), row.hits,
             *[row.by_rule.get(key, 0) for key, _ in rep.rules], row.reviewed, row.appeals, row.overturned]
            for row in [*rep.rows, rep.total]]
    return spreadsheets.to_csv(header, rows)
