"""Issue 4 in a real browser: hot questions when the widget opens, a click on one, "您是不是想问" for a vague
question, a click on a suggestion, and 解决了吗 👍/👎 on the answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.models import AnswerFeedback, KbMiss
from edudesk.kb.schemas import EntryInput
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_widget import Widget

KB = (
    ("一年级数学一期多少钱？", ["数学课学费多少", "数学班怎么收费", "小学数学价格"],
     "一年级数学每期 3600 元，共 16 课时。"),
    ("一年级英语一期多少钱？", ["英语课学费多少", "英语班怎么收费", "少儿英语价格"],
     "一年级英语每期 2980 元，共 24 课时。"),
    ("可以免费试听吗？", ["有试听课吗", "怎么预约试听", "能先体验一节课吗"],
     "每位新学员都可以免费试听一次，约 60 分钟。"),
    ("报名后可以退费吗？", ["能退钱吗", "退费政策是什么", "不想上了怎么退"], "开课 2 课时内可全额退费。"),
    ("校区在哪里？", ["地址在哪", "你们的校区地址", "离地铁近吗"], "西湖区文三路 88 号 3 楼，地铁站步行 5 分钟。"),
    ("暑假班什么时候开课？", ["暑假班几号开始", "暑期班时间", "暑假有课吗"], "暑假班 7 月 6 日开课。"),
)
HOT = ("可以免费试听吗？", "校区在哪里？")


@pytest.fixture
def knowledge_base(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        for question, similar, answer in KB:
            kb_service.create_entry(session, Actor(orgs.a.id, label="test"), EntryInput(
                question=question, similar=list(similar), answer=answer, hot_pinned=question in HOT,
                hot_position=HOT.index(question) if question in HOT else 0))
        session.commit()


@pytest.fixture
def widget(browser: Browser, live_server: LiveServer, orgs: TwoOrgs, knowledge_base: None) -> Iterator[Widget]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    w = Widget(context, live_server.url)
    yield w
    context.close()
    assert not w.page_errors, f"uncaught errors in the page: {w.page_errors}"


def test_hot_question_did_you_mean_and_feedback(widget: Widget, database: Database) -> None:
    page = widget.open()
    hot = page.locator(".edk-welcome .edk-hot .edk-chip")
    expect(hot).to_have_text(list(HOT))

    hot.first.click()
    answer = page.locator(".edk-msg-bot").filter(has_text="每位新学员都可以免费试听一次")
    expect(answer).to_have_count(1)
    expect(answer.locator(".edk-vote")).to_contain_text("解决了吗？")

    widget.send("一年级多少钱")
    suggestion = page.locator(".edk-msg-bot").filter(has_text="您是不是想问").last
    expect(suggestion.locator(".edk-chip", has_text="一年级英语一期多少钱？")).to_be_visible()
    expect(suggestion.locator(".edk-chip", has_text="一年级数学一期多少钱？")).to_be_visible()
    suggestion.locator(".edk-chip", has_text="一年级数学一期多少钱？").click()
    math = page.locator(".edk-msg-bot").filter(has_text="一年级数学每期 3600 元")
    expect(math).to_have_count(1)

    math.locator(".edk-vote button", has_text="没用").click()
    expect(math.locator(".edk-vote button[aria-pressed=true]")).to_have_text("👎 没用")
    expect(page.locator(".edk-msg-bot").last).to_contain_text("抱歉没能帮到您")
    expect(page.locator(".edk-msg-bot").last.locator(".edk-chip")).to_have_text(["转人工", "留下联系方式"])

    with database.session() as session:
        votes = session.scalars(select(AnswerFeedback)).all()
        assert [v.helpful for v in votes] == [False]
        reasons = sorted(m.reason.value for m in session.scalars(select(KbMiss)))
        assert reasons == ["downvoted", "suggested"]


def test_answer_links_open_safely_and_html_stays_text(widget: Widget, database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        kb_service.create_entry(session, Actor(orgs.a.id, label="test"), EntryInput(
            question="课表在哪里看？", similar=["怎么查看课表", "课程表在哪"],
            answer="课表见 https://school.example/timetable <img src=x onerror=alert(1)>"))
        session.commit()
    page = widget.open()
    widget.send("课程表在哪")
    reply = page.locator(".edk-msg-bot").filter(has_text="课表见").last
    link = reply.locator("a")
    expect(link).to_have_attribute("href", "https://school.example/timetable")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(reply).to_contain_text("<img src=x onerror=alert(1)>")
    assert reply.locator("img").count() == 0
    assert not widget.dialogs


def test_two_questions_in_one_message_one_bubble_one_vote(widget: Widget, database: Database) -> None:
    """Issue 14, item 2: both answers in one bubble, each under its question on its own line, one 解决了吗."""
    page = widget.open()
    widget.send("校区在哪里，暑假班什么时候开课")
    reply = page.locator(".edk-msg-bot").filter(has_text="【校区在哪里？】")
    expect(reply).to_have_count(1)
    expect(reply.locator(".edk-text")).to_have_text("【校区在哪里？】\n西湖区文三路 88 号 3 楼，地铁站步行 5 分钟。\n\n"
                                                    "【暑假班什么时候开课？】\n暑假班 7 月 6 日开课。")
    lines = reply.locator(".edk-text").evaluate("e => e.getClientRects().length && e.offsetHeight / "
                                                "parseFloat(getComputedStyle(e).lineHeight)")
    assert lines >= 5  # the line breaks show: headings and answers on their own lines
    expect(reply.locator(".edk-vote")).to_have_count(1)
    reply.locator(".edk-vote button", has_text="没用").click()
    expect(page.locator(".edk-msg-bot").last).to_contain_text("抱歉没能帮到您")
    with database.session() as session:
        misses = sorted((m.query, m.reason.value) for m in session.scalars(select(KbMiss)))
    assert misses == [("暑假班什么时候开课", "downvoted"), ("校区在哪里", "downvoted")]
