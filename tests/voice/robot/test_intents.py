"""The robot's phone-answer lexicon, the keypad and callback times (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.voice.robot import intents
from edudesk.voice.robot.intents import TZ, callback_time, classify

# Monday 2026-12-07 10:30 in Shanghai.
NOW = dt.datetime(2026, 12, 7, 10, 30, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("别再给我打电话了，没兴趣", intents.DO_NOT_CALL),
        ("以后别打了", intents.DO_NOT_CALL),
        ("你打错了吧", intents.WRONG_NUMBER),
        ("我家没有小孩", intents.WRONG_NUMBER),
        ("孩子已经报了别的班", intents.ENROLLED),
        ("转人工", intents.HUMAN),
        ("我在开会，晚点再说", intents.BUSY),
        ("不需要，谢谢", intents.REFUSED),
        ("没兴趣", intents.REFUSED),
        ("有兴趣，想了解一下", intents.INTERESTED),
        ("可以啊", intents.INTERESTED),
        ("三年级", None),
        ("试听课多少钱？", None),
        ("不需要交定金吧？", None),
        ("", None),
        ("<script>alert(1)</script>" * 100, None),
    ],
)
def test_classify(text: str, intent: str | None) -> None:
    assert classify(text) == intent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("明天下午三点", dt.datetime(2026, 12, 8, 15, 0, tzinfo=TZ)),
        ("明天下午3点半吧", dt.datetime(2026, 12, 8, 15, 30, tzinfo=TZ)),
        ("晚上七点", dt.datetime(2026, 12, 7, 19, 0, tzinfo=TZ)),
        ("周六上午", dt.datetime(2026, 12, 12, 10, 0, tzinfo=TZ)),
        ("下周三下午两点", dt.datetime(2026, 12, 16, 14, 0, tzinfo=TZ)),
        ("星期天", dt.datetime(2026, 12, 13, 10, 0, tzinfo=TZ)),
        ("一个小时后再打", dt.datetime(2026, 12, 7, 11, 30, tzinfo=TZ)),
        ("九点", dt.datetime(2026, 12, 8, 9, 0, tzinfo=TZ)),  # 9:00 has passed today
        ("三点", dt.datetime(2026, 12, 7, 15, 0, tzinfo=TZ)),  # on a call, three is the afternoon
        ("后天中午", dt.datetime(2026, 12, 9, 12, 0, tzinfo=TZ)),
        ("周一", dt.datetime(2026, 12, 14, 10, 0, tzinfo=TZ)),  # said on a Monday after 10:00: next week
    ],
)
def test_callback_time(text: str, expected: dt.datetime) -> None:
    assert callback_time(text, NOW) == expected.astimezone(dt.UTC)


@pytest.mark.parametrize("text", ["有兴趣", "三年级", "多少钱", "", "99点", "25点", "今天上午"])
def test_no_callback_time(text: str) -> None:
    assert callback_time(text, NOW) is None
