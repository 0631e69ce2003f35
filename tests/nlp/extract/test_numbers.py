"""Ages: Chinese and Arabic numerals, half years, and the ranges and limits that are not someone's age."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract
from edudesk.nlp.extract.numbers import to_int


@pytest.mark.parametrize(("text", "age"), [
    ("孩子5岁", 5), ("五岁半", 5), ("今年7周岁", 7), ("3岁半能学吗", 3), ("十二岁", 12), ("两岁半", 2),
    ("我30岁了还能学钢琴吗", 30), ("孩子九周岁", 9),
])
def test_age(text: str, age: int) -> None:
    assert extract(text).age == age


@pytest.mark.parametrize("text", [
    "5年级", "3-6岁可以学吗", "5岁以上", "适合6到12岁的孩子吗", "几岁能学", "招生对象是3~8岁吗"])
def test_not_an_age(text: str) -> None:
    assert extract(text).age is None


def test_to_int() -> None:
    assert to_int("十二") == 12
    assert to_int("两") == 2
    assert to_int("7") == 7
    assert to_int("岁") is None
