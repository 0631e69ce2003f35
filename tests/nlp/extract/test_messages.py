"""The issue-5 targets on the hand-labelled test set ``messages.jsonl`` (274 parent/student messages).

Written for edudesk (no evaluation data copied): natural chat messages with phones in every format, hard negatives
(prices, order numbers, dates, QQ numbers, ID and bank cards, verification codes), names in every pattern, grades
and ages in Chinese and Arabic numerals, subject synonyms, cities/districts, and small talk with nothing in it.
Issue 14 relabelled five rows by the exam decision (雅思/托福, 教师资格证, 一建; docs/decisions.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edudesk.evaluation.extract import evaluate, load_cases

MESSAGES = Path(__file__).with_name("messages.jsonl")
TARGETS = {"phone": 0.99, "grade": 0.95, "subject": 0.95, "age": 0.95, "wechat": 0.95, "name": 0.9,
           "child_name": 0.9, "city": 0.9, "district": 0.9}


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    cases, kind = load_cases(MESSAGES)
    assert kind == "fields"
    assert len(cases) >= 250
    return {name: score.f1 for name, score in evaluate(cases, kind).fields.items()}


@pytest.mark.parametrize("field", sorted(TARGETS))
def test_field_meets_target(scores: dict[str, float], field: str) -> None:
    assert scores[field] >= TARGETS[field], f"{field} F1 {scores[field]:.3f} < {TARGETS[field]}"


def test_the_set_has_hard_negatives() -> None:
    text = MESSAGES.read_text(encoding="utf-8")
    for needle in ("订单号", "QQ", "元", "2026-11-25", "验证码", "身份证", "银行卡", "小班教学", "3-6岁"):
        assert needle in text
