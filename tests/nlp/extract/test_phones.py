"""Phone numbers: every way visitors write them, and the long digit strings that are not phones."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract
from edudesk.nlp.extract.phones import find_phones


@pytest.mark.parametrize(("text", "expected"), [
    ("我电话138 0013 8000", "13800138000"),
    ("+86 138-0013-8000 谢谢", "13800138000"),
    ("0086 13800138000", "13800138000"),
    ("86-18600001111", "18600001111"),
    ("我号码１３９１２３４５６７８", "13912345678"),
    ("手机号是一三八零零一三八零零零", "13800138000"),
    ("138.0013.8000", "13800138000"),
    ("座机0571-88881234", "0571-88881234"),
    ("(0571)8888 1234", "0571-88881234"),
    ("（0571）88881234", "0571-88881234"),
    ("010-12345678", "010-12345678"),
])
def test_phone_forms(text: str, expected: str) -> None:
    assert extract(text).phone == expected


@pytest.mark.parametrize("text", [
    "学费3600元", "一期¥4,800", "订单号 2023112512345678", "订单号13800001234", "QQ 12345678901", "QQ：13911112222",
    "扣扣 987654321", "2026-11-25 试听", "20261125", "验证码 135790", "身份证110101201001011234",
    "银行卡6222021234567890123", "流水号 202311250001234", "12345678901", "23800138000",
])
def test_not_phones(text: str) -> None:
    assert extract(text).phone is None


def test_e164_and_evidence() -> None:
    result = extract("电话：+86 138 0013 8000")
    assert result.phone_e164 == "+8613800138000"
    span = result.span("phone")
    assert span is not None and "138 0013 8000" in "电话：+86 138 0013 8000"[span.start:span.end]


def test_several_phones_in_order() -> None:
    assert [p.value for p in find_phones("13800138000 或 13900139000")] == ["13800138000", "13900139000"]
    assert extract("13800138000 或 13900139000").phones == ("13800138000", "13900139000")
