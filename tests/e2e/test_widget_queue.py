"""The widget while a visitor waits for a teacher and after the teacher is done, in a real chromium against a live
server: the queue banner (``queue`` frames, docs/protocol.md), drafts in typing frames, and the rating control drawn
for the org's CSAT scale."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from edudesk import events
from edudesk.audit.service import Actor
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.csat import service as csat_service
from edudesk.db import Database
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_widget import Widget


@pytest.fixture
def widget(browser: Browser, live_server: LiveServer, orgs: TwoOrgs) -> Iterator[Widget]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    w = Widget(context, live_server.url)
    yield w
    context.close()
    assert not w.page_errors, f"uncaught errors in the page: {w.page_errors}"


def queued_conversation(db: Database) -> Conversation:
    with db.session() as session:
        convs = list(session.scalars(select(Conversation)))
        assert len(convs) == 1 and convs[0].state.value == "queued", convs
        return convs[0]


def announce(app: FastAPI, conv: Conversation, position: int, wait_seconds: int, text: str) -> None:
    """What routing publishes when a waiting visitor's place changes."""
    app.state.ctx.bus.publish([events.DomainEvent(
        type="queue.position", org_id=conv.org_id,
        data={"conversation_id": conv.id, "position": position, "wait_seconds": wait_seconds, "text": text},
        topics=(conversations_service.contact_topic(conv.contact_id),))])


def wait_in_queue(widget: Widget) -> Page:
    page = widget.open()
    widget.send("我想找老师")  # a hand-over word
    expect(page.locator("#edk-root")).to_have_attribute("data-state", "queued")
    return page


def test_queue_banner_follows_the_wait_and_the_visitor_keeps_chatting(widget: Widget, app: FastAPI,
                                                                      orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    page = wait_in_queue(widget)
    banner = page.locator(".edk-queue")
    expect(banner).to_be_visible()
    expect(banner).not_to_be_empty()  # routing's first estimate, or the generic "正在为您转接…"
    conv = queued_conversation(db)

    announce(app, conv, 3, 240, "您前面还有 2 位，预计等待约 4 分钟。")
    expect(banner).to_have_text("您前面还有 2 位，预计等待约 4 分钟。")
    expect(banner).to_have_attribute("data-position", "3")
    announce(app, conv, 2, 120, "您前面还有 1 位，预计等待约 2 分钟。<b>")
    expect(banner).to_have_text("您前面还有 1 位，预计等待约 2 分钟。<b>")  # text, never HTML
    header_box, banner_box = page.locator(".edk-header").bounding_box(), banner.bounding_box()
    assert header_box and banner_box and abs(banner_box["y"] - (header_box["y"] + header_box["height"])) < 2

    # Waiting blocks nothing: the visitor keeps asking the bot, and the draft goes out in typing frames.
    widget.send("学费多少钱")
    expect(widget.visitor_msgs("学费多少钱")).to_have_count(1)
    expect(page.locator(".edk-input")).to_be_enabled()
    expect(banner).to_be_visible()
    ws = widget.sockets[-1]
    with ws.expect_event("framesent", predicate=lambda p: '"typing"' in p and "孩子三年级" in p, timeout=5000):
        page.locator(".edk-input").press_sequentially("孩子三年级", delay=30)
    last = widget.sent("typing")[-1]
    assert last["is_typing"] is True and last["draft"] == "孩子三年级"
    with ws.expect_event("framesent", predicate=lambda p: '"typing"' in p and "长长" in p, timeout=5000):
        page.locator(".edk-input").fill("长" * 300)
    assert widget.sent("typing")[-1]["draft"] == "长" * 200  # a preview, not the whole text

    # A teacher joins: the banner goes, and a late position frame does not bring it back.
    with db.session() as session:
        conversations_service.accept(session, orgs.a.users["agent"], conv.id)
        session.commit()
    expect(page.locator("#edk-root")).to_have_attribute("data-state", "assigned")
    expect(banner).to_be_hidden()
    announce(app, conv, 1, 60, "您是下一位，预计等待约 1 分钟。")
    expect(page.locator(".edk-agent")).to_have_text("王老师 为您服务")
    page.wait_for_timeout(300)
    expect(banner).to_be_hidden()


@pytest.mark.parametrize(("scale", "choices", "pick", "score"), [
    (2, ["👍 满意", "👎 不满意"], "👎 不满意", 1),
    (3, ["不满意", "一般", "满意"], "一般", 2),
])
def test_rating_control_follows_the_org_scale(widget: Widget, app: FastAPI, orgs: TwoOrgs, scale: int,
                                              choices: list[str], pick: str, score: int) -> None:
    db: Database = app.state.ctx.db
    with db.session() as session:
        csat_service.save_settings(session, Actor(orgs.a.id, label="test"), question="老师讲得清楚吗？", scale=scale)
        session.commit()
    page = wait_in_queue(widget)
    conv = queued_conversation(db)
    agent = orgs.a.users["agent"]
    with db.session() as session:
        conversations_service.accept(session, agent, conv.id)
        conversations_service.resolve(session, agent, conv.id, close_after_seconds=3600)
        session.commit()
    rate = page.locator(".edk-rate")
    expect(rate).to_be_visible()
    expect(page.locator(".edk-queue")).to_be_hidden()
    expect(page.locator(".edk-rate-title")).to_have_text("老师讲得清楚吗？")
    expect(rate.locator(".edk-star")).to_have_count(0)
    expect(rate.locator(".edk-choice")).to_have_text(choices)
    page.locator(".edk-rate-submit").click()
    expect(page.locator(".edk-error")).to_have_text("请先选择评分")
    button = rate.locator(".edk-choice", has_text=pick)
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    page.locator(".edk-rate-comment").fill("讲得有点快")
    page.locator(".edk-rate-submit").click()
    expect(rate.locator(".edk-rate-thanks")).to_be_visible()  # after the server's `rated`
    expect(rate.locator(".edk-rate-form")).to_be_hidden()
    assert widget.sent("rate")[-1] == {"type": "rate", "score": score, "comment": "讲得有点快"}
    with db.session() as session:
        rated = session.get(Conversation, conv.id)
        assert rated is not None
        assert (rated.csat_score, rated.csat_scale, rated.csat_comment) == (score, scale, "讲得有点快")
