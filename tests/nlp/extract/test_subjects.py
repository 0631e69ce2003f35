"""Subjects through the synonym lexicon; several subjects keep their order, the first is ``subject``."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract


@pytest.mark.parametrize(("text", "subject"), [
    ("奥数班", "数学"), ("少儿英语", "英语"), ("剑桥英语KET", "英语"), ("想学画画", "美术"),
    ("scratch还是python", "编程"),
    ("Python入门", "编程"), ("中国舞", "舞蹈"), ("拼音", "语文"), ("跆拳道", "跆拳道"),
])
def test_subject(text: str, subject: str) -> None:
    assert extract(text).subject == subject


def test_several_subjects() -> None:
    result = extract("数学和英语都想了解，还有钢琴")
    assert result.subject == "数学"
    assert result.subjects == ("数学", "英语", "钢琴")


@pytest.mark.parametrize("text", ["聊天历史记录怎么删除", "地理位置在哪里", "carpet market", "你好"])
def test_not_a_subject(text: str) -> None:
    assert extract(text).subject is None
