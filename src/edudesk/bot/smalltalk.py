"""Built-in small talk: greetings, thanks, goodbyes and "are you a robot?".

Visitors open with "你好" or close with "谢谢" far more often than they ask anything; answering those from the
knowledge base would either miss (and count towards a hand-over) or, worse, match some entry by accident. The
patterns below only fire when the message is *nothing but* small talk, so "你好，请问学费多少" still reaches the FAQ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edudesk.bot.text import normalise


@dataclass(frozen=True)
class SmallTalk:
    intent: str
    reply: str
    # Other words for the same reply, for a visitor who says "好的" twice in a row (``bot.manners``).
    alternates: tuple[str, ...] = ()


# Filler a visitor wraps around small talk ("老师你好呀", "好的谢谢啦"); stripped before the whole-message test.
_FILLER = r"(?:老师|小姐姐|客服|同学|亲|您|你们|呀|啊|哈|哦|噢|喔|嗯|呢|啦|了|的|好的|好|嘿|哈喽|哈罗|~|～|\s)*"

_PATTERNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("greeting", r"(?:你好|您好|hi|hello|hey|嗨|早上好|上午好|中午好|下午好|晚上好|早|在吗|在不在|在么)+",
     "您好！很高兴为您服务～课程、价格、上课时间和试听安排都可以直接问我。",
     ("在的～想了解什么，直接问我就好。",)),
    ("thanks", r"(?:谢谢|感谢|多谢|谢了|thanks|thank you|thx|辛苦了|麻烦了)+(?:你|您|啦)?",
     "不客气！还有其他问题随时问我～", ("不用客气～",)),
    ("goodbye", r"(?:再见|拜拜|bye|byebye|回头聊|下次再聊|先这样|没有了|没了|没问题了)+",
     "感谢您的咨询，祝您和孩子学习进步！有需要随时再来找我～", ("好的，再见～",)),
    ("robot", r"(?:你|您)?(?:是|是不是)(?:机器人|ai|人工智能|真人|真的人)(?:吗|么|嘛|吧)?|(?:你|您)是谁",
     "我是机构的智能助手，7×24 小时在线。需要老师时回复“转人工”即可。",
     ("是的，我是智能助手～想和老师聊的话，回复“转人工”就可以。",)),
    ("ok", r"(?:ok|okay|好的|好吧|知道了|明白了|收到|嗯嗯|哦哦|好滴|行)+",
     "好的～还有其他想了解的，随时问我。", ("嗯嗯，我在的～",)),
)
# Every built-in reply with its alternates.
REPLIES = tuple(SmallTalk(intent, reply, alternates) for intent, _, reply, alternates in _PATTERNS)

_COMPILED = tuple(
    (intent, re.compile(rf"{_FILLER}(?:{pattern}){_FILLER}", re.IGNORECASE), reply, alternates)
    for intent, pattern, reply, alternates in _PATTERNS
)
# Longer messages are questions with a greeting in front, not small talk.
_MAX_LEN = 16


def recognise(text: str) -> SmallTalk | None:
    norm = normalise(text)
    if not norm or len(norm) > _MAX_LEN:
        return None
    compact = re.sub(r"[\s,.!?;:，。！？；：、…]+", "", norm)
    for intent, pattern, reply, alternates in _COMPILED:
        if pattern.fullmatch(compact):
            return SmallTalk(intent, reply, alternates)
    return None
