"""Every rule kind as a table: what hits, what must not (the tricky negatives are the point)."""

from __future__ import annotations

import pytest

from edudesk.qc.turns import Transcript
from tests.qc.helpers import demo_book, run, script

A, C, B, S = "a", "c", "b", "s"


@pytest.mark.parametrize(("text", "hits"), [
    ("放心，我们保证提分！", ["保证提分"]),
    ("这个班包过，不用担心", ["包过"]),
    ("我们是全网最低价", ["全网最低"]),
    ("100%通过，考不过全额退款", ["100%通过", "考不过全额退款"]),
    ("１００％通过", ["１００％通过"]),  # full-width digits are folded
    ("保證提分", ["保證提分"]),  # traditional characters are folded
    ("无论如何都包过", ["包过"]),  # a concession, not a denial
    ("没问题，我们保证提分", ["保证提分"]),  # the denial belongs to another clause
    ("不仅保证提分，还送教材", ["保证提分"]),
    ("不能保证提分，但老师会认真跟进", []),
    ("我们不保证提分", []),
    ("这个真的没法跟您保证提分", []),
    ("我不敢说包过", []),
    ("我们不是最低价，但性价比高", []),
    ("考试不可能100%通过", []),
    ("提分要靠孩子自己努力", []),
])
def test_forbidden(text: str, hits: list[str]) -> None:
    result = run("forbidden", script((C, "能保证提分吗"), (A, text)))
    assert [h.matched for h in result.hits] == hits
    assert all(h.ref == 101 and h.turn == 1 for h in result.hits)
    assert result.score == (80 if hits else 100)


def test_forbidden_words_said_by_the_visitor_or_the_bot_are_not_the_agents() -> None:
    assert run("forbidden", script((C, "你们包过吗？保证提分吗？"), (B, "保证提分"), (A, "您好"))).hits == ()


def test_a_rule_deducts_once_however_often_it_hits() -> None:
    result = run("forbidden", script((A, "保证提分"), (A, "包过"), (A, "最低价")))
    assert len(result.hits) == 3 and result.score == 80 and result.severe


@pytest.mark.parametrize(("text", "hit"), [
    ("你有病吧", True), ("爱报不报", True), ("闭嘴", True), ("你懂不懂啊", True),
    ("页面可以往下滚动查看课表", False),  # no bare 滚
    ("不知道您方便什么时候来试听？", False),
    ("孩子一点也不笨", False),
])
def test_rude(text: str, hit: bool) -> None:
    assert bool(run("rude", script((A, text))).hits) is hit


@pytest.mark.parametrize(("lines", "hit"), [
    ([(C, "在吗"), (A, "您好，我是王老师")], False),
    ([(C, "在吗"), (A, "你好呀")], False),
    ([(C, "在吗"), (A, "在的，有什么可以帮您")], True),
    ([(C, "在吗"), (B, "您好，我是小星"), (A, "孩子几年级？")], True),  # the bot's greeting is not the agent's
    ([(C, "在吗")], False),  # nobody from staff spoke: nothing to check
])
def test_required_greeting(lines: list[tuple[str, str]], hit: bool) -> None:
    result = run("required", script(*lines), key="greeting")
    assert bool(result.hits) is hit
    if hit:
        assert result.hits[0].turn == next(i for i, line in enumerate(lines) if line[0] == A)


@pytest.mark.parametrize(("lines", "hit"), [
    ([(A, "您好"), (C, "好的"), (A, "好的，祝您生活愉快，再见")], False),
    ([(A, "您好"), (A, "还有其他问题随时联系我"), (A, "好的")], False),  # within the last two agent turns
    ([(A, "您好"), (C, "好的"), (A, "嗯")], True),
    ([(A, "再见"), (A, "嗯"), (A, "好")], True),
])
def test_required_closing(lines: list[tuple[str, str]], hit: bool) -> None:
    result = run("required", script(*lines), key="closing")
    assert bool(result.hits) is hit


