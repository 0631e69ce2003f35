"""Issue 14 targets on the held-out round-2 sets, each split into dev (rules were tuned on it) and test (measured
once, at the end): ``exam_*.jsonl``, vocational exam preparation written as adults and parents type it, and
``chatter_*.jsonl``, unrelated small talk (travel, shopping, food, weather, work) with hard negatives.

Written for edudesk, no evaluation data copied. Targets sit at or a little under what the test halves showed
(docs/quality.md, "Extraction, round 2"), so a regression fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edudesk.evaluation.extract import Report, evaluate, load_cases

HERE = Path(__file__).parent
EXAM_TARGETS = {"phone": 0.9, "wechat": 0.95, "name": 0.95, "subject": 0.95, "city": 0.93, "district": 0.93}
# Names found in fewer than 0.5 % of small-talk messages (issue 14); with ~85 messages a half that means none.
MAX_FALSE_NAME_RATE = 0.005


def _report(name: str) -> Report:
    cases, kind = load_cases(HERE / f"{name}.jsonl")
    assert kind == "fields"
    return evaluate(cases, kind)


@pytest.fixture(scope="module", params=["exam_dev", "exam_test"])
def exam(request: pytest.FixtureRequest) -> Report:
    return _report(request.param)


@pytest.fixture(scope="module", params=["chatter_dev", "chatter_test"])
def chatter(request: pytest.FixtureRequest) -> Report:
    return _report(request.param)


def test_sizes() -> None:
    exam = sum(len(load_cases(HERE / f"exam_{s}.jsonl")[0]) for s in ("dev", "test"))
    chatter = sum(len(load_cases(HERE / f"chatter_{s}.jsonl")[0]) for s in ("dev", "test"))
    assert exam >= 150 and chatter >= 150


@pytest.mark.parametrize("field", sorted(EXAM_TARGETS))
def test_exam_field_meets_target(exam: Report, field: str) -> None:
    f1 = exam.fields[field].f1
    assert f1 >= EXAM_TARGETS[field], f"{field} F1 {f1:.3f} < {EXAM_TARGETS[field]}"


def test_exam_messages_find_no_stray_names(exam: Report) -> None:
    assert exam.false_name_rate < MAX_FALSE_NAME_RATE, exam.false_names


def test_small_talk_finds_no_names(chatter: Report) -> None:
    assert chatter.unnamed == chatter.messages
    assert chatter.false_name_rate < MAX_FALSE_NAME_RATE, chatter.false_names


def test_small_talk_finds_no_contact_or_subject(chatter: Report) -> None:
    """Order numbers, coupon codes, products and everyday words in small talk: no phone, WeChat or subject."""
    for field in ("phone", "wechat", "subject", "name", "child_name"):
        assert chatter.unlabelled.get(field, 0) == 0, (field, chatter.unlabelled)


def test_the_sets_have_hard_negatives() -> None:
    text = "".join((HERE / f"{n}.jsonl").read_text(encoding="utf-8")
                   for n in ("exam_dev", "exam_test", "chatter_dev", "chatter_test"))
    for needle in ("订单号", "优惠码", "课程代码", "iPhone", "@163.com", "www.", "密码", "统一建设", "个人资料",
                   "绿泡泡", "薇信", "威信", "微❤", "wxid_", "北京朝阳", "海淀", "取件码", "车牌号"):
        assert needle in text, needle
