from __future__ import annotations

import pytest

from edudesk.visitors import classify
from edudesk.visitors.classify import Condition, Facts, RuleSpec

SIGNALS = ("asked_price", "asked_trial", "asked_schedule", "enrol_intent")
PRICE = ["https://s.example/courses/math/price"] * 3


@pytest.mark.parametrize(("text", "expected"), [
    ("page *price* >= 3", [Condition("page", "*price*", 3)]),
    ("page /courses/math", [Condition("page", "/courses/math", 1)]),
    ("visits ≥ 2\n\n# comment\nsignal asked_trial", [Condition("visits", "", 2), Condition("signal", "asked_trial")]),
    ("SOURCE Search", [Condition("source", "search")]),
    ("campaign exam-prep", [Condition("campaign", "exam-prep")]),
    ("field Phone", [Condition("field", "phone")]),
    ("course 少儿编程", [Condition("course", "少儿编程")]),
])
def test_parse_conditions(text: str, expected: list[Condition]) -> None:
    assert classify.parse_conditions(text, signals=SIGNALS) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("", "至少"),
    ("colour red", "未知条件"),
    ("signal asked_everything", "未知信号"),
    ("source tv", "来源类型"),
    ("visits", "visits >= 3"),
    ("visits >= 0", "次数"),
    ("page", "后面"),
    ("page /a b c", "空格"),
    ("faq " + "x" * 101, "不超过"),
    ("\n".join(["visits >= 1"] * 11), "不超过"),
])
def test_parse_conditions_refuses(text: str, words: str) -> None:
    with pytest.raises(classify.RuleError) as err:
        classify.parse_conditions(text, signals=SIGNALS)
    assert words in err.value.message and err.value.field == "conditions"


@pytest.mark.parametrize(("cond", "facts", "holds"), [
    (Condition("page", "*price*", 3), Facts(page_urls=PRICE), True),
    (Condition("page", "*price*", 4), Facts(page_urls=PRICE), False),
    (Condition("course", "编程"), Facts(courses={"少儿编程": 2}), True),
    (Condition("course", "编程"), Facts(courses={"少儿编程": 0, "数学": 1}), False),
    (Condition("faq", "价格"), Facts(categories=["课程/价格"]), True),
    (Condition("faq", "价格"), Facts(categories=["校区"]), False),
    (Condition("signal", "asked_trial"), Facts(signals={"asked_trial"}), True),
    (Condition("signal", "asked_trial"), Facts(signals={"asked_price"}), False),
    (Condition("campaign", "exam"), Facts(campaigns={"EXAM-prep-2027"}), True),
    (Condition("campaign", "exam"), Facts(campaigns={"summer"}), False),
    (Condition("source", "search"), Facts(source_kinds={"direct", "search"}), True),
    (Condition("source", "ad"), Facts(source_kinds={"search"}), False),
    (Condition("utm_source", "baidu"), Facts(utm_sources={"baidu_pc"}), True),
    (Condition("keyword", "考研"), Facts(keywords={"2027考研数学"}), True),
    (Condition("keyword", "考研"), Facts(keywords=set()), False),
    (Condition("visits", "", 3), Facts(visits=3), True),
    (Condition("visits", "", 3), Facts(visits=2), False),
    (Condition("field", "phone"), Facts(lead_fields={"phone"}), True),
    (Condition("field", "phone"), Facts(lead_fields={"wechat"}), False),
    (Condition("nonsense", "x"), Facts(), False),
])
def test_check(cond: Condition, facts: Facts, holds: bool) -> None:
    assert (classify.check(cond, facts) is not None) is holds


def test_evaluate_needs_every_condition_and_gives_reasons() -> None:
    rules = [
        RuleSpec(1, "价格敏感", (Condition("page", "*price*", 3),), 15, "价格敏感"),
        RuleSpec(2, "高意向", (Condition("signal", "asked_trial"), Condition("visits", "", 2)), 10, ""),
        RuleSpec(3, "价格敏感", (Condition("faq", "价格"),)),  # a second rule for a tag: the first one wins
        RuleSpec(4, "空", ()),  # a rule without conditions never holds
    ]
    got = classify.evaluate(rules, Facts(page_urls=PRICE, signals={"asked_trial"}, visits=1, categories=["价格"]))
    assert set(got) == {"价格敏感"}
    assert got["价格敏感"][0].id == 1 and "3 次" in got["价格敏感"][1]
    got = classify.evaluate(rules, Facts(signals={"asked_trial"}, visits=2))
    assert set(got) == {"高意向"} and got["高意向"][1] == "信号 asked_trial；来访 2 次"


def test_conditions_round_trip_as_text() -> None:
    text = "page *price* >= 3\nvisits >= 2\nsignal asked_trial\ncampaign exam-prep"
    parsed = classify.parse_conditions(text, signals=SIGNALS)
    assert classify.conditions_text([c.as_dict() for c in parsed]) == text


def _rule(*conditions: Condition) -> RuleSpec:
    return RuleSpec(1, "t", conditions)


@pytest.mark.parametrize(("rules", "changed", "expected"), [
    # The default rules (page, signal asked_trial, campaign) and a new FAQ category: nothing reads categories.
    ([_rule(Condition("page", "*price*", 3)), _rule(Condition("signal", "asked_trial")),
      _rule(Condition("campaign", "exam"))], {"faq": {"学费"}}, False),
    ([_rule(Condition("signal", "asked_trial"))], {"signal": {"asked_price"}}, False),
    ([_rule(Condition("signal", "asked_trial"))], {"signal": {"asked_price", "asked_trial"}}, True),
    ([_rule(Condition("signal", "asked_trial"))], {"signal": set()}, True),  # "some signal": any may matter
    ([_rule(Condition("faq", "价格"))], {"faq": {"课程价格"}}, True),  # contains, as ``check`` matches
    ([_rule(Condition("faq", "价格"))], {"faq": {"上课时间"}}, False),
    ([_rule(Condition("page", "*price*"))], {k: set() for k in classify.TRAIL_KINDS}, True),
    ([_rule(Condition("faq", "价格"))], {k: set() for k in classify.TRAIL_KINDS}, False),
    # Lead fields and the visit count change with no call naming them: a rule reading them always runs again.
    ([_rule(Condition("faq", "价格"), Condition("field", "grade"))], {"faq": {"上课时间"}}, True),
    ([_rule(Condition("visits", "", 3))], {"signal": {"asked_price"}}, True),
    ([], {"faq": {"价格"}}, False),
])
def test_could_change(rules: list[RuleSpec], changed: dict[str, set[str]], expected: bool) -> None:
    assert classify.could_change(rules, changed) is expected


def test_a_change_no_condition_matches_leaves_every_answer_as_it_was() -> None:
    """``could_change``'s promise checked against ``evaluate`` itself: a new signal no rule names, added to facts
    for which rules hold and do not, changes no answer nor reason."""
    rules = [RuleSpec(1, "a", (Condition("signal", "asked_trial"), Condition("faq", "价格"))),
             RuleSpec(2, "b", (Condition("faq", "时间"),)), RuleSpec(3, "c", (Condition("signal", "enrol_intent"),))]
    for facts in (Facts(signals={"asked_trial"}, categories=["价格"]), Facts(categories=["上课时间"]), Facts()):
        for changed in ({"signal": {"asked_price"}}, {"faq": {"试听"}}):
            assert not classify.could_change(rules, changed)
            grown = Facts(signals={*facts.signals, *changed.get("signal", ())},
                          categories=[*facts.categories, *changed.get("faq", ())])
            assert classify.evaluate(rules, grown) == classify.evaluate(rules, facts)
