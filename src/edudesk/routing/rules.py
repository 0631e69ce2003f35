"""Routing decisions: which skill group serves a conversation, how urgently, and whether seniors go first.

Pure: the facts of a conversation and the org's ordered rules in, a decision out, so every rule is table-tested
without a database. The first enabled rule whose conditions all hold decides the group and priority; VIP and A-grade
contacts are then lifted whatever the rules say (an institution never wants its best leads waiting behind a
"where is the campus" question), unless a rule already put them higher.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edudesk.errors import DomainError

VIP_PRIORITY = 10
A_GRADE_PRIORITY = 5
MAX_PRIORITY = 100
MAX_VALUES = 30
MAX_VALUE_CHARS = 100
CONDITION_LABELS = {
    "channel": "渠道",
    "page_contains": "来源页面包含",
    "button": "选择的菜单按钮",
    "faq_category": "咨询过的问题分类",
    "contact_tags": "客户标签",
    "vip": "VIP 客户",
    "lead_grade": "线索等级",
}
GRADES = ("A", "B", "C")


class RuleError(DomainError):
    pass


@dataclass(frozen=True)
class RoutingFacts:
    """What is known about a conversation when it asks for a human."""

    channel: str = "web"
    page_url: str = ""
    page_title: str = ""
    button: str | None = None  # payload of the menu button the visitor chose
    faq_categories: tuple[str, ...] = ()  # categories of the FAQ answers the bot gave, latest last
    contact_tags: frozenset[str] = frozenset()
    vip: bool = False
    lead_grade: str | None = None


@dataclass(frozen=True)
class Rule:
    id: int
    group_id: int | None
    conditions: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    senior_first: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class Decision:
    group_id: int | None
    priority: int
    senior_first: bool
    rule_id: int | None  # the rule that decided, for the console ("按规则「VIP 客户」分配")


def _category_matches(asked: Iterable[str], prefixes: Sequence[str]) -> bool:
    for category in asked:
        for prefix in prefixes:
            prefix = prefix.strip("/ ")
            if category == prefix or category.startswith(prefix + "/"):
                return True
    return False


def matches(conditions: dict[str, Any], facts: RoutingFacts) -> bool:
    """Whether every condition holds (no conditions = a catch-all rule)."""
    for key, wanted in conditions.items():
        if key == "channel" and facts.channel not in wanted:
            return False
        if key == "page_contains":
            page = f"{facts.page_url}\n{facts.page_title}".casefold()
            if not any(part.casefold() in page for part in wanted):
                return False
        if key == "button" and facts.button not in wanted:
            return False
        if key == "faq_category" and not _category_matches(facts.faq_categories, wanted):
            return False
        if key == "contact_tags" and not facts.contact_tags.intersection(wanted):
            return False
        if key == "vip" and facts.vip is not bool(wanted):
            return False
        if key == "lead_grade" and facts.lead_grade not in wanted:
            return False
    return True


def decide(rules: Sequence[Rule], facts: RoutingFacts) -> Decision:
    decision = Decision(group_id=None, priority=0, senior_first=False, rule_id=None)
    for rule in rules:
        if rule.enabled and matches(rule.conditions, facts):
            decision = Decision(rule.group_id, rule.priority, rule.senior_first, rule.id)
            break
    lift = VIP_PRIORITY if facts.vip else A_GRADE_PRIORITY if facts.lead_grade == "A" else 0
    if lift:
        decision = Decision(decision.group_id, max(decision.priority, lift), True, decision.rule_id)
    return decision


def clean_conditions(raw: dict[str, Any]) -> dict[str, Any]:
    """Validates conditions as an admin entered them (lists may come as comma-separated text)."""
    if not isinstance(raw, dict):
        raise RuleError("bad_conditions", "条件格式不正确", "conditions")
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in CONDITION_LABELS:
            raise RuleError("unknown_condition", f"不认识的条件：{str(key)[:40]}", "conditions")
        if key == "vip":
            if value in (None, ""):
                continue
            if not isinstance(value, bool):
                raise RuleError("bad_condition", "VIP 条件只能是“是”或“否”", "vip")
            cleaned[key] = value
            continue
        items = value.replace("，", ",").split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise RuleError("bad_condition", f"{CONDITION_LABELS[key]}：格式不正确", key)
        values: list[str] = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            if len(text) > MAX_VALUE_CHARS:
                raise RuleError("bad_condition", f"{CONDITION_LABELS[key]}：每项不超过 {MAX_VALUE_CHARS} 个字", key)
            if key == "lead_grade":
                text = text.upper()
                if text not in GRADES:
                    raise RuleError("bad_condition", "线索等级只能是 A、B、C", key)
            if text not in values:
                values.append(text)
        if len(values) > MAX_VALUES:
            raise RuleError("bad_condition", f"{CONDITION_LABELS[key]}：最多 {MAX_VALUES} 项", key)
        if values:
            cleaned[key] = values
    return cleaned


def clean_priority(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
        raise RuleError("bad_priority", f"优先级须为 0–{MAX_PRIORITY} 的整数", "priority")
    return value


def describe(conditions: dict[str, Any]) -> str:
    """One line for the rules list: 渠道 = web；线索等级 = A."""
    if not conditions:
        return "全部会话"
    parts = []
    for key, value in conditions.items():
        shown = ("是" if value else "否") if key == "vip" else "、".join(value)
        parts.append(f"{CONDITION_LABELS[key]}：{shown}")
    return "；".join(parts)
