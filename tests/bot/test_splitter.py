"""Splitting a message into its questions (``bot.splitter``): a table of how parents type, with and without
punctuation, plus what must never be cut (phone numbers, WeChat IDs, quantities) and hostile input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edudesk.bot.splitter import MAX_CHARS, MAX_SPLIT, Part, split

# message → its parts; "~" after a part marks a soft (run-on) cut, "·" a part that does not ask anything.
TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    # punctuation, full- and half-width, and spaces
    ("校区在哪里，停车方便吗", ("校区在哪里", "停车方便吗")),
    ("校区在哪里,停车方便吗?", ("校区在哪里", "停车方便吗")),
    ("学费多少？？？停车方便吗！！！", ("学费多少", "停车方便吗")),
    ("学费多少；可以分期吗", ("学费多少", "可以分期吗")),
    ("学费多少.停车呢", ("学费多少", "停车呢")),
    ("老师怎么样 班级多少人 可以开发票吗", ("老师怎么样", "班级多少人", "可以开发票吗")),
    ("学费多少\n停车方便吗", ("学费多少", "停车方便吗")),
    ("学费多少、能分期吗", ("学费多少", "能分期吗")),
    # conjunctions and "by the way"
    ("学费多少钱还有能试听吗", ("学费多少钱", "还有能试听吗")),
    ("什么时候上课另外可以退费吗", ("什么时候上课", "可以退费吗")),
    ("学费多少。另外，可以退费吗", ("学费多少", "可以退费吗")),
    ("老师怎么样？顺便问下能开发票吗", ("老师怎么样", "能开发票吗")),
    ("老师怎么样顺便问一下能开发票吗", ("老师怎么样", "能开发票吗")),
    ("学费多少以及怎么报名", ("学费多少", "怎么报名")),
    ("校区在哪里对了有停车位吗", ("校区在哪里", "有停车位吗")),
    # run-on sentences: a second question clause without punctuation
    ("校区在哪里停车方便吗", ("校区在哪里", "停车方便吗~")),
    ("学费多少能分期吗", ("学费多少", "能分期吗~")),
    ("一个班多少人可以试听吗", ("一个班多少人", "可以试听吗~")),
    ("校区在哪停车方便不", ("校区在哪", "停车方便不~")),
    ("有没有优惠呢学费多少", ("有没有优惠呢", "学费多少")),  # after a particle: a firm cut
    ("你们有试听吗可以免费吗", ("你们有试听吗", "可以免费吗")),
    # one question, even with a comma or a question word inside: not cut
    ("我家孩子三年级，数学跟不上，有没有适合的班", ("我家孩子三年级，数学跟不上，有没有适合的班",)),
    ("你好，请问学费多少", ("你好，请问学费多少",)),
    ("数学、英语有课吗", ("数学、英语有课吗",)),
    ("暑假班还有名额吗", ("暑假班还有名额吗",)),
    ("在哪里报名", ("在哪里报名",)),
    ("你们是小班吗还是大班", ("你们是小班吗还是大班",)),
    ("怎么报名", ("怎么报名",)),
    ("一年级、二年级多少钱", ("一年级、二年级多少钱",)),
    ("KET 考试班有吗", ("KET 考试班有吗",)),
    ("多少钱一节课", ("多少钱一节课",)),
    # statements after the questions stay parts, marked as not asking
    ("学费多少？谢谢", ("学费多少", "谢谢·")),
    ("您好，请问一下，校区在哪里，停车方便吗？谢谢", ("您好，请问一下，校区在哪里", "停车方便吗", "谢谢·")),
    # questions written as a numbered list
    ("1.学费多少 2.停车方便吗", ("学费多少", "停车方便吗")),
    ("1、学费多少\n2、停车方便吗", ("学费多少", "停车方便吗")),
    ("①学费多少②停车方便吗", ("学费多少", "停车方便吗")),
    ("一、学费多少 二、停车方便吗", ("学费多少", "停车方便吗")),
    ("问题1：学费多少？问题2：停车方便吗？", ("学费多少", "停车方便吗")),
    ("学费多少 3岁能学吗", ("学费多少", "3岁能学吗")),
    # never inside a phone number, a WeChat ID, a quantity or a link
    ("我电话 138 0013 8000，学费多少", ("我电话 138 0013 8000，学费多少",)),
    ("电话138-0013-8000 学费多少？停车呢", ("电话138-0013-8000 学费多少", "停车呢")),
    ("我微信 wx_abc-123 加一下，学费多少？停车呢", ("我微信 wx_abc-123 加一下，学费多少", "停车呢")),
    ("学费3,600元能便宜点吗", ("学费3,600元能便宜点吗",)),
    ("1.5小时的课多少钱，能试听吗", ("1.5小时的课多少钱", "能试听吗")),
    ("学费多少 https://example.edu/a.b?x=1 这个链接能打开吗",
     ("学费多少", "https://example.edu/a.b?x=1 这个链接能打开吗")),
    # emoji, WeChat's text emoticons, a family emoji with joiners
    ("学费多少😊停车方便吗", ("学费多少", "停车方便吗")),
    ("学费多少[微笑]停车方便吗[呲牙]", ("学费多少", "停车方便吗")),
    ("学费多少👨\u200d👩\u200d👧停车方便吗", ("学费多少", "停车方便吗")),
    ("😊学费多少😊", ("学费多少",)),
    # nothing to ask
    ("", ()),
    ("   ", ()),
    ("？？？", ()),
    ("🙂🙂🙂", ()),
)


def _shown(part: Part) -> str:
    return part.text + ("~" if part.soft else "") + ("" if part.question else "·")


@pytest.mark.parametrize(("message", "expected"), TABLE, ids=[m or "empty" for m, _ in TABLE])
def test_split(message: str, expected: tuple[str, ...]) -> None:
    assert tuple(_shown(p) for p in split(message)) == expected


def test_the_question_without_its_context_is_the_core() -> None:
    first, second = split("我微信 wx_abc-123 加一下，学费多少？停车呢")
    assert first.core == first.asked == "学费多少"
    assert second.core == "" and second.asked == "停车呢"
    assert split("校区在哪里")[0].core == ""


def test_a_long_message_is_not_split() -> None:
    essay = "学费多少？" * (MAX_CHARS // 5 + 1)
    assert len(essay) > MAX_CHARS
    (only,) = split(essay)
    assert only.text == essay.rstrip("？") and only.question


def test_at_most_max_split_parts() -> None:
    many = "学费多少？停车方便吗？老师怎么样？班级多少人？能开发票吗？有网课吗？暑假班呢？退费呢？可以补课吗？"
    parts = split(many)
    assert len(parts) == MAX_SPLIT
    assert [p.text for p in parts[:2]] == ["学费多少", "停车方便吗"]


@pytest.mark.parametrize("message", [
    "吗" * MAX_CHARS, "怎么样" * (MAX_CHARS // 3), "，" * 10_000, "还有" * (MAX_CHARS // 2), "😊" * 5000,
    "<script>alert(1)</script>学费多少？停车呢", "'; DROP TABLE kb_entries; -- 学费多少？停车呢",
    "\x00\x1f学费多少\u202e？停车呢\ufeff",
])
def test_hostile_and_huge_input(message: str) -> None:
    parts = split(message)
    assert len(parts) <= MAX_SPLIT
    assert all(p.text and p.text == p.text.strip() for p in parts)


def test_markup_is_kept_as_text() -> None:
    # Escaping is the renderer's business (the widget sets text nodes); the splitter neither drops nor rewrites it.
    assert split("<script>alert(1)</script>学费多少？停车呢")[0].text == "<script>alert(1)</script>学费多少"


_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_ALPHABET = st.sampled_from([*"学费多少校区在哪里停车方便吗呢么怎样还有另外以及老师孩子三年级的", *"1380 ，。？！、😊",
                             "[微笑]"])


@settings(max_examples=300)
@given(st.lists(_ALPHABET, max_size=80).map("".join))
def test_parts_are_the_messages_own_words_in_order(message: str) -> None:
    parts = split(message)
    assert len(parts) <= MAX_SPLIT
    said = "".join(_CONTENT.findall(message))
    kept = "".join(_CONTENT.findall("".join(p.text for p in parts)))
    position = 0
    for char in kept:  # nothing invented, nothing reordered: the parts' words are a subsequence of the message's
        position = said.index(char, position) + 1
    assert all(p.text for p in parts)


@settings(max_examples=200)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from([" ", "-", ""]),
       st.sampled_from(["我的电话{}，学费多少？停车呢", "学费多少 {} 停车方便吗", "电话{}还有能试听吗"]))
def test_a_phone_number_is_never_cut(phone: str, gap: str, template: str) -> None:
    written = f"{phone[:3]}{gap}{phone[3:7]}{gap}{phone[7:]}"
    assert any(written in p.text for p in split(template.format(written)))
