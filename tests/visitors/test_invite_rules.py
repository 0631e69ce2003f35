"""Auto-invite rule evaluation as a table: page pattern, seconds on page, source, business hours, the per-day cap,
a human conversation, one invitation per page view."""

from __future__ import annotations

import pytest

from edudesk.visitors.invite_rules import RuleSpec, VisitorFacts, fits, pick, url_matches, without_database

PRICE = "https://school.example/course/math/price?utm_campaign=exam"


@pytest.mark.parametrize(("pattern", "url", "expected"), [
    ("", PRICE, True),
    ("price", PRICE, True),
    ("PRICE", PRICE, True),
    ("/refund", PRICE, False),
    ("*/price*", PRICE, True),
    ("https://school.example/course/*", PRICE, True),
    ("https://school.example/course/*/price", PRICE, False),  # a pattern with * must match the whole URL
    ("https://other.example/*", PRICE, False),
    ("*.*", PRICE, True),
    ("(.*)", PRICE, False),  # no regular expression: the characters are literal
    ("[a-z]*", "[a-z]/x", True),
])
def test_url_pattern(pattern: str, url: str, expected: bool) -> None:
    assert url_matches(pattern, url) is expected


BASE = VisitorFacts(url=PRICE, seconds_on_page=40, source_kind="search", campaign="exam", keyword="少儿编程 价格")


@pytest.mark.parametrize(("rule", "facts", "hours_open", "expected"), [
    (RuleSpec(1), BASE, True, True),
    (RuleSpec(1, min_seconds=30), BASE, True, True),
    (RuleSpec(1, min_seconds=41), BASE, True, False),
    (RuleSpec(1, source_kind="search"), BASE, True, True),
    (RuleSpec(1, source_kind="ad"), BASE, True, False),
    (RuleSpec(1, campaign="EXAM"), BASE, True, True),
    (RuleSpec(1, campaign="summer"), BASE, True, False),
    (RuleSpec(1, keyword="编程"), BASE, True, True),
    (RuleSpec(1, keyword="英语"), BASE, True, False),
    (RuleSpec(1, business_hours_only=True), BASE, True, True),
    (RuleSpec(1, business_hours_only=True), BASE, False, False),
    (RuleSpec(1, business_hours_only=False), BASE, False, True),
    (RuleSpec(1, max_per_day=2), VisitorFacts(PRICE, 40, sent_today=1), True, True),
    (RuleSpec(1, max_per_day=2), VisitorFacts(PRICE, 40, sent_today=2), True, False),
    (RuleSpec(1), VisitorFacts(PRICE, 40, with_human=True), True, False),
    (RuleSpec(1), VisitorFacts(PRICE, 40, invited_this_view=True), True, False),
    (RuleSpec(1, url_pattern="*/price*", min_seconds=30, source_kind="search", keyword="编程",
              business_hours_only=True, max_per_day=3), BASE, True, True),
])
def test_fits(rule: RuleSpec, facts: VisitorFacts, hours_open: bool, expected: bool) -> None:
    assert fits(rule, facts, hours_open=hours_open) is expected


def test_the_first_fitting_rule_in_order_is_used() -> None:
    rules = [RuleSpec(1, url_pattern="/refund"), RuleSpec(2, min_seconds=10), RuleSpec(3)]
    assert pick(rules, BASE, hours_open=True) == rules[1]
    assert pick(rules[:1], BASE, hours_open=True) is None


def test_database_facts_are_not_needed_to_rule_a_visitor_out() -> None:
    rule = RuleSpec(1, url_pattern="/refund", business_hours_only=True)
    assert without_database(rule, BASE) is False
    assert without_database(RuleSpec(1, business_hours_only=True), BASE) is True  # hours decided later
