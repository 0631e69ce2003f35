"""What a callee's answer means on the phone: a small intent lexicon, the keypad, and a time for a callback.

Pure (no database, no audio). The chat's matcher and extractors still read every answer (the robot sends it
through the same inbound turn); this lexicon only covers what a phone answer means for the *call* — 别再打了 ends
it and puts the number on the do-not-call list, 在忙 asks for a better time, 转人工 transfers. The order of
``INTENTS`` is the precedence: "别再打了，没兴趣" is a do-not-call, not a mere refusal.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import cn2an

from edudesk.bot.flows.answers import looks_like_question

__all__ = ["callback_time", "classify", "looks_like_question"]
from edudesk.nlp.normalise import normalise

DO_NOT_CALL = "do_not_call"
WRONG_NUMBER = "wrong_number"
ENROLLED = "already_enrolled"
HUMAN = "human"
BUSY = "busy"
REFUSED = "refused"
INTERESTED = "interested"
REPEAT = "repeat"

# (intent, pattern), in precedence order.
INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        DO_NOT_CALL,
        re.compile(r"(别|不要|不许|甭|莫)再?(给我)?打(了|电话|过来)|再打.{0,6}投诉|拉黑|骚扰电话|以后别打|不要再联系"),
    ),
    (WRONG_NUMBER, re.compile(r"打错|不是(我|本人)|(我|家里)?没有(孩子|小孩)|你找错|没这个人|不认识")),
    (ENROLLED, re.compile(r"已经(报|上|在上|交钱|报名|报过|报了)|报过了|在别[家处]|在其他(机构|地方)(上|报)")),
    (HUMAN, re.compile(r"转人工|人工(服务|客服)?$|找(个)?(真人|人工|老师)|真人(接|说)|接人工")),
    (BUSY, re.compile(r"在忙|正忙|开会|开车|上班|没空|不方便|晚点|回头(再)?(说|打)|等会|一会(儿)?再|改天|换个时间")),
    (REFUSED, re.compile(r"没(有)?(兴趣|需要|打算)|不(需要|用了|感兴趣|考虑|想|要了)|暂时不|算了")),
    (
        INTERESTED,
        re.compile(r"有(兴趣|需要|打算)|感兴趣|想(了解|报|试|听)|可以(试|了解|听)|好(的|啊|呀)|行(啊|的)?$|^可以|^要"),
    ),
    (REPEAT, re.compile(r"(没|听不)(听)?清|再说一(遍|次)|说什么|什么意思|^喂+$")),
)

# The keypad during a robot call (said in docs/voice.md): 1 interested, 2 not now, 0 a person, * repeat.
DTMF_INTENTS = {"1": INTERESTED, "2": REFUSED, "0": HUMAN, "*": REPEAT}
# What the keypad's choice says in the conversation (and to the flow, as a button's payload would).
INTENT_WORDS = {INTERESTED: "有兴趣", REFUSED: "没兴趣", HUMAN: "转人工", REPEAT: "请再说一遍"}
# The intents that end the dialogue at once (the robot's own closing line, no flow turn).
TERMINAL = frozenset({DO_NOT_CALL, WRONG_NUMBER, ENROLLED, REFUSED})


def classify(text: str) -> str | None:
    """The call intent of one answer, or None when it is an ordinary answer (a grade, a question…). A question
    is never a refusal or a yes: "不需要交定金吧？" asks something."""
    norm = normalise(text)
    if not norm:
        return None
    question = looks_like_question(text)
    for intent, pattern in INTENTS:
        if question and intent in (REFUSED, INTERESTED, BUSY, REPEAT):
            continue
        if pattern.search(norm):
            return intent
    return None


# ---- a time for the callback -----------------------------------------------------------------------------------

_DAYS = {"今天": 0, "今儿": 0, "明天": 1, "明儿": 1, "后天": 2, "大后天": 3}
_WEEKDAYS = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "末": 5,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_PERIODS = (
    ("凌晨", 3),
    ("早上", 9),
    ("早晨", 9),
    ("上午", 10),
    ("中午", 12),
    ("下午", 15),
    ("傍晚", 18),
    ("晚上", 19),
    ("今晚", 19),
    ("明晚", 19),
)
_DAY = re.compile(r"大后天|后天|明天|明儿|今天|今儿|(下下|下个?|这个?|本)?(周|星期|礼拜)([一二三四五六日天末1-7])")
_CLOCK = re.compile(r"(\d{1,2})(?:[点:：时])(?:(\d{1,2})分?|(半)|(一刻))?")
_RELATIVE = re.compile(r"(\d+|半)\s*(个)?\s*(小时|钟头|分钟)(以)?后|过(\d+|半)\s*(个)?\s*(小时|钟头|分钟)")
TZ = ZoneInfo("Asia/Shanghai")


def callback_time(text: str, now: dt.datetime, tz: ZoneInfo = TZ) -> dt.datetime | None:
    """The moment a callee names for a callback ("明天下午三点", "周六上午", "晚上七点半", "一个小时后"), as an
    aware UTC datetime in the future, or None when the words name no time. A day without a time of day means
    10:00; a time of day without a day means today when still ahead, else tomorrow."""
    try:
        digits = cn2an.transform(normalise(text).replace("两", "二"), "cn2an")
    except (ValueError, KeyError):
        digits = normalise(text)
    local_now = now.astimezone(tz)
    rel = _RELATIVE.search(digits)
    if rel:
        amount_raw = rel.group(1) or rel.group(5)
        unit = rel.group(3) or rel.group(7)
        amount = 0.5 if amount_raw == "半" else float(amount_raw)
        minutes = amount * (1 if unit == "分钟" else 60)
        if 0 < minutes <= 7 * 24 * 60:
            return (local_now + dt.timedelta(minutes=minutes)).astimezone(dt.UTC)
    day_offset: int | None = None
    weekday_named = False
    day = _DAY.search(digits)
    if day:
        if day.group(0) in _DAYS:
            day_offset = _DAYS[day.group(0)]
        else:
            weekday = _WEEKDAYS[day.group(3)]
            weekday_named = True
            prefix = day.group(1) or ""
            if prefix.startswith("下"):  # 下周三: the Wednesday of next week; 下下周三 a week later
                day_offset = 7 - local_now.weekday() + weekday + (7 if prefix.startswith("下下") else 0)
            else:
                day_offset = (weekday - local_now.weekday()) % 7
    period_hour: int | None = None
    period_name = ""
    for name, default_hour in _PERIODS:
        if name in digits:
            period_hour, period_name = default_hour, name
            if name == "明晚":
                day_offset = 1 if day_offset is None else day_offset
            break
    clock = _CLOCK.search(digits)
    hour: int | None = None
    minute: int | None = None
    if clock:
        hour = int(clock.group(1))
        minute = int(clock.group(2)) if clock.group(2) else (30 if clock.group(3) else (15 if clock.group(4) else 0))
        if (period_name in ("下午", "傍晚", "晚上", "今晚", "明晚") and hour < 12) or (
            period_name == "中午" and hour < 6
        ):
            hour += 12
        elif not period_name and 1 <= hour <= 7:
            hour += 12  # "三点" on a call means the afternoon
        if hour > 23 or minute > 59:
            return None
    elif period_hour is not None:
        hour, minute = period_hour, 0
    if day_offset is None and hour is None:
        return None
    if hour is None:
        hour, minute = 10, 0
    assert minute is not None
    base = local_now.date() + dt.timedelta(days=day_offset or 0)
    at = dt.datetime.combine(base, dt.time(hour, minute), tz)
    if at <= local_now:
        if weekday_named:
            at += dt.timedelta(days=7)  # 周一 said on a Monday afternoon: next Monday
        elif day is None:
            at += dt.timedelta(days=1)  # 九点 said at 10:30: tomorrow
        else:
            return None  # 今天上午 said in the afternoon names no time ahead
    if at <= local_now:
        return None
    return at.astimezone(dt.UTC)
