"""The chat widget (static/widget.js) in a real chromium against a live server: docs/protocol.md end to end."""

from __future__ import annotations

import json
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, WebSocket, WebSocketRoute, expect
from sqlalchemy import func, select

from edudesk import events
from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.db import Database
from edudesk.orgs import service as orgs_service
from edudesk.settings import Settings
from tests.conftest import LiveServer, TwoOrgs

PRICE_ANSWER = "数学思维课每学期 2980 元（16 次课），首次试听免费。"
WELCOME = bot_service.DEFAULT_WELCOME


def png_bytes(width: int = 8, height: int = 6) -> bytes:
    """A valid RGB PNG, built by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x25\x63\xeb" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Widget:
    """A visitor's browser tab on the demo page, with the locators the tests need."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context, self.base_url = context, base_url
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.frames_sent: list[dict[str, Any]] = []
        self.sockets: list[WebSocket] = []
        self.page = self.new_page()

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_socket(ws: WebSocket) -> None:
            self.sockets.append(ws)
            ws.on("framesent", lambda payload: self.frames_sent.append(json.loads(payload)))

        page.on("dialog", on_dialog)
        page.on("websocket", on_socket)
        return page

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames_sent if f.get("type") == kind]

    def goto(self, page: Page | None = None) -> Page:
        page = page or self.page
        page.goto(f"{self.base_url}/demo?org=alpha")
        return page

    def open(self, page: Page | None = None) -> Page:
        page = self.goto(page)
        page.locator(".edk-bubble").click()
        expect(page.locator(".edk-panel")).to_be_visible()
        # The session has loaded (title = org name) and the socket said hello.
        expect(page.locator(".edk-title")).to_have_text("阿尔法教育")
        expect(page.locator("#edk-root")).to_have_attribute("data-connection", "online")
        return page

    def send(self, text: str, page: Page | None = None) -> None:
        page = page or self.page
        page.locator(".edk-input").fill(text)
        page.locator(".edk-input").press("Enter")
        expect(page.locator(".edk-input")).to_have_value("")

    def visitor_msgs(self, text: str, page: Page | None = None) -> Locator:
        return (page or self.page).locator(".edk-msg-visitor").filter(has_text=text)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A 1 MB upload limit: the widget must take the limit from the session, not assume the default 5 MB."""
    return settings.model_copy(update={"max_upload_bytes": 1024 * 1024})


@pytest.fixture
def widget(browser: Browser, live_server: LiveServer, orgs: TwoOrgs) -> Iterator[Widget]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    w = Widget(context, live_server.url)
    yield w
    context.close()
    assert not w.page_errors, f"uncaught errors in the page: {w.page_errors}"


@pytest.fixture
def price_rule(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="test"), keywords="多少钱,学费,价格",
                              reply=PRICE_ANSWER, label="价格")
        session.commit()


class SchoolSite:
    """An institution's own web site on another origin (another loopback port), serving one page."""

    def __init__(self) -> None:
        self.html = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.html)))
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, html: str) -> str:
        self.html = html.encode()
        return f"http://127.0.0.1:{self.server.server_address[1]}/school.html"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def school_site() -> Iterator[SchoolSite]:
    site = SchoolSite()
    yield site
    site.close()


def count_visitor_messages(database: Database, text: str) -> int:
    with database.session() as session:
        stmt = select(func.count()).select_from(Message).where(
            Message.sender == SenderKind.visitor, Message.text == text)
        return int(session.scalar(stmt) or 0)


def only_conversation(database: Database) -> Conversation:
    with database.session() as session:
        convs = list(session.scalars(select(Conversation)))
        assert len(convs) == 1, convs
        return convs[0]