@pytest.mark.parametrize(("human_start", "first_agent_at", "hit"), [
    (0, 30, False), (0, 60, False), (0, 61, True), (100, 50, False), (None, 500, False),
])
def test_first_response(human_start: float | None, first_agent_at: float, hit: bool) -> None:
    transcript = script((C, "转人工", 0), (A, "您好", first_agent_at), human_start=human_start)
    result = run("first_response", transcript, seconds=60, business_hours=False)
    assert bool(result.hits) is hit
    if hit:
        assert result.hits[0].ref == 101 and "61 秒" in result.hits[0].reason


def test_first_response_counts_business_seconds_when_asked() -> None:
    transcript = script((C, "转人工", 0), (A, "您好", 3600), human_start=0)
    closed_all_along = Transcript(transcript.turns, transcript.human_start,
                                  business_seconds=lambda start, end: 0.0)
    assert run("first_response", closed_all_along, seconds=60, business_hours=True).hits == ()
    assert run("first_response", closed_all_along, seconds=60, business_hours=False).hits


@pytest.mark.parametrize(("lines", "late_refs"), [
    ([(A, "您好", 0), (C, "价格", 10), (A, "3600", 50)], []),
    ([(A, "您好", 0), (C, "价格", 10), (C, "在吗", 100), (A, "在的", 200)], [103]),  # from the first unanswered
    ([(A, "您好", 0), (C, "价格", 10), (B, "自动回复", 20), (A, "3600", 300)], [103]),  # the bot is no agent
    ([(C, "你好", 0), (C, "在吗", 500), (A, "您好", 600)], []),  # before the first reply: first_response's job
    ([(A, "您好", 0), (C, "谢谢", 10)], []),  # the last words need no answer
    ([(A, "您好", 0), (C, "a", 10), (A, "b", 300), (C, "c", 310), (A, "d", 600)], [102, 104]),
])
def test_reply_time(lines: list[tuple[str, str, float]], late_refs: list[int]) -> None:
    result = run("reply_time", script(*lines), seconds=180, business_hours=False)
    assert [h.ref for h in result.hits] == late_refs


@pytest.mark.parametrize(("text", "hit"), [
    ("我要投诉你们", True), ("你们服务太差了", True), ("感觉被骗了，退钱！", True), ("我很不满意", True),
    ("這也太差了吧", True),
    ("我没有投诉的意思，就是问问", False), ("你们不差的", False), ("没有不满意", False),
    ("报名后可以退费吗？", False),  # asking about refunds is no complaint
    ("谢谢老师，很满意", False),
])
def test_complaint(text: str, hit: bool) -> None:
    result = run("complaint", script((A, "您好"), (C, text)))
    assert bool(result.hits) is hit
    if hit:
        assert result.complaint and result.hits[0].ref == 101


def test_complaint_words_by_the_agent_are_no_complaint() -> None:
    assert run("complaint", script((A, "如有不满意可以投诉"), (C, "好的"))).hits == ()


@pytest.mark.parametrize(("lines", "known", "hit"), [
    ([(C, "数学班多少钱"), (A, "3600 一期"), (C, "好的")], False, True),
    ([(C, "可以试听吗"), (A, "可以的，方便留个电话吗？"), (C, "下次吧")], False, False),  # asked
    ([(C, "可以试听吗"), (A, "可以的，加您微信发课表？"), (C, "好")], False, False),
    ([(C, "可以试听吗"), (A, "可以"), (C, "我手机 138 0013 8000")], False, False),  # given
    ([(C, "试听怎么约"), (A, "可以"), (C, "微信 abc_12345")], False, False),
    ([(C, "试听怎么约"), (A, "可以")], True, False),  # the number was on file already
    ([(C, "我不想报名，就问问地址"), (A, "在文三路 88 号")], False, False),  # denied intent
    ([(C, "你们地址在哪"), (A, "在文三路 88 号")], False, False),  # no intent
    ([(C, "价格多少"), (B, "3600 元一期，留下手机号")], False, False),  # no agent: not the agent's chance
    ([(C, "价格多少"), (A, "3600，不用留电话")], False, True),  # a denied ask is no ask
])
def test_missed_contact(lines: list[tuple[str, str]], known: bool, hit: bool) -> None:
    result = run("missed_contact", script(*lines, contact_known=known))
    assert bool(result.hits) is hit
    if hit:
        assert result.hits[0].turn == 0


