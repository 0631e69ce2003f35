"""Answers to a script's questions: admin-written patterns cannot hold a worker thread (issue 19)."""

from __future__ import annotations

import datetime as dt

from edudesk.bot.flows.answers import Rule, parse_answer, pattern_matches
from edudesk.nlp.extract import extract

TODAY = dt.date(2026, 12, 7)


def test_a_catastrophically_backtracking_pattern_gives_up_and_does_not_match() -> None:
    # With Python's re this takes longer than the age of the universe; the regex engine stops after its timeout.
    assert pattern_matches(r"(a+)+$", "a" * 60 + "b") is False


def test_ordinary_patterns_still_decide() -> None:
    assert pattern_matches(r"[A-Z]{2}\d{4}", "AB1234")
    assert not pattern_matches(r"[A-Z]{2}\d{4}", "AB123")


def test_an_answer_to_a_slow_pattern_is_asked_again() -> None:
    rule = Rule("code", "text", pattern=r"(a+)+$")
    text = "a" * 60 + "b"
    assert parse_answer(rule, text, extract(text), today=TODAY) is None