def test_welcome_bot_answer_no_duplicates_and_history_after_reload(
        widget: Widget, price_rule: None, database: Database, orgs: TwoOrgs) -> None:
    page = widget.open()
    expect(page.locator(".edk-messages")).to_contain_text(WELCOME)

    widget.send("请问数学课学费多少钱？")

    bot = page.locator(".edk-msg-bot").filter(has_text=PRICE_ANSWER)
    expect(bot).to_have_count(1)
    mine = widget.visitor_msgs("请问数学课学费多少钱？")
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-status", "sent")
    # The local welcome placeholder gave way to the stored welcome message: shown once, not twice.
    expect(page.locator(".edk-messages").get_by_text(WELCOME, exact=False)).to_have_count(1)
    assert count_visitor_messages(database, "请问数学课学费多少钱？") == 1
    ids = page.locator(".edk-msg[data-id]").evaluate_all("els => els.map(e => Number(e.dataset.id))")
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 3  # welcome, question, answer
    token = page.evaluate(f"localStorage.getItem('edudesk:{orgs.a.public_key}')")
    assert token

    page.reload()
    page.locator(".edk-bubble").click()
    expect(page.locator(".edk-msg-bot").filter(has_text=PRICE_ANSWER)).to_have_count(1)
    expect(widget.visitor_msgs("请问数学课学费多少钱？")).to_have_count(1)
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "online")
    expect(page.locator(".edk-msg[data-id]")).to_have_count(3)
    assert page.evaluate(f"localStorage.getItem('edudesk:{orgs.a.public_key}')") == token
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1  # the same visitor, not a new one


def test_message_sent_offline_is_delivered_exactly_once(widget: Widget, price_rule: None,
                                                        database: Database) -> None:
    page = widget.open()
    widget.send("你好")
    expect(page.locator(".edk-msg-bot").last).to_contain_text("您好")

    widget.context.set_offline(True)
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "offline")
    expect(page.locator(".edk-status")).to_contain_text("网络已断开")
    widget.send("断网时问的：学费多少钱")
    pending = widget.visitor_msgs("断网时问的：学费多少钱")
    expect(pending).to_have_attribute("data-status", "sending")
    assert count_visitor_messages(database, "断网时问的：学费多少钱") == 0

    widget.context.set_offline(False)
    expect(pending).to_have_attribute("data-status", "sent")
    expect(page.locator(".edk-msg-bot").filter(has_text=PRICE_ANSWER)).to_have_count(1)
    expect(widget.visitor_msgs("断网时问的：学费多少钱")).to_have_count(1)
    expect(page.locator(".edk-status")).to_be_hidden()
    assert count_visitor_messages(database, "断网时问的：学费多少钱") == 1
    assert page.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':outbox')).length") == 0


def test_unsent_message_survives_a_refresh(widget: Widget, database: Database) -> None:
    """A message typed while the socket is stuck stays in the localStorage outbox and is sent after a reload."""
    stuck = widget.new_page()
    # The socket "opens" but never reaches the server, like a dead mobile connection.
    stuck.route_web_socket("**/ws/visitor*", lambda ws: None)
    widget.goto(stuck)
    stuck.locator(".edk-bubble").click()
    expect(stuck.locator(".edk-title")).to_have_text("阿尔法教育")
    widget.send("刷新前没发出去的消息", stuck)
    expect(widget.visitor_msgs("刷新前没发出去的消息", stuck)).to_have_attribute("data-status", "sending")
    stuck.close()
    assert count_visitor_messages(database, "刷新前没发出去的消息") == 0

    page = widget.open(widget.page)
    sent = widget.visitor_msgs("刷新前没发出去的消息")
    expect(sent).to_have_attribute("data-status", "sent")
    expect(sent).to_have_count(1)
    assert count_visitor_messages(database, "刷新前没发出去的消息") == 1
    page.reload()
    page.locator(".edk-bubble").click()
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "online")
    expect(widget.visitor_msgs("刷新前没发出去的消息")).to_have_count(1)
    assert count_visitor_messages(database, "刷新前没发出去的消息") == 1


def test_fallback_chip_hands_the_conversation_to_a_human(widget: Widget, database: Database) -> None:
    page = widget.open()
    widget.send("你们那边停车方便吗")
    fallback = page.locator(".edk-msg-bot").filter(has_text="这个问题我还没学会")
    expect(fallback).to_have_count(1)

    fallback.locator(".edk-chip", has_text="转人工").click()

    expect(widget.visitor_msgs("转人工")).to_have_attribute("data-status", "sent")
    expect(page.locator(".edk-msg-system")).to_contain_text("暂时没有老师在线")
    expect(page.locator("#edk-root")).to_have_attribute("data-state", "queued")
    assert only_conversation(database).state.value == "queued"


