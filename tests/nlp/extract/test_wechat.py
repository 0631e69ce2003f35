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


@pytest.mark.parametrize(("text", "expected"), [
    # Slang cues that dodge keyword filters.
    ("一建，加我绿泡泡 jzs_zhang88", "jzs_zhang88"),
    ("薇信 chenxi_0808 麻烦发我资料", "chenxi_0808"),
    ("威信号 Sunny-Wu1990", "Sunny-Wu1990"),
    ("微❤ hz_mama_66 加一下", "hz_mama_66"),
    ("微❤️ yy_2020", "yy_2020"),
    ("V：a13858000111", "a13858000111"),
    ("➕v tiger_88", "tiger_88"),
    ("绿泡泡 13606661234", "13606661234"),
    # No cue: an ID that ends the message after a hand-over phrase, or is the whole message.
    ("好的，我的是 wxid_abc123", "wxid_abc123"),
    ("张老师你加一下 lily_0521", "lily_0521"),
    ("嗯嗯 我的号 tony_lee2020", "tony_lee2020"),
    ("可以，你加 xiaomi_fan99 吧", "xiaomi_fan99"),
    ("我的是 Grace_Zhou😊", "Grace_Zhou"),
    ("lily_0521", "lily_0521"),
])
def test_wechat_round_two(text: str, expected: str) -> None:
    assert extract(text).wechat == expected


@pytest.mark.parametrize("text", [
    # Codes, order numbers, products, e-mails, URLs, other platforms, plain English words.
    "课程代码 JZ2024A", "我的订单号 JD202311110001", "优惠码 SPRING2024", "密码是 abc12345", "wifi 是 ChinaNet-5G",
    "我的是 iPhone15", "我的是 iphone_15", "我用的是 mate60pro", "我的是 TB20231108888", "你加一下 HELLO_WORLD",
    "我的邮箱 abc_123@qq.com", "我的是 abc@gmail.com", "网址 www.abc_123.com", "http://a.b/lily_0521",
    "我的账号 student2024", "小红书号是 xhs_12345", "车牌 浙A88B66", "好的 hhhhhhh", "我的是 hello", "学号是 s20231234",
    "课程 CPA2024-Audit 什么时候更新", "文件名 report_2024.pdf",
    # An ID in the middle of a message, with no cue, is not taken.
    "我买的 KJ-CJ-01 那套网课", "kathy0713 是我同事",
])
def test_not_wechat_round_two(text: str) -> None:
    assert extract(text).wechat is None


def test_the_wx_of_a_wxid_is_no_cue() -> None:
    assert extract("微信 wxid_k2j3h4").wechat == "wxid_k2j3h4"
    assert extract("wxid_k2j3h4").wechat == "wxid_k2j3h4"
