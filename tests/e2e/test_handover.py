"""The whole foundation loop in two real browsers: a parent chats with the bot on the institution's page, asks for
a human; an agent in the console accepts, replies and resolves; the parent rates the service."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from tests.conftest import PASSWORD, LiveServer, TwoOrgs

TIMEOUT = 10_000


def agent_login(page: Page, base: str, org: str = "alpha", username: str = "agent") -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=org]", org)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/console", timeout=TIMEOUT)
    expect(page.locator("#ws-status.online")).to_have_count(1, timeout=TIMEOUT)


def test_visitor_bot_handover_agent_reply_resolve_rate(contexts: tuple[BrowserContext, BrowserContext],
                                                       live_server: LiveServer, orgs: TwoOrgs,
                                                       database: Database) -> None:
    visitor_ctx, agent_ctx = contexts
    base = live_server.url

    console = agent_ctx.new_page()
    console.on("dialog", lambda d: d.accept())
    agent_login(console, base)

    site = visitor_ctx.new_page()
    site.goto(f"{base}/demo?org=alpha")
    site.click(".edk-bubble")
    expect(site.locator(".edk-panel")).to_be_visible(timeout=TIMEOUT)
    site.fill(".edk-input", "你好，孩子三年级")
    site.click(".edk-send")
    expect(site.locator(".edk-msg-bot").last).to_contain_text("已为您记下（年级：三年级）", timeout=TIMEOUT)
    site.fill(".edk-input", "转人工")
    site.click(".edk-send")
    expect(site.locator(".edk-msg-system").last).to_contain_text("正在为您转接人工客服", timeout=TIMEOUT)

    # The queue updates live in the console; the agent opens the conversation and accepts it.
    item = console.locator("#queue-list .conv-item")
    expect(item).to_have_count(1, timeout=TIMEOUT)
    expect(item).to_contain_text("转人工")
    item.click()
    expect(console.locator("#messages")).to_contain_text("你好，孩子三年级", timeout=TIMEOUT)
    console.get_by_role("button", name="接入").click()
    expect(console.locator("#chat-state")).to_have_text("人工服务中", timeout=TIMEOUT)
    expect(site.locator(".edk-panel")).to_contain_text("王老师", timeout=TIMEOUT)

    # The visitor's typing shows up as a preview beside the chat.
    site.locator(".edk-input").press_sequentially("请问周末有课吗", delay=20)
    expect(console.locator("#typing-preview")).to_contain_text("请问周末", timeout=TIMEOUT)
    site.click(".edk-send")
    expect(console.locator("#messages")).to_contain_text("请问周末有课吗", timeout=TIMEOUT)

    console.fill("#composer textarea", "周六上午和下午都有班，我把课表发给您～")
    console.keyboard.press("Enter")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("周六上午和下午都有班", timeout=TIMEOUT)
    # Sent once, shown once on both sides.
    expect(console.locator("#messages .msg-agent")).to_have_count(1)
    expect(site.locator(".edk-msg-agent")).to_have_count(1)

    console.get_by_role("button", name="结束会话").click()
    expect(console.locator("#chat-state")).to_have_text("已解决", timeout=TIMEOUT)
    star = site.locator('.edk-star[data-score="5"]')
    expect(star).to_be_visible(timeout=TIMEOUT)
    star.click()
    site.fill(".edk-rate-comment", "王老师很耐心")
    site.click(".edk-rate-submit")
    expect(site.locator(".edk-panel")).to_contain_text("感谢", timeout=TIMEOUT)
    expect(console.locator(".csat")).to_have_text("★★★★★", timeout=TIMEOUT)

    with database.session() as session:
        lists = conversations_service.list_for_console(session, orgs.a.users["agent"])
        assert lists["queue"] == [] and lists["mine"] == []
        conv = session.scalars(select(Conversation).where(Conversation.org_id == orgs.a.id)).one()
        assert conv.state == ConversationState.closed
        assert conv.csat_score == 5 and conv.csat_comment == "王老师很耐心"
