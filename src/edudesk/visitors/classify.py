"""Classification rules (用户画像 → 标签): parsing the conditions an admin types, and evaluating rules over a
contact's facts. Pure: the service gathers ``Facts`` (trail, conversations, lead) and applies the result.

Conditions are typed one per line, all of which must hold::

    page *price* >= 3        viewed pages matching a URL pattern at least 3 times (patterns.py; ">= N" optional)
    course 少儿编程           viewed a page of this course (course URL patterns), any number of times
    faq 价格                  asked something the bot answered from an FAQ category containing this
    signal asked_trial        a signal of leads.grading.MESSAGE_SIGNALS in what they wrote
    campaign exam-prep        came from a campaign (utm_campaign or a QR-code campaign) containing this
    source search             source_kind of a visit: ad, campaign, search, social, referral, direct
    utm_source baidu          utm_source containing this
    keyword 考研              a search keyword containing this
    visits >= 3               at least 3 visits
    field phone               the lead card has this field filled in

Text comparisons are case-insensitive "contains", so ``exam`` matches the campaigns ``exam-prep`` and ``EXAM2027``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edudesk.errors import DomainError
from edudesk.visitors import attribution, patterns

KINDS = ("page", "course", "faq", "signal", "campaign", "source", "utm_source", "keyword", "visits", "field")
SOURCE_KINDS = attribution.SOURCE_KINDS
MAX_CONDITIONS = 10
MAX_VALUE = 100
MAX_MIN = 10_000
_LINE_RE = re.compile(r"^(\S+)(?:\s+(.*?))?\s*$")
_MIN_RE = re.compile(r"^(.*?)\s*(?:>=|≥|＞＝)\s*(\d{1,6})$")


class RuleError(DomainError):
    pass


@dataclass(frozen=True)
class Condition:
    kind: str
    value: str = ""
    min: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "min": self.min}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Condition:
        return cls(str(raw.get("kind", "")), str(raw.get("value", "")), int(raw.get("min", 1) or 1))

    def as_text(self) -> str:
        if self.kind == "visits":
            return f"visits >= {self.min}"
        if self.kind == "page" and self.min > 1:
            return f"page {self.value} >= {self.min}"
        return f"{self.kind} {self.value}"


@dataclass(frozen=True)
class RuleSpec:
    id: int
    tag: str
    conditions: tuple[Condition, ...]
    points: int = 0
    label: str = ""


@dataclass(frozen=True)
class Facts:
    """Everything rules look at, for one contact."""

    page_urls: Sequence[str] = ()
    courses: Mapping[str, int] = field(default_factory=dict)
    categories: Collection[str] = ()
    signals: Collection[str] = ()
    campaigns: Collection[str] = ()
    source_kinds: Collection[str] = ()
    utm_sources: Collection[str] = ()
    keywords: Collection[str] = ()
    visits: int = 0
    lead_fields: Collection[str] = ()


def parse_conditions(text: str, *, signals: Collection[str], field_name: str = "conditions") -> list[Condition]:
    """The conditions typed one per line, or a RuleError naming the line (shown beside ``field_name``)."""
    out: list[Condition] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(_parse_line(number, line, signals, field_name))
    if not out:
        raise RuleError("no_conditions", "请至少填写一个条件", field_name)
    if len(out) > MAX_CONDITIONS:
        raise RuleError("too_many", f"条件不超过 {MAX_CONDITIONS} 个", field_name)
    return out


def _parse_line(number: int, line: str, signals: Collection[str], field_name: str) -> Condition:
    def bad(message: str) -> RuleError:
        return RuleError("bad_condition", f"第 {number} 行：{message}", field_name)

    m = _LINE_RE.match(line)
    assert m is not None  # a non-empty stripped line always matches
    kind, rest = m.group(1).lower(), (m.group(2) or "").strip()
    if kind not in KINDS:
        return _unknown(bad, kind)
    minimum = 1
    at_least = _MIN_RE.match(rest)
    if at_least is not None and kind in ("page", "visits"):
        rest, minimum = at_least.group(1).strip(), int(at_least.group(2))
        if not 1 <= minimum <= MAX_MIN:
            raise bad(f"次数应在 1 到 {MAX_MIN} 之间")
    if kind == "visits":
        if rest or at_least is None:
            raise bad("访问次数请写成 visits >= 3")
        return Condition("visits", "", minimum)
    if not rest:
        raise bad(f"{kind} 后面请写上要匹配的内容")
    if len(rest) > MAX_VALUE:
        raise bad(f"内容不超过 {MAX_VALUE} 个字符")
    if kind == "page":
        try:
            rest = patterns.clean_pattern(rest, field_name)
        except patterns.PatternError as exc:
            raise bad(exc.message) from None
    elif kind == "signal" and rest not in signals:
        raise bad(f"未知信号 {rest[:40]}，可用：{'、'.join(sorted(signals))}")
    elif kind == "source" and rest.lower() not in SOURCE_KINDS:
        raise bad(f"来源类型应为 {'、'.join(SOURCE_KINDS)} 之一")
    elif kind in ("source", "field"):
        rest = rest.lower()
    return Condition(kind, rest, minimum)


def _unknown(bad: Any, kind: str) -> Condition:
    raise bad(f"未知条件 {kind[:20]}，可用：{'、'.join(KINDS)}")


def _contains(needle: str, values: Iterable[str]) -> str | None:
    folded = needle.casefold()
    return next((v for v in values if folded in v.casefold()), None)


def check(cond: Condition, facts: Facts) -> str | None:
    """Why the condition holds for these facts ("浏览了 *price* 页面 4 次"), or None when it does not."""
    kind, value = cond.kind, cond.value
    if kind == "page":
        seen = sum(1 for url in facts.page_urls if patterns.matches(value, url))
        return f"浏览 {value} 页面 {seen} 次" if seen >= cond.min else None
    if kind == "course":
        name = _contains(value, [c for c, n in facts.courses.items() if n > 0])
        return f"看过课程 {name}" if name else None
    if kind == "faq":
        found = _contains(value, facts.categories)
        return f"问过「{found}」类问题" if found else None
    if kind == "signal":
        return f"信号 {value}" if value in facts.signals else None
    if kind == "campaign":
        found = _contains(value, facts.campaigns)
        return f"来自推广活动 {found}" if found else None
    if kind == "source":
        return f"来源类型 {value}" if value in facts.source_kinds else None
    if kind == "utm_source":
        found = _contains(value, facts.utm_sources)
        return f"utm_source {found}" if found else None
    if kind == "keyword":
        found = _contains(value, facts.keywords)
        return f"搜索词「{found}」" if found else None
    if kind == "visits":
        return f"来访 {facts.visits} 次" if facts.visits >= cond.min else None
    if kind == "field":
        return f"留下了 {value}" if value in facts.lead_fields else None
    return None


def evaluate(rules: Sequence[RuleSpec], facts: Facts) -> dict[str, tuple[RuleSpec, str]]:
    """The tags whose rule holds, each with its rule and the reason (the conditions' reasons joined). When two
    rules give one tag, the first wins."""
    out: dict[str, tuple[RuleSpec, str]] = {}
    for rule in rules:
        if rule.tag in out or not rule.conditions:
            continue
        reasons = [check(c, facts) for c in rule.conditions]
        if all(r is not None for r in reasons):
            out[rule.tag] = (rule, "；".join(r for r in reasons if r))
    return out


# Facts that change with no call to ``rules.trail_changed`` naming them: lead card fields other than the phone and
# WeChat ID (captured from any message), and the visit count the contact row keeps (a message after a long gap). A
# rule reading one of them is run again on every change, as before changes were told apart.
UNTRACKED = frozenset({"field", "visits"})
# What a page view (or visits linked to a contact) may change; "visits" is also untracked.
TRAIL_KINDS = frozenset({"page", "course", "visits", "campaign", "source", "utm_source", "keyword"})
# ``could_change``'s ``changed`` for stored page views: any value of those kinds.
TRAIL_CHANGE: Mapping[str, Collection[str]] = dict.fromkeys(TRAIL_KINDS, frozenset())


def could_change(rules: Iterable[RuleSpec], changed: Mapping[str, Collection[str]]) -> bool:
    """Whether running ``rules`` again could give another answer after ``changed`` (condition kind → the values that
    appeared, empty: any): a rule reads an untracked fact, or a changed kind with any value, or, for ``signal`` and
    ``faq``, a value that ``check`` would match in the new ones. Facts only grow by such a change (a new signal,
    a newly answered category), so a condition matching none of the new values holds exactly as it did."""
    for rule in rules:
        for cond in rule.conditions:
            if cond.kind in UNTRACKED:
                return True
            if cond.kind not in changed:
                continue
            values = changed[cond.kind]
            if not values or cond.kind not in ("signal", "faq"):
                return True
            if cond.kind == "signal" and cond.value in values:
                return True
            if cond.kind == "faq" and _contains(cond.value, values) is not None:
                return True
    return False


def conditions_text(conditions: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(Condition.from_dict(c).as_text() for c in conditions)
