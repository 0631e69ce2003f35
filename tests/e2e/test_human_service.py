"""Human service in real browsers.

1. A VIP parent jumps a queue of two: the senior teacher (the only one online, room for one) gets the VIP first;
   the junior teacher comes online and takes the other two; the senior transfers the VIP to the junior with a note
   the parent never sees; the junior resolves and the parent rates.
2. An off-hours visit: asking for a human at night leaves a ticket; next morning a teacher answers it on the ticket
   page and the parent finds the answer in the widget on their next visit, and their reply reopens the ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.hours import service as hours_service
from edudesk.inbound import service as inbound_service
from edudesk.localtime import LOCAL_TZ
from edudesk.routing import presence
from edudesk.routing import service as routing_service
from edudesk.tickets.models import CommentKind, Ticket, TicketComment, TicketStatus
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = [browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800}) for _ in range(3)]
    yield made
    for ctx in made:
        ctx.close()


def set_up_team(database: Database, orgs: TwoOrgs) -> int:
    """小学数学: 王老师 (level 5, one at a time) and 李老师 (level 1, three at a time); every chat routes there."""
    actor = Actor(orgs.a.id, label="test")
    with database.session() as session:
        group = routing_service.create_group(session, actor, "小学数学")
        routing_service.add_member(session, actor, group.id, orgs.a.users["agent"].id, 5)
        routing_service.add_member(session, actor, group.id, orgs.a.users["agent2"].id, 1)
        routing_service.save_rule(session, actor, name="全部咨询", conditions={}, group_id=group.id, priority=0,
                                  senior_first=False)
        for key, most in (("agent", 1), ("agent2", 3)):
            presence.set_max_concurrent(session, actor, orgs.a.users[key], most)
        session.commit()
        return group.id


def wait_in_queue(database: Database, org_id: int, visitor: str) -> None:
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(org_id, "web", visitor, f"{visitor}-1", text="转人工"),
                                agents_online=False)
        session.commit()


def open_widget(page: Page, base: str) -> None:
    page.goto(f"{base}/demo?org=alpha")
    page.click(".edk-bubble")
    expect(page.locator(".edk-panel")).to_be_visible(timeout=TIMEOUT)


def send(page: Page, text: str) -> None:
    page.fill(".edk-input", text)
    page.click(".edk-send")


def test_vip_jumps_the_queue_is_served_by_the_senior_transferred_and_rates(
        contexts: list[BrowserContext], live_server: LiveServer, orgs: TwoOrgs, database: Database) -> None:
    base = live_server.url
    set_up_team(database, orgs)
    wait_in_queue(database, orgs.a.id, "parent-1")
    wait_in_queue(database, orgs.a.id, "parent-2")

    site = contexts[0].new_page()
    open_widget(site, base)
    send(site, "你好")
    expect(site.locator(".edk-msg-bot").last).to_be_visible(timeout=TIMEOUT)
    with database.session() as session:  # a supervisor marked this parent VIP (e.g. from the CRM)
        vip = session.scalars(select(Contact).where(Contact.org_id == orgs.a.id).order_by(Contact.id.desc())).first()
        assert vip is not None
        vip.vip = True
        vip_id = vip.id
        session.commit()
    send(site, "转人工")
    # Two parents were waiting, yet the VIP is next in line (nobody is online yet: no wait is promised).
    expect(site.locator(".edk-msg-system").last).to_contain_text("暂时没有老师在线", timeout=TIMEOUT)
    expect(site.locator(".edk-queue")).to_contain_text("您是下一位", timeout=TIMEOUT)

    senior = contexts[1].new_page()
    agent_login(senior, base, username="agent")
    # The senior teacher's console connects: the VIP (queued last) is assigned to them, not the first in line.
    expect(site.locator(".edk-panel")).to_contain_text("王老师 已接入", timeout=TIMEOUT)
    expect(site.locator(".edk-queue")).to_be_hidden(timeout=TIMEOUT)
    mine = senior.locator("#mine-list .conv-item")
    expect(mine).to_have_count(1, timeout=TIMEOUT)
    mine.click()
    senior.fill("#composer textarea", "您好，我是王老师，孩子数学哪里比较吃力？")
    senior.keyboard.press("Enter")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("我是王老师", timeout=TIMEOUT)

    junior = contexts[2].new_page()
    junior.on("dialog", lambda d: d.accept())
    agent_login(junior, base, username="agent2")
    expect(junior.locator("#mine-list .conv-item")).to_have_count(2, timeout=TIMEOUT)  # the two who waited

    senior.click("#transfer-open")
    expect(senior.locator("#transfer-target option", has_text="李老师")).to_contain_text("2/3", timeout=TIMEOUT)
    senior.select_option("#transfer-target", value=f"u:{orgs.a.users['agent2'].id}")
    senior.fill("#transfer-note", "VIP 家长，孩子三年级，周末班意向强")
    senior.click("#transfer-submit")
    expect(site.locator(".edk-msg-system").last).to_contain_text("正在为您转接 李老师", timeout=TIMEOUT)
    expect(junior.locator("#mine-list .conv-item")).to_have_count(3, timeout=TIMEOUT)
    expect(site.locator(".edk-panel")).not_to_contain_text("周末班意向强")

    with database.session() as session:
        conv = session.scalars(select(Conversation).where(Conversation.contact_id == vip_id)).one()
        conv_id = conv.id
    junior.goto(f"{base}/console?c={conv_id}")
    expect(junior.locator("#ws-status.online")).to_have_count(1, timeout=TIMEOUT)  # the pane reloads on connect
    junior.wait_for_load_state("networkidle")
    expect(junior.locator("#messages")).to_contain_text("周末班意向强", timeout=TIMEOUT)  # the note, for staff
    junior.fill("#composer textarea", "李老师为您服务，周六上午有三年级的班～")
    junior.keyboard.press("Enter")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("李老师为您服务", timeout=TIMEOUT)
    junior.get_by_role("button", name="结束会话").click()
    star = site.locator('.edk-star[data-score="5"]')
    expect(star).to_be_visible(timeout=TIMEOUT)
    star.click()
    site.click(".edk-rate-submit")
    expect(site.locator(".edk-panel")).to_contain_text("感谢", timeout=TIMEOUT)
    expect(junior.locator(".csat")).to_have_text("★★★★★", timeout=TIMEOUT)  # stored: the console shows it

    with database.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        assert conv.assignee_id == orgs.a.users["agent2"].id and conv.csat_score == 5 and conv.priority == 10


def test_off_hours_visit_becomes_a_ticket_answered_next_morning(
        contexts: list[BrowserContext], live_server: LiveServer, orgs: TwoOrgs, database: Database) -> None:
    base = live_server.url
    today = dt.datetime.now(LOCAL_TZ).date()
    week = {day: [["08:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with database.session() as session:  # tonight counts as a holiday: the school is closed now
        hours_service.save(session, Actor(orgs.a.id, label="test"), group_id=None, enabled=True, closed_message="",
                           spec={"weekly": week, "holidays": [today.isoformat()]})
        session.commit()

    site = contexts[0].new_page()
    open_widget(site, base)
    send(site, "孩子初二物理跟不上，想咨询一下")
    expect(site.locator(".edk-msg-bot").last).to_be_visible(timeout=TIMEOUT)
    send(site, "转人工")
    notice = site.locator(".edk-msg-system").last
    expect(notice).to_contain_text("明天 08:00", timeout=TIMEOUT)
    expect(notice).to_contain_text("工单 #", timeout=TIMEOUT)
    send(site, "我的手机号 13912345678，麻烦老师明天联系我")
    with database.session() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.org_id == orgs.a.id)).one()
        ticket_id = ticket.id

    # Next morning: the school is open again and a teacher answers the ticket.
    with database.session() as session:
        hours_service.save(session, Actor(orgs.a.id, label="test"), group_id=None, enabled=False, closed_message="",
                           spec={"weekly": week})
        session.commit()
    teacher = contexts[1].new_page()
    agent_login(teacher, base, username="agent")
    teacher.goto(f"{base}/tickets")
    expect(teacher.locator("body")).to_contain_text("物理跟不上", timeout=TIMEOUT)
    teacher.goto(f"{base}/tickets/{ticket_id}")
    expect(teacher.locator("body")).to_contain_text("13912345678", timeout=TIMEOUT)
    teacher.check("#ticket-reply input[name=kind][value=reply]")
    teacher.fill("#ticket-reply textarea[name=text]", "您好，我是王老师。初二物理我们有周末提高班，今天下午给您回电～")
    teacher.click("#ticket-reply button[type=submit]")
    expect(teacher.locator("body")).to_contain_text("今天下午给您回电", timeout=TIMEOUT)

    # The parent comes back to the site: the answer is in the chat; their reply goes back onto the ticket.
    site.reload()
    site.click(".edk-bubble")
    expect(site.locator(".edk-msg-agent").last).to_contain_text("今天下午给您回电", timeout=TIMEOUT)
    send(site, "好的，谢谢老师")
    expect(site.locator('.edk-msg-visitor[data-status="sent"]').last).to_contain_text("好的，谢谢老师",
                                                                                    timeout=TIMEOUT)
    with database.session() as session:
        words = session.scalars(select(TicketComment.text).where(
            TicketComment.ticket_id == ticket_id, TicketComment.kind == CommentKind.visitor)).all()
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.first_responded_at is not None
        assert ticket.status == TicketStatus.open  # the parent's answer reopened it
    assert any("好的，谢谢老师" in w for w in words)