def test_image_upload_is_rendered_and_oversized_files_are_refused(widget: Widget, database: Database) -> None:
    page = widget.open()
    page.locator(".edk-file").set_input_files(
        files=[{"name": "作业.png", "mimeType": "image/png", "buffer": png_bytes()}])

    img = page.locator(".edk-msg-visitor[data-id] .edk-image img")
    expect(img).to_have_count(1)
    expect(img).to_have_attribute("src", re.compile("^" + re.escape(f"{widget.base_url}/api/v1/attachments/")))
    page.wait_for_function("img => img.complete && img.naturalWidth === 8",
                           arg=img.element_handle())
    with database.session() as session:
        att = session.scalars(select(Attachment)).one()
        msg = session.scalars(select(Message).where(Message.attachment_id == att.id)).one()
        assert (att.content_type, msg.sender) == ("image/png", SenderKind.visitor)

    big = b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024)
    page.locator(".edk-file").set_input_files(files=[{"name": "big.png", "mimeType": "image/png", "buffer": big}])
    expect(page.locator(".edk-error")).to_contain_text("请选择不超过 1 MB 的图片")
    expect(img).to_have_count(1)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Attachment)) == 1


def test_markup_from_visitor_and_bot_is_shown_as_text(widget: Widget, database: Database,
                                                      orgs: TwoOrgs) -> None:
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="test"), keywords="校区",
                              reply='<b>校区</b><script>window.__pwned=1</script>', label="xss")
        session.commit()
    page = widget.open()
    payload = "<img src=x onerror=alert(1)> 校区在哪"
    widget.send(payload)

    mine = widget.visitor_msgs("onerror")
    expect(mine.locator(".edk-text")).to_have_text(payload)
    bot = page.locator(".edk-msg-bot").filter(has_text="<script>")
    expect(bot.locator(".edk-text")).to_have_text('<b>校区</b><script>window.__pwned=1</script>')
    assert page.locator(".edk-messages img, .edk-messages script, .edk-messages b").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    assert widget.dialogs == []


def test_phone_viewport_shows_the_panel_full_screen(browser: Browser, live_server: LiveServer,
                                                     orgs: TwoOrgs) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/demo?org=alpha")
        page.locator(".edk-bubble").tap()
        panel = page.locator(".edk-panel")
        expect(panel).to_be_visible()
        expect(page.locator(".edk-title")).to_have_text("阿尔法教育")
        box = panel.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        expect(page.locator(".edk-input")).to_be_visible()
        page.locator(".edk-close").tap()
        expect(panel).to_be_hidden()
        expect(page.locator(".edk-bubble")).to_be_visible()
        page.evaluate("window.EdudeskWidget.open()")  # the page's own "咨询" buttons can open the chat
        expect(panel).to_be_visible()
        expect(page.locator(".edk-bubble")).to_be_hidden()  # covered by the full-screen panel
        page.evaluate("window.EdudeskWidget.close()")
        expect(panel).to_be_hidden()
    finally:
        context.close()


def test_agent_joins_types_answers_and_visitor_rates(widget: Widget, app: FastAPI, orgs: TwoOrgs) -> None:
    """The widget side of a human conversation; the agent acts through the services (the console has its own
    tests), on the app's own database handle so the events reach the live sockets."""
    db: Database = app.state.ctx.db
    page = widget.open()
    widget.send("我想找老师")  # a hand-over word
    expect(page.locator("#edk-root")).to_have_attribute("data-state", "queued")
    conv = only_conversation(db)
    agent = orgs.a.users["agent"]

    page.locator(".edk-close").click()
    with db.session() as session:
        conversations_service.accept(session, agent, conv.id)
        session.commit()
    expect(page.locator(".edk-agent")).to_have_text("王老师 为您服务")
    expect(page.locator("#edk-root")).to_have_attribute("data-state", "assigned")
    app.state.ctx.bus.publish([events.DomainEvent(
        type="typing.agent", org_id=orgs.a.id, data={"conversation_id": conv.id, "is_typing": True},
        topics=(conversations_service.contact_topic(conv.contact_id),))])
    expect(page.locator(".edk-status")).to_have_text("老师正在输入…")
    with db.session() as session:
        conversations_service.send_agent_message(session, agent, conv.id, "您好，我是王老师，孩子现在几年级？")
        session.commit()
    badge = page.locator(".edk-bubble .edk-badge")
    expect(badge).to_be_visible()  # unread while the panel is closed
    page.locator(".edk-bubble").click()
    expect(badge).to_be_hidden()
    expect(page.locator(".edk-msg-agent")).to_contain_text("孩子现在几年级")
    expect(page.locator(".edk-status")).to_be_hidden()  # the answer ends the typing indicator

    # The draft goes to the agent as a typing preview, throttled: the first keystroke and then the final draft.
    assert widget.sent("typing") == []  # nothing was sent while the bot was answering
    ws = widget.sockets[-1]
    with ws.expect_event("framesent", predicate=lambda p: '"typing"' in p and "孩子三年级了" in p, timeout=5000):
        page.locator(".edk-input").press_sequentially("孩子三年级了", delay=30)
    typing = widget.sent("typing")
    assert 2 <= len(typing) <= 3, typing
    assert typing[-1]["text"] == "孩子三年级了"

    with db.session() as session:
        conversations_service.resolve(session, agent, conv.id, close_after_seconds=3600)
        session.commit()
    expect(page.locator(".edk-rate")).to_be_visible()
    page.locator('.edk-star[data-score="4"]').click()
    page.locator(".edk-rate-comment").fill("老师很耐心")
    page.locator(".edk-rate-submit").click()
    expect(page.locator(".edk-rate")).to_contain_text("感谢您的评价")
    expect(page.locator(".edk-rate-submit")).to_be_hidden()
    with db.session() as session:
        rated = session.get(Conversation, conv.id)
        assert rated is not None
        assert (rated.csat_score, rated.csat_comment, rated.state.value) == (4, "老师很耐心", "closed")


