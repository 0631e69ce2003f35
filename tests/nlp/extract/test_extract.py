"""``extract()`` as a whole: the dataclass, the evidence offsets, empty input."""

from __future__ import annotations

import dataclasses

import pytest

from edudesk.nlp.extract import FIELDS, Extraction, extract

MESSAGE = "王妈妈您好，孩子叫刘一一，今年五岁半，在杭州西湖区，想学画画和钢琴，电话１３８ ００１３ ８０００，微信同号"


def test_every_field() -> None:
    result = extract(MESSAGE)
    assert result.as_fields() == {
        "phone": "13800138000", "wechat": "13800138000", "name": "王妈妈", "child_name": "刘一一", "age": 5,
        "subject": "美术", "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": "杭州西湖区"}
    assert result.subjects == ("美术", "钢琴")


def test_spans_point_into_the_original_text() -> None:
    result = extract(MESSAGE)
    assert MESSAGE[result.span("name").start:result.span("name").end] == "王妈妈"  # type: ignore[union-attr]
    phone = result.span("phone")
    assert phone is not None and MESSAGE[phone.start:phone.end] == "１３８ ００１３ ８０００"
    assert {s.field for s in result.spans} >= {"phone", "wechat", "name", "child_name", "age", "subject", "city"}


def test_frozen_and_empty() -> None:
    result = extract("")
    assert result == Extraction() and result.as_fields() == {}
    assert extract("   ").as_fields() == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.phone = "1"  # type: ignore[misc]
    assert set(FIELDS) <= {f.name for f in dataclasses.fields(Extraction)}


def test_traditional_characters() -> None:
    result = extract("孩子三年級，想學數學，電話13800138000")
    assert (result.grade, result.subject, result.phone) == ("三年级", "数学", "13800138000")
