"""Lead grading (意向等级 A/B/C): a score from explainable rules, so the card can say why ("+20 留下了手机号").

Pure: the caller gathers the facts (card fields, pipeline status, visits, signals seen in the visitor's messages)
and stores the result. Rules are (signal, points, label); an org may replace the default list and thresholds.
Signals in messages are detected here too, so the same words mean the same thing everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edudesk.leads.models import LeadStatus

# Signals found in what the visitor wrote (message text or the FAQ category answered).
MESSAGE_SIGNALS: dict[str, re.Pattern[str]] = {
    "asked_price": re.compile(r"价格|多少钱|学费|收费|费用|优惠|折扣|分期|一期多少|课时费"),
    "asked_schedule": re.compile(r"什么时候(开课|上课)|上课时间|开课|课表|周末有课|几点上课"),
    "enrol_intent": re.compile(r"报名|报班|想报|怎么报|交费|缴费|定金|名额|插班"),
    "asked_trial": re.compile(r"试听|体验课|试课|免费课"),
}
STATUS_RANK = {s: i for i, s in enumerate(LeadStatus)}


@dataclass(frozen=True)
class Rule:
    signal: str
    points: int
    label: str


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("has_phone", 25, "留下了手机号"),
    Rule("has_wechat", 15, "留下了微信号"),
    Rule("field:grade", 10, "说了孩子年级"),
    Rule("field:subject", 10, "说了想学的科目"),
    Rule("field:name", 5, "留下了称呼"),
    Rule("asked_price", 15, "问过价格"),
    Rule("asked_schedule", 5, "问过上课时间"),
    Rule("asked_trial", 10, "问过试听"),
    Rule("enrol_intent", 20, "有报名意向"),
    Rule("return_visit", 10, "多次来访"),
    Rule("trial_booked", 25, "预约了试听课"),
    # Said on a campaign call (voice.campaigns): "interested" raises the grade, "refused" lowers it.
    Rule("call_interested", 20, "电话外呼：有意向"),
    Rule("call_refused", -20, "电话外呼：明确拒绝"),
)
# Signals other areas note on a lead (``leads_service.add_signal``), besides what visitors write.
CALL_SIGNALS = ("call_interested", "call_refused")
A_THRESHOLD = 60
B_THRESHOLD = 30


@dataclass(frozen=True)
class Grade:
    score: int
    level: str  # "A" high intent, "B" medium, "C" low
    reasons: tuple[str, ...]  # "+25 留下了手机号", in rule order


def signals_in(text: str, category: str | None = None) -> set[str]:
    """Signal names a visitor message (and the FAQ category it was answered from) shows."""
    haystack = f"{text} {category or ''}"
    return {name for name, pattern in MESSAGE_SIGNALS.items() if pattern.search(haystack)}


def facts(fields: Mapping[str, Any], status: LeadStatus, visits: int, signals: Iterable[str]) -> set[str]:
    """Every signal a lead shows: its card fields, its pipeline status, return visits and message signals."""
    out = set(signals)
    out.update(f"field:{key}" for key, value in fields.items() if value not in (None, "", []))
    if fields.get("phone"):
        out.add("has_phone")
    if fields.get("wechat"):
        out.add("has_wechat")
    if visits >= 2:
        out.add("return_visit")
    if STATUS_RANK[status] >= STATUS_RANK[LeadStatus.trial_booked] and status != LeadStatus.lost:
        out.add("trial_booked")
    return out


def grade(shown: set[str], rules: Sequence[Rule] = DEFAULT_RULES, *, a_threshold: int = A_THRESHOLD,
          b_threshold: int = B_THRESHOLD) -> Grade:
    score = 0
    reasons = []
    for rule in rules:
        if rule.signal in shown:
            score += rule.points
            reasons.append(f"{'+' if rule.points >= 0 else ''}{rule.points} {rule.label}")
    level = "A" if score >= a_threshold else "B" if score >= b_threshold else "C"
    return Grade(score, level, tuple(reasons))