def test_enter_sends_but_not_while_composing_or_with_shift(widget: Widget, database: Database) -> None:
    page = widget.open()
    box = page.locator(".edk-input")
    box.fill("sh")
    box.dispatch_event("keydown", {"key": "Enter", "isComposing": True})  # choosing a pinyin candidate
    box.press("Shift+Enter")
    box.press_sequentially("第二行")
    expect(box).to_have_value("sh\n第二行")
    assert widget.sent("message") == []
    page.locator(".edk-send").click()
    expect(widget.visitor_msgs("第二行").locator(".edk-text")).to_have_text("sh\n第二行")
    expect(box).to_have_value("")
    # Over-long text never leaves the browser (maxlength on the box, and a check before sending).
    assert box.evaluate("el => el.maxLength") == 2000
    expect(widget.visitor_msgs("第二行")).to_have_attribute("data-status", "sent")
    assert len(widget.sent("message")) == 1


def test_a_refused_message_is_marked_failed_and_not_resent(widget: Widget, database: Database) -> None:
    """An `error` frame about one client_id marks that message failed and drops it from the outbox."""

    def proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "message" and "不该发出" in frame.get("text", ""):
                ws.send(json.dumps({"type": "error", "code": "bad_attachment", "message": "图片不存在或已失效",
                                    "client_id": frame["client_id"]}))
                return
            server.send(message)

        ws.on_message(from_page)

    widget.page.route_web_socket("**/ws/visitor*", proxy)
    page = widget.open()
    widget.send("这条不该发出")
    failed = widget.visitor_msgs("这条不该发出")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".edk-meta")).to_contain_text("发送失败")
    expect(page.locator(".edk-error")).to_have_text("图片不存在或已失效")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':outbox')).length") == 0
    widget.send("这条正常")
    expect(widget.visitor_msgs("这条正常")).to_have_attribute("data-status", "sent")
    # Later messages are placed after the failed one, which keeps its place.
    texts = page.locator(".edk-msg-visitor .edk-text").all_inner_texts()
    assert texts == ["这条不该发出", "这条正常"]
    assert count_visitor_messages(database, "这条不该发出") == 0


def test_embedded_on_another_origin_in_english_recovers_from_a_bad_token(
        widget: Widget, database: Database, orgs: TwoOrgs, school_site: SchoolSite) -> None:
    """A customer's site on another origin embeds the script with data-lang/data-open; a stored token that
    the server refuses (here: one of another org) is replaced by a fresh identity instead of breaking the chat."""
    with database.session() as session:
        orgs_service.update_widget(session, orgs_service.get(session, orgs.a.id), color="#16a34a")
        session.commit()
    server = widget.base_url
    html = (f'<!doctype html><html><head><meta charset="utf-8"><title>School</title></head><body><h1>School</h1>'
            f'<script src="{server}/static/widget.js" data-org-key="{orgs.a.public_key}" data-lang="en" '
            f'data-open="true" async></script></body></html>')
    page = widget.page
    foreign = widget.context.request.post(f"{server}/api/v1/widget/session",
                                          data={"org_key": orgs.b.public_key}).json()["token"]
    widget.context.add_init_script(f"localStorage.setItem('edudesk:{orgs.a.public_key}', '{foreign}')")

    school = school_site.serve(html)
    page.goto(school)
    expect(page.locator(".edk-panel")).to_be_visible()  # data-open
    expect(page.locator(".edk-title")).to_have_text("阿尔法教育")
    expect(page.locator(".edk-send")).to_have_text("Send")
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "online")
    expect(page.locator(".edk-bubble")).to_have_css("background-color", "rgb(22, 163, 74)")
    token = page.evaluate(f"localStorage.getItem('edudesk:{orgs.a.public_key}')")
    assert token and token != foreign
    widget.send("hello from the school site")
    expect(page.locator(".edk-msg-bot")).to_have_count(2)  # the stored welcome + the fallback answer
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == orgs.a.id)).one()
        conv = session.scalars(select(Conversation).where(Conversation.contact_id == contact.id)).one()
        assert conv.org_id == orgs.a.id
        # The refused token of org b was never used to write anything there.
        assert session.scalar(select(func.count()).select_from(Contact).where(Contact.org_id == orgs.b.id)) == 0


