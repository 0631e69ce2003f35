"""Routing decisions and member ranking as tables: facts in, group/priority/order out."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.errors import DomainError
from edudesk.routing.dispatch import Candidate, rank
from edudesk.routing.models import Strategy
from edudesk.routing.rules import Decision, RoutingFacts, Rule, clean_conditions, decide, describe

MATH, ENGLISH, EXAM, AFTER_SALES = 1, 2, 3, 4
RULES = [
    Rule(10, AFTER_SALES, {"button": ["menu:售后"]}, priority=1),
    Rule(11, EXAM, {"page_contains": ["/exam", "教师资格证"]}),
    Rule(12, ENGLISH, {"faq_category": ["课程/英语"]}),
    Rule(13, MATH, {"contact_tags": ["老学员"], "channel": ["wechat"]}, priority=3),
    Rule(14, MATH, {"lead_grade": ["A"]}, priority=8, senior_first=True),
    Rule(15, EXAM, {"vip": True}, priority=20, senior_first=True, enabled=False),
    Rule(16, MATH, {}),  # catch-all
]


@pytest.mark.parametrize(("facts", "expected"), [
    (RoutingFacts(button="menu:售后"), Decision(AFTER_SALES, 1, False, 10)),
    (RoutingFacts(page_url="https://x.cn/exam/teacher"), Decision(EXAM, 0, False, 11)),
    (RoutingFacts(page_title="教师资格证培训班"), Decision(EXAM, 0, False, 11)),
    (RoutingFacts(page_url="https://x.cn/EXAM"), Decision(EXAM, 0, False, 11)),  # case-insensitive
    (RoutingFacts(faq_categories=("课程/英语/自然拼读",)), Decision(ENGLISH, 0, False, 12)),
    (RoutingFacts(faq_categories=("课程/英语课",)), Decision(MATH, 0, False, 16)),  # prefix is per path segment
    (RoutingFacts(channel="wechat", contact_tags=frozenset({"老学员"})), Decision(MATH, 3, False, 13)),
    (RoutingFacts(channel="web", contact_tags=frozenset({"老学员"})), Decision(MATH, 0, False, 16)),
    (RoutingFacts(lead_grade="A"), Decision(MATH, 8, True, 14)),
    # VIP: the disabled VIP rule is skipped, the catch-all decides the group, the VIP lift still applies.
    (RoutingFacts(vip=True), Decision(MATH, 10, True, 16)),
    # An A-grade lead asking about after-sales: the first rule wins the group, the A lift raises the priority.
    (RoutingFacts(button="menu:售后", lead_grade="A"), Decision(AFTER_SALES, 5, True, 10)),
    (RoutingFacts(lead_grade="B"), Decision(MATH, 0, False, 16)),
])
def test_first_matching_rule_decides(facts: RoutingFacts, expected: Decision) -> None:
    assert decide(RULES, facts) == expected


def test_no_rules_is_the_org_wide_queue_with_lifts() -> None:
    assert decide([], RoutingFacts()) == Decision(None, 0, False, None)
    assert decide([], RoutingFacts(vip=True)) == Decision(None, 10, True, None)
    assert decide([Rule(1, 2, {"vip": True}, priority=50)], RoutingFacts(vip=True)) == Decision(2, 50, True, 1)


@pytest.mark.parametrize(("raw", "cleaned"), [
    ({"channel": "web，wechat, web"}, {"channel": ["web", "wechat"]}),
    ({"lead_grade": ["a", "B"]}, {"lead_grade": ["A", "B"]}),
    ({"vip": True, "button": []}, {"vip": True}),
    ({"vip": "", "page_contains": " /price "}, {"page_contains": ["/price"]}),
])
def test_conditions_are_cleaned(raw: dict[str, object], cleaned: dict[str, object]) -> None:
    assert clean_conditions(raw) == cleaned


@pytest.mark.parametrize("raw", [
    {"drop table": ["x"]}, {"lead_grade": ["D"]}, {"vip": "yes"}, {"channel": 5},
    {"page_contains": ["长" * 101]}, {"contact_tags": [str(i) for i in range(31)]}, "not a dict",
])
def test_bad_conditions_are_refused(raw: object) -> None:
    with pytest.raises(DomainError):
        clean_conditions(raw)  # type: ignore[arg-type]


def test_describe_is_readable() -> None:
    assert describe({}) == "全部会话"
    assert describe({"vip": True, "lead_grade": ["A", "B"]}) == "VIP 客户：是；线索等级：A、B"


T0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


def cand(uid: int, level: int = 1, active: int = 0, most: int = 5, minutes_ago: int | None = None) -> Candidate:
    last = T0 - dt.timedelta(minutes=minutes_ago) if minutes_ago is not None else None
    return Candidate(uid, level, active, most, last)


@pytest.mark.parametrize(("pool", "kwargs", "order"), [
    # Least busy by share of capacity; ties go to whoever waited longest for a conversation.
    ([cand(1, active=2), cand(2, active=1), cand(3, active=1, minutes_ago=1), cand(4, active=1, minutes_ago=30)],
     {"strategy": Strategy.least_busy}, [2, 4, 3, 1]),
    ([cand(1, active=2, most=10), cand(2, active=1, most=2)], {"strategy": Strategy.least_busy}, [1, 2]),
    # Senior first: level beats load; within a level the strategy's order stays.
    ([cand(1, level=2), cand(2, level=5, active=3), cand(3, level=5, active=1)],
     {"strategy": Strategy.least_busy, "senior_first": True}, [3, 2, 1]),
    # Round robin continues after the last member served.
    ([cand(1), cand(3), cand(7)], {"strategy": Strategy.round_robin, "last_assigned_user_id": 3}, [7, 1, 3]),
    ([cand(1), cand(3), cand(7)], {"strategy": Strategy.round_robin, "last_assigned_user_id": 7}, [1, 3, 7]),
    ([cand(1), cand(3), cand(7)], {"strategy": Strategy.round_robin, "last_assigned_user_id": None}, [1, 3, 7]),
    # Return to the last agent when they are free; otherwise least busy.
    ([cand(1, active=3), cand(2)], {"strategy": Strategy.last_agent, "last_agent_id": 1}, [1, 2]),
    ([cand(1, active=3), cand(2)], {"strategy": Strategy.last_agent, "last_agent_id": 9}, [2, 1]),
])
def test_rank(pool: list[Candidate], kwargs: dict[str, object], order: list[int]) -> None:
    kwargs.setdefault("senior_first", False)
    assert [c.user_id for c in rank(pool, **kwargs)] == order  # type: ignore[arg-type]
