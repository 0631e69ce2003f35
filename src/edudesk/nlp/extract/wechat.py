"""WeChat IDs: taken only after a cue word, because a bare ``abc123`` is as likely a course code or a brand.

WeChat's own rule for an ID (微信号): 6–20 characters, starts with a letter, then letters, digits, ``_`` or ``-``.
Cues are the ways parents write "WeChat": 微信/微信号/威信/薇信/v信/vx/wx/weixin/wechat/加v/+v, and 加我 (which in a
chat with a school almost always means "add me on WeChat"). Up to a few filler characters (``：``, ``是``, ``号``,
``就是手机号``) may stand between the cue and the ID.

Decision (docs/decisions.md): a mobile number given as the WeChat ID (``vx 13800138000``, ``微信就是手机号 138…``,
``手机微信同号``) is the WeChat value too, because WeChat lets anyone add an account by its bound mobile; the same
number is also the visitor's phone. The value is the 11-digit number, as for ``phone``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WeChat", "find_wechat"]

_CUE = (r"(?:微信号?|威信|薇信|维信|[vV]信|[vV][xX]|[wW][xX]|weixin|WeiXin|wechat|WeChat|加[vV]|\+[vV]|"
        r"加我|wx号|vx号)")
_FILLER = r"[\s:：,，是为号码就也我的用一下搜加吧呢哈~～]{0,6}"
_ID = re.compile(_CUE + _FILLER + r"(?P<id>[A-Za-z][A-Za-z0-9_-]{5,19})(?![A-Za-z0-9_-])")
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


def find_wechat(text: str, phones: list[tuple[str, int, int]]) -> WeChat | None:
    """The visitor's WeChat ID in ``text`` (folded), or a mobile in ``phones`` that is given as the WeChat ID.

    ``phones`` are ``(value, start, end)`` of the mobiles already found, so the number rules live in one place.
    """
    for match in _ID.finditer(text):
        value = match.group("id")
        if value.lower() in _NOT_IDS:
            continue
        return WeChat(value, match.start("id"), match.end("id"))
    for value, start, end in phones:
        if len(value) != 11:  # landline: cannot be a WeChat login
            continue
        if _PHONE_AS_ID.search(text[max(0, start - 16):start]) or _SAME_AS_PHONE.search(text):
            return WeChat(value, start, end)
    return None