def forge_session_token(widget: Widget, token: str) -> list[str]:
    """The first widget session answer carries ``token`` instead of the real one (as if the key had been rotated
    between the two calls); later calls pass through. Returns the session calls seen."""
    calls: list[str] = []

    def route(r: Any) -> None:
        calls.append(r.request.url)
        if len(calls) > 1:
            r.continue_()
            return
        resp = r.fetch()
        r.fulfill(response=resp, json={**resp.json(), "token": token})

    widget.page.route("**/api/v1/widget/session", route)
    return calls


def test_a_token_the_socket_refuses_gets_a_fresh_identity(widget: Widget, database: Database) -> None:
    """The socket is accepted and then closed with 4401, so the browser sees the code (before issue 19 it saw an
    HTTP 403 as 1006 and retried the dead token forever); the widget fetches a fresh identity and carries on."""
    calls = forge_session_token(widget, "forged.token")
    page = widget.open()  # online: the second socket said hello
    assert len(calls) == 2 and len(widget.sockets) == 2
    assert "token=forged.token" in widget.sockets[0].url
    token = page.evaluate("Object.entries(localStorage).find(([k]) => !k.endsWith(':outbox'))[1]")
    assert token != "forged.token"
    widget.send("换了身份也能发")
    expect(widget.visitor_msgs("换了身份也能发")).to_have_attribute("data-status", "sent")
    assert count_visitor_messages(database, "换了身份也能发") == 1


def test_a_permanent_close_code_stops_the_widget(widget: Widget, settings: Settings) -> None:
    """4404 (the token's org is gone) is permanent: the widget says so and does not reconnect."""
    from edudesk.channels.web.visitor_token import VisitorTokens

    forge_session_token(widget, VisitorTokens(settings.secret_key).issue(2**31 - 1)[0])
    page = widget.goto()
    page.locator(".edk-bubble").click()
    expect(page.locator(".edk-error")).to_have_text("在线咨询暂时不可用")
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "offline")
    page.wait_for_timeout(1500)  # three backoff periods: a reconnecting widget would have opened more sockets
    assert len(widget.sockets) == 1


def test_a_message_the_server_cannot_store_fails_once_and_is_never_resent(widget: Widget, database: Database) -> None:
    """A lone surrogate (pasted half of an emoji) reaches the server as the escape \\ud800; the server answers
    `bad_text` naming the message and keeps the socket; the widget marks it failed and forgets it, so neither a
    reconnect nor a reload sends it again (before issue 19 the socket dropped and the widget resent it forever)."""
    page = widget.open()
    page.evaluate("""() => {
        const input = document.querySelector('.edk-input');
        input.value = '半个表情' + String.fromCharCode(0xd83d);
        input.dispatchEvent(new Event('input', {bubbles: true}));
    }""")
    page.locator(".edk-input").press("Enter")
    failed = widget.visitor_msgs("半个表情")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(page.locator(".edk-error")).to_contain_text("不成对的 UTF-16 代理项")
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "online")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':outbox')).length") == 0
    widget.send("下一条照常")
    expect(widget.visitor_msgs("下一条照常")).to_have_attribute("data-status", "sent")
    assert len(widget.sockets) == 1  # the same socket throughout
    widget.open(widget.page)  # a reload sends nothing again
    expect(widget.visitor_msgs("下一条照常")).to_have_count(1)
    assert len([f for f in widget.sent("message") if "半个表情" in f.get("text", "")]) == 1
    assert count_visitor_messages(database, "下一条照常") == 1
