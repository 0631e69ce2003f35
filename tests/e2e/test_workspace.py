"""The agent workspace in two real browsers: the "/" canned-reply picker (keyboard and mouse, placeholders filled),
an internal note the parent never sees, tags in the chat header and the list, the parent's live draft, and the
agent's own draft surviving a reload of the pane."""

from __future__ import annotations

import contextlib

from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from edudesk.canned import service as canned_service
from edudesk.canned.models import CannedReply
from edudesk.canned.text import CannedInput
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Message
from edudesk.db import Database
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login

NOTE = "家长说下周再决定，别催（内部）"


def seed_replies(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    agent = orgs.a.users["agent"]
    with database.session() as session:
        kb = canned_service.create(session, agent, CannedInput(
            shortcut="kb", title="发课表", text="{visitor_name}您好，我是{agent_name}，本周课表已经发给您～"))
        kb.use_count = 5
        kc = canned_service.create(session, orgs.a.users["supervisor"], CannedInput(
            shortcut="kc", title="课程介绍", text="我们有数学、英语和科学三门课。", category="课程", shared=True))
        session.commit()
        return {"kb": kb.id, "kc": kc.id}


def start_chat(site: Page, console: Page, base: str) -> None:
    site.goto(f"{base}/demo?org=alpha")
    site.click(".edk-bubble")
    expect(site.locator(".edk-panel")).to_be_visible(timeout=TIMEOUT)
    site.fill(".edk-input", "转人工")
    site.click(".edk-send")
    expect(site.locator(".edk-msg-system").last).to_contain_text("正在为您转接人工客服", timeout=TIMEOUT)
    item = console.locator("#queue-list .conv-item")
    expect(item).to_have_count(1, timeout=TIMEOUT)
    item.click()
    # The queued conversation's last frames can reload the pane just after it opened; a click that lands on the new
    # pane before htmx has wired its buttons does nothing (an agent would click again, and so does this).
    accept = console.get_by_role("button", name="接入")
    for _attempt in range(3):
        with contextlib.suppress(PlaywrightTimeoutError):  # gone already: the previous click went through
            accept.click(timeout=TIMEOUT // 3)
        with contextlib.suppress(AssertionError):
            expect(console.locator("#chat-state")).to_have_text("人工服务中", timeout=TIMEOUT // 3)
            return
    expect(console.locator("#chat-state")).to_have_text("人工服务中", timeout=TIMEOUT)


def test_canned_reply_note_and_tags(contexts: tuple[BrowserContext, BrowserContext], live_server: LiveServer,
                                    orgs: TwoOrgs, database: Database) -> None:
    ids = seed_replies(database, orgs)
    visitor_ctx, agent_ctx = contexts
    base = live_server.url
    console = agent_ctx.new_page()
    console.on("dialog", lambda d: d.accept())
    agent_login(console, base)
    site = visitor_ctx.new_page()
    start_chat(site, console, base)
    with database.session() as session:  # the parent said their name; the picker fills it in
        conv_id = int(console.locator(".chat").get_attribute("data-conversation-id") or 0)
        contact_id = conversations_service.get(session, orgs.a.id, conv_id).contact_id
        contacts_service.update_details(session, contacts_service.get(session, orgs.a.id, contact_id), name="张妈妈")
        session.commit()

    box = console.locator("#composer textarea")
    picker = console.locator("#canned-picker")
    options = picker.locator("[role=option]")

    # "/" then letters opens the picker; the most used first; ↓/↑ move; Esc closes and leaves the text alone.
    box.press_sequentially("/k", delay=30)
    expect(options).to_have_count(2, timeout=TIMEOUT)
    expect(options.first).to_contain_text("/kb")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    expect(picker).to_be_hidden()
    expect(box).to_have_value("/k")
    box.fill("")

    # Typing the whole shortcut and Enter inserts the reply with the placeholders filled; Enter again sends it.
    box.press_sequentially("/kb", delay=30)
    expect(options).to_have_count(1, timeout=TIMEOUT)
    box.press("Enter")
    expect(box).to_have_value("张妈妈您好，我是王老师，本周课表已经发给您～")
    expect(picker).to_be_hidden()
    box.press("Enter")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("张妈妈您好，我是王老师，本周课表已经发给您～",
                                                                timeout=TIMEOUT)
    expect(box).to_have_value("")

    # A click picks too; no match says so instead of sending "/zz" to the parent.
    box.press_sequentially("/zz", delay=30)
    expect(picker).to_contain_text("没有匹配的快捷回复", timeout=TIMEOUT)
    box.press("Enter")
    expect(picker).to_be_hidden()
    box.fill("")
    box.press_sequentially("/kc", delay=30)
    expect(options).to_have_count(1, timeout=TIMEOUT)
    options.first.click()
    expect(box).to_have_value("我们有数学、英语和科学三门课。")
    box.press("Enter")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("三门课", timeout=TIMEOUT)

    # An internal note: yellow, marked 🔒 in the console, live; the parent never gets it.
    console.locator("label.note-toggle").click()
    expect(console.locator("#composer.composer-note")).to_have_count(1)
    box.fill(NOTE)
    box.press("Enter")
    note = console.locator("#messages .msg-internal")
    expect(note).to_have_count(1, timeout=TIMEOUT)
    expect(note).to_contain_text("🔒")
    expect(note).to_contain_text(NOTE)
    expect(console.locator("#composer.composer-note")).to_have_count(1)  # the switch stays on for the next note
    console.locator("label.note-toggle").click()
    box.fill("还有什么想了解的吗？")
    box.press("Enter")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("还有什么想了解的吗？", timeout=TIMEOUT)
    expect(site.locator(".edk-panel")).not_to_contain_text("下周再决定")

    # Tags in the chat header, shown in the list too.
    console.locator("#chat-tags summary").click()
    console.locator("#chat-tags input[name=tags]").fill("意向强，暑假班")
    console.get_by_role("button", name="保存标签").click()
    expect(console.locator("#tag-list .tag")).to_have_count(2, timeout=TIMEOUT)
    expect(console.locator("#mine-list .conv-item .tag")).to_have_text(["意向强", "暑假班"], timeout=TIMEOUT)

    # The parent's draft shows live above the reply box.
    site.locator(".edk-input").press_sequentially("那周六上午", delay=20)
    expect(console.locator("#typing-preview")).to_contain_text("对方正在输入：那周六", timeout=TIMEOUT)

    # The pane reloads under the agent (a reconnect, a colleague's change): a half-written note stays, still a note,
    # still focused, so Enter cannot send it to the parent.
    console.locator("label.note-toggle").click()
    box.fill("草稿：周六上午还有空位")
    console.evaluate("() => { document.querySelector('.chat').dataset.stale = '1'; }")
    console.evaluate(f"() => htmx.ajax('GET', '/console/c/{conv_id}', {{target: '#chat'}})")
    expect(console.locator(".chat[data-stale]")).to_have_count(0, timeout=TIMEOUT)
    expect(box).to_have_value("草稿：周六上午还有空位")
    expect(box).to_be_focused()
    expect(console.locator("#note-toggle")).to_be_checked()
    expect(console.locator("#composer.composer-note")).to_have_count(1)

    with database.session() as session:
        uses = {row.id: row.use_count for row in session.execute(select(CannedReply.id, CannedReply.use_count))}
        assert uses == {ids["kb"]: 6, ids["kc"]: 1}
        internal = session.scalars(select(Message).where(Message.internal.is_(True))).all()
        assert [m.text for m in internal] == [NOTE]
        assert conversations_service.get(session, orgs.a.id, conv_id).tags == ["意向强", "暑假班"]


def test_contact_history_opens_read_only(contexts: tuple[BrowserContext, BrowserContext], live_server: LiveServer,
                                         orgs: TwoOrgs, database: Database) -> None:
    visitor_ctx, agent_ctx = contexts
    base = live_server.url
    console = agent_ctx.new_page()
    console.on("dialog", lambda d: d.accept())
    agent_login(console, base)
    site = visitor_ctx.new_page()
    start_chat(site, console, base)
    box = console.locator("#composer textarea")
    console.locator("label.note-toggle").click()
    box.fill("上次问过周末班")
    box.press("Enter")
    expect(console.locator("#messages .msg-internal")).to_have_count(1, timeout=TIMEOUT)
    console.get_by_role("button", name="结束会话").click()
    expect(console.locator("#chat-state")).to_have_text("已解决", timeout=TIMEOUT)
    site.locator('.edk-star[data-score="4"]').click()
    site.click(".edk-rate-submit")
    expect(site.locator(".edk-panel")).to_contain_text("感谢", timeout=TIMEOUT)

    # The parent comes back: a new conversation, with the earlier one beside it.
    site.fill(".edk-input", "我又来了")
    site.click(".edk-send")
    item = console.locator("#bot-list .conv-item")
    expect(item).to_have_count(1, timeout=TIMEOUT)
    item.click()
    expect(console.locator("#messages")).to_contain_text("我又来了", timeout=TIMEOUT)
    history = console.locator("#contact-history li")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("网页")
    expect(history).to_contain_text("已关闭")
    expect(history).to_contain_text("★★★★☆")
    history.locator("a").click()
    dialog = console.locator("#history-dialog")
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    expect(dialog.locator(".msg-internal")).to_contain_text("上次问过周末班")
    expect(dialog.locator("textarea, button.primary")).to_have_count(0)  # read-only
    dialog.get_by_role("button", name="关闭").click()
    expect(dialog).to_be_hidden()
    expect(console.locator("#messages")).to_contain_text("我又来了")  # the open chat is untouched
