"""Grades normalised to timetable labels, and the 小班/大班/高一点/初一 traps."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract


@pytest.mark.parametrize(("text", "grade"), [
    ("3年级", "三年级"), ("三年级", "三年级"), ("孩子上初二", "初二"), ("小学四年级", "四年级"), ("准备上高一", "高一"),
    ("八年级数学", "初二"), ("九年级", "初三"), ("高中二年级", "高二"), ("初中一年级", "初一"), ("初2", "初二"),
    ("宝宝在幼儿园中班", "中班"), ("孩子大班了", "大班"), ("小班的孩子", "小班"),
])
def test_grade(text: str, grade: str) -> None:
    assert extract(text).grade == grade


@pytest.mark.parametrize("text", [
    "小班教学吗", "大班课多少钱", "价格能高一点吗", "大年初一上课吗", "孩子上初中了", "5岁"])
def test_not_a_grade(text: str) -> None:
    assert extract(text).grade is None