@pytest.mark.parametrize(("lines", "quoted"), [
    # hits: an amount for a named course that the knowledge base does not give
    ([(A, "小学数学思维提高班现在只要 2999 元")], ["2999 元"]),
    ([(A, "初中数学同步培优是 ￥4,500 一期")], ["￥4,500"]),
    ([(A, "小学数学思维提高 3800元/期")], ["3800元"]),  # the name without its final 班
    ([(C, "少儿英语启蒙多少钱？"), (A, "¥2,800 一期")], ["¥2,800"]),  # the customer named the course
    ([(A, "少儿美术创意课 0.3万")], ["0.3万"]),
    # no hits
    ([(A, "小学数学思维提高班 ¥3,600/期（16 课时），初中数学同步培优 ¥4,800/期（20 课时）")], []),  # the KB's words
    ([(A, "小学数学思维提高班 3600 元，现在报名立减 300 元")], []),
    ([(A, "小学数学思维提高班优惠价 3300 元")], []),  # a discount may differ
    ([(A, "小学数学思维提高班可以分 3 次付，每次 1200 元")], []),
    ([(A, "小学数学思维提高班折合 225 元/课时")], []),  # a unit price
    ([(A, "小学数学思维提高班一期 16 课时，每节课 225 元")], []),
    ([(A, "另外教材费 80 元")], []),  # below min_amount, no course
    ([(A, "一共 3000 元")], []),  # no course named anywhere
    ([(C, "数学和英语都想了解"), (A, "一共 5000 元")], []),  # the customer named no single course
    ([(A, "小学数学思维提高班 3600 一期")], []),  # not written as money
    ([(A, "全能编程班 9999 元")], []),  # a course the book has no price for
])
def test_price_mismatch(lines: list[tuple[str, str]], quoted: list[str]) -> None:
    result = run("price_mismatch", script(*lines), demo_book())
    assert [h.matched for h in result.hits] == quoted
    if quoted:
        assert "与知识库中" in result.hits[0].reason


def test_price_aliases_name_courses_by_their_short_names() -> None:
    lines = script((A, "思维班 2999 元"))
    assert run("price_mismatch", lines, demo_book()).hits == ()
    book = demo_book({"小学数学思维提高班": ["思维班"]})
    assert [h.matched for h in run("price_mismatch", lines, book).hits] == ["2999 元"]


def test_price_tolerance() -> None:
    lines = script((A, "小学数学思维提高班 3,650 元"))
    assert run("price_mismatch", lines, demo_book(), tolerance=0).hits
    assert run("price_mismatch", lines, demo_book(), tolerance=50).hits == ()


def test_price_rule_without_a_price_book_never_hits() -> None:
    assert run("price_mismatch", script((A, "小学数学思维提高班 1 元"))).hits == ()


def test_a_hostile_flood_stores_a_bounded_number_of_hits() -> None:
    result = run("forbidden", script(*[(A, "保证提分 包过 " * 50)] * 10))
    assert len(result.hits) == 20 and result.score == 80


def test_empty_and_odd_transcripts() -> None:
    assert run("forbidden", script()).hits == ()
    assert run("missed_contact", script((C, ""), (A, ""))).hits == ()
    assert run("complaint", script((C, "\ud800投诉"))).hits  # a lone surrogate does not break folding
