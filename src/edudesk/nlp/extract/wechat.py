"""WeChat IDs: after a cue word, or at the very end of a message that hands one over; never a bare code.

WeChat's own rule for an ID (微信号): 6–20 characters, starts with a letter, then letters, digits, ``_`` or ``-``.
Cues are the ways parents write "WeChat", the platform's spelling and the slang that dodges keyword filters:
微信/微信号/威信/薇信/维信/徽信/v信/vx/wx/weixin/wechat/绿泡泡/微❤/薇❤/V❤/加v/+v/➕v, a lone ``V:``, and 加我
(which in a chat with a school almost always means "add me on WeChat"). Up to a few filler characters (``：``,
``是``, ``号``, ``就是手机号``) may stand between the cue and the ID.

Without a cue (``好的，我的是 wxid_abc123``, ``张老师你加一下 lily_0521``) precision comes first, because a bare
``abc123`` is as likely a course code, an order number or a brand: the token must end the message (trailing
punctuation, emoji or a particle allowed), follow a hand-over phrase (我的是 / 我的号 / 你加一下 / 加 / 搜…) or be
the whole message, contain a digit or ``_``/``-``, not look like a code (all capitals, ``iPhone15Pro``-style inner
capitals, a few letters then a long number), not start like a product (iphone, windows…), not touch an e-mail or
URL, and no other identifier's cue (订单号, 优惠码, 密码, 账号, wifi, 车牌…) may precede it.

Decision (docs/decisions.md): a mobile number given as the WeChat ID (``vx 13800138000``, ``微信就是手机号 138…``,
``手机微信同号``, ``加我吧 139…``) is the WeChat value too, because WeChat lets anyone add an account by its bound
mobile; the same number is also the visitor's phone. The value is the 11-digit number, as for ``phone``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WeChat", "find_wechat"]

_HEART = r"(?:❤️?|♥️?|💚|💗)"
# Latin cues stand alone: the "wx" in "wxid_abc123" is part of the ID.
_LATIN_CUE = r"(?<![A-Za-z0-9_])(?:[vV][xX]|[wW][xX]|weixin|WeiXin|wechat|WeChat)(?![A-Za-z_])"
_CUE = (rf"(?:微信号?|威信号?|薇信|维信|徽信|[vV]信|{_LATIN_CUE}|绿泡泡|"
        rf"[微薇威vV]{_HEART}|加[vV]|\+[vV]|➕[vV]|加我|wx号|vx号|(?<![A-Za-z0-9])[vV](?=\s*[:：]))")
_FILLER = r"[\s:：,，是为号码就也我的用一下搜加吧呢哈~～]{0,6}"
_ID_BODY = r"[A-Za-z][A-Za-z0-9_-]{5,19}"
_ID = re.compile(_CUE + _FILLER + rf"(?P<id>{_ID_BODY})(?![A-Za-z0-9_-])")
# Where a cue-less ID may stand: after a hand-over phrase (or nothing), then the ID, then only an ending.
_HANDOVER = r"(?:我的(?:号|是|号是)?|号是|你(?:加|搜)(?:一下|下)?|加(?:一下|下)?我?|搜(?:一下)?|存(?:一下)?)"
# Possessive runs (``*+``): a long run of punctuation not at the end must not be re-tried at every split.
_END_CHARS = r"[\s,，.。!！~～…)）\U0001F300-\U0001FAFF☀-➿\ufe0f]"
_ENDING = rf"{_END_CHARS}*+(?:(?:吧|哈|哦|呀|啊|嗷|呢|谢谢|谢啦){_END_CHARS}*+)?$"
_BARE_ID = re.compile(rf"(?:^|{_HANDOVER}\s*[:：]?\s*)(?<![A-Za-z0-9_@./:#-])(?P<id>{_ID_BODY}){_ENDING}")
# Other identifiers that look like an ID: their cue anywhere shortly before the token vetoes it.
_OTHER_ID_CUE = re.compile(
    r"订单|单号|编号|代码|码|密码|账号|帐号|账户|用户名|卡号|车牌|取件|准考证|快递|会员|型号|版本|邮箱|网址|链接|"
    r"qq|扣扣|工号|学号|优惠|券|wifi|wi-fi|网络|热点|app|软件|游戏|id号|课程|抖音|小红书|微博|快手|淘宝|支付宝|钉钉|"
    r"b站|邮件|文件", re.IGNORECASE)
_PRODUCT = re.compile(r"(?:iphone|ipad|ipod|mate|nova|redmi|galaxy|windows|win\d|macbook|xbox|ps\d|switch|"
                      r"airpods|huawei|oppo|vivo|honor|pixel|model)", re.IGNORECASE)
_CODE_LIKE = re.compile(r"^[A-Z0-9_-]+$|[a-z][A-Z]|^[A-Za-z]{1,3}\d{7,}$")
_PHONE_AS_ID = re.compile(_CUE + r"[^\d。！？!?]{0,10}?$")
_SAME_AS_PHONE = re.compile(r"微信同号|同微信|微信同手机|微信也是这个|微信就是手机号?|手机号就是微信|"
                            r"电话就是微信|vx同号|[vV]信同号|微信号?就是这个|同号微信", re.IGNORECASE)
# Words people type after a cue that are not IDs.
_NOT_IDS = frozenset({"wechat", "weixin", "number", "hello", "thanks", "thank", "please"})


@dataclass(frozen=True)
class WeChat:
    value: str
    start: int
    end: int
    cue: tuple[int, int] | None = None  # where the cue word stands, when there is one


def _bare_id(text: str) -> WeChat | None:
    """A cue-less ID at the end of the message (see the module docstring for every condition)."""
    match = _BARE_ID.search(text)
    if not match:
        return None
    value, start = match.group("id"), match.start("id")
    if not re.search(r"[\d_-]", value) or value.lower() in _NOT_IDS or _CODE_LIKE.search(value) or \
            _PRODUCT.match(value) or _OTHER_ID_CUE.search(text[max(0, start - 12):start]):
        return None
    return WeChat(value, start, match.end("id"))


def find_wechat(text: str, phones: list[tuple[str, int, int]]) -> WeChat | None:
    """The visitor's WeChat ID in ``text`` (folded), or a mobile in ``phones`` that is given as the WeChat ID.

    ``phones`` are ``(value, start, end)`` of the mobiles already found, so the number rules live in one place.
    """
    for match in _ID.finditer(text):
        value = match.group("id")
        if value.lower() in _NOT_IDS:
            continue
        return WeChat(value, match.start("id"), match.end("id"), (match.start(), match.start("id")))
    for value, start, end in phones:
        if len(value) != 11:  # landline: cannot be a WeChat login
            continue
        before = text[max(0, start - 16):start]
        cue = _PHONE_AS_ID.search(before)
        if cue or _SAME_AS_PHONE.search(text):
            return WeChat(value, start, end)
    return _bare_id(text)
