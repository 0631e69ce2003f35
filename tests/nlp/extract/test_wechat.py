"""WeChat IDs after cue words; a mobile given as the WeChat ID is the WeChat value too."""

from __future__ import annotations

import pytest

from edudesk.nlp.extract import extract


@pytest.mark.parametrize(("text", "expected"), [
    ("我微信：liming_2015", "liming_2015"),
    ("加我vx：happy_mom_2020", "happy_mom_2020"),
    ("V信 zhangwei1988", "zhangwei1988"),
    ("微信号是Amy-Chen-01哈", "Amy-Chen-01"),
    ("wx: ling_ling0916，备注课程", "ling_ling0916"),
    ("vx 13800138000", "13800138000"),
    ("微信就是手机号 138 0013 8000", "13800138000"),
    ("电话15988887777，微信同号", "15988887777"),
])
def test_wechat(text: str, expected: str) -> None:
    assert extract(text).wechat == expected


@pytest.mark.parametrize("text", [
    "加我微信吧", "我手机13800138000", "微信 abc12", "V信 Zhang1234567890123456789", "python课", "微信 123abcdef",
])
def test_not_wechat(text: str) -> None:
    assert extract(text).wechat is None


def test_phone_as_wechat_is_also_the_phone() -> None:
    result = extract("vx 13800138000")
    assert result.phone == result.wechat == "13800138000"
