"""The ticket pages through the real app: roles, CSRF, filters, saved views, bad input, other orgs' ids, escaping,
phone masking on the lead card, creating from a conversation and the admin page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.routing import service as routing_service
from edudesk.tickets.models import SlaPolicy, Ticket, TicketComment, TicketFieldDef, TicketPriority, TicketView
from tests.conftest import TwoOrgs, login
from tests.tickets.helpers import load, make_ticket, say

XSS = "<script>alert('x')</script>"


def ids_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="ticket-(\d+)"', html)]


def test_the_list_filters_sorts_and_pages(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    agent = orgs.a.users["agent"]
    urgent = make_ticket(database, orgs.a.id, subject="紧急：退费", priority=TicketPriority.urgent)
    mine = make_ticket(database, orgs.a.id, subject="调课申请", assignee_id=agent.id)
    low = make_ticket(database, orgs.a.id, subject="发票", priority=TicketPriority.low)
    foreign = make_ticket(database, orgs.b.id, subject="乙机构的工单")
    login(client, "alpha", "agent")
    page = client.get("/tickets")
    assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
    assert sorted(ids_on(page.text)) == [urgent, mine, low] and "乙机构的工单" not in page.text
    assert ids_on(client.get("/tickets?assignee=me").text) == [mine]
    assert sorted(ids_on(client.get("/tickets?assignee=unassigned").text)) == [urgent, low]
    assert ids_on(client.get("/tickets?priority=urgent").text) == [urgent]
    assert ids_on(client.get("/tickets?q=退费").text) == [urgent]
    assert ids_on(client.get(f"/tickets?q=%23{mine}").text) == [mine]
    assert ids_on(client.get("/tickets?status=open").text) == [mine]
    assert ids_on(client.get("/tickets?sort=priority").text)[0] == urgent
    assert ids_on(client.get("/tickets?sort=priority").text)[-1] == low
    assert ids_on(client.get("/tickets?source=api").text) == []
    assert ids_on(client.get("/tickets?since=2000-01-01&until=2000-01-02").text) == []
    assert len(ids_on(client.get("/tickets?since=2000-01-01").text)) == 3
    # Nonsense filters are ignored, not errors; hostile ones are just text.
    for query in ("status=won&priority=x&assignee=evil&sla=x&sort=x&since=tomorrow",
                  "q=' OR 1=1 --", "q=100%25", f"q={foreign}", "group=999999"):
        assert client.get(f"/tickets?{query}").status_code == 200, query
    assert ids_on(client.get(f"/tickets?q=%23{foreign}").text) == []
    assert client.get("/tickets?page=0").status_code == 422


def test_pages_of_fifty(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    for n in range(53):
        make_ticket(database, orgs.a.id, subject=f"工单{n}")
    login(client, "alpha", "agent")
    assert len(ids_on(client.get("/tickets").text)) == 50
    second = client.get("/tickets?page=2").text
    assert len(ids_on(second)) == 3 and "2 / 2" in second


def test_output_is_escaped(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, XSS, "m1")
    ticket_id = make_ticket(database, orgs.a.id, subject=XSS, description=XSS, conversation_id=chat.conversation.id)
    csrf = login(client, "alpha", "agent")
    client.post(f"/tickets/{ticket_id}/comments", data={"kind": "note", "text": XSS, "csrf_token": csrf})
    for html in (client.get("/tickets").text, client.get(f"/tickets/{ticket_id}").text):
        assert XSS not in html and "&lt;script&gt;" in html


def test_forms_need_the_csrf_token(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id)
    login(client, "alpha", "admin")
    for url, data in ((f"/tickets/{ticket_id}", {"status": "solved"}),
                      (f"/tickets/{ticket_id}/comments", {"kind": "note", "text": "x"}),
                      (f"/tickets/{ticket_id}/take", {}), (f"/tickets/{ticket_id}/delete", {}),
                      ("/tickets/views", {"name": "v"}),
                      ("/admin/tickets/sla", {"name": "x", "first_response_minutes": "1",
                                              "resolution_minutes": "2"})):
        resp = client.post(url, data={**data, "csrf_token": "forged"})
        assert resp.status_code == 400 and "页面已过期" in resp.text, url
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "new" and ticket.assignee_id is None
    with database.session() as session:
        assert len(session.scalars(select(TicketComment)).all()) == 1  # the description only
        assert session.scalars(select(TicketView)).all() == [] and session.scalars(select(SlaPolicy)).all() == []


def test_the_header_form_with_bad_input(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id, subject="原标题")
    with database.session() as session:
        group_b = routing_service.create_group(session, Actor(orgs.b.id, label="t"), "乙组")
        session.add(TicketFieldDef(org_id=orgs.a.id, key="refund", label="退费金额", kind="number"))
        session.commit()
    csrf = login(client, "alpha", "agent")
    url = f"/tickets/{ticket_id}"
    for data, status, message in (
            ({"priority": "critical"}, 422, "无效的优先级"),
            ({"priority": "100%"}, 422, "无效的优先级：100%"),  # user text in a message is not a format string
            ({"subject": ""}, 422, "标题不能为空"),
            ({"subject": "长" * 300}, 422, "标题不能超过 200 个字"),
            ({"cf_refund": "很多"}, 422, "“退费金额”须是数字"),
            ({"status": "pending", "assignee_id": str(orgs.a.users["agent2"].id)}, 403, "客服只能把工单分配给自己"),
            ({"status": "closed", "priority": "nope"}, 422, "无效的优先级")):
        resp = client.post(url, data={**data, "csrf_token": csrf})
        assert resp.status_code == status and message in resp.text, data
        assert 'class="field-error"' in resp.text
    assert client.post(url, data={"group_id": str(group_b.id), "csrf_token": csrf}).status_code == 404
    assert client.post(url, data={"assignee_id": str(orgs.b.users["agent"].id), "csrf_token": csrf}
                       ).status_code == 404
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.subject == "原标题" and ticket.status.value == "new" and ticket.group_id is None
    ok = client.post(url, data={"subject": "新标题", "priority": "high", "status": "open", "cf_refund": "300",
                                "assignee_id": str(orgs.a.users["agent"].id), "csrf_token": csrf})
    assert ok.status_code == 200 and "已保存" in ok.text
    ticket = load(database, orgs.a.id, ticket_id)
    assert (ticket.subject, ticket.priority.value, ticket.status.value) == ("新标题", "high", "open")
    assert ticket.custom_fields == {"refund": 300} and ticket.assignee_id == orgs.a.users["agent"].id


def test_agents_cannot_change_a_colleagues_ticket_but_may_note(client: TestClient, database: Database,
                                                              orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "你好", "m1")
    ticket_id = make_ticket(database, orgs.a.id, assignee_id=orgs.a.users["agent2"].id,
                            conversation_id=chat.conversation.id)
    csrf = login(client, "alpha", "agent")
    page = client.get(f"/tickets/{ticket_id}").text
    assert "这张工单由其他同事负责" in page
    resp = client.post(f"/tickets/{ticket_id}", data={"status": "solved", "csrf_token": csrf})
    assert resp.status_code == 403
    resp = client.post(f"/tickets/{ticket_id}/comments", data={"kind": "reply", "text": "越权回复", "csrf_token": csrf})
    assert resp.status_code == 403 and "越权回复" in resp.text  # what was typed is kept in the box
    assert client.post(f"/tickets/{ticket_id}/take", data={"csrf_token": csrf}).status_code == 403
    note = client.post(f"/tickets/{ticket_id}/comments", data={"kind": "note", "text": "@李老师 家长很着急",
                                                               "csrf_token": csrf})
    assert note.status_code == 200 and "备注已保存" in note.text
    assert client.post(f"/tickets/{ticket_id}/delete", data={"csrf_token": csrf}).status_code == 403
    client.cookies.clear()
    login(client, "alpha", "agent2")
    mentioned = client.get("/tickets?mentioned=me").text
    assert ids_on(mentioned) == [ticket_id]


def test_reply_from_the_page_reaches_the_visitor(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "请问周六有课吗", "m1")
    ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id)
    csrf = login(client, "alpha", "agent")
    for data, message in (({"kind": "reply", "text": "  "}, "回复不能为空"),
                          ({"kind": "reply", "text": "长" * 5001}, "回复不能超过"),
                          ({"kind": "shout", "text": "x"}, "请选择回复访客或内部备注"),
                          ({"kind": "reply", "text": "x", "status": "bogus"}, "无效的状态")):
        resp = client.post(f"/tickets/{ticket_id}/comments", data={**data, "csrf_token": csrf})
        assert 400 <= resp.status_code < 500 and message in resp.text, data
    resp = client.post(f"/tickets/{ticket_id}/comments", data={"kind": "reply", "text": "周六上午有课",
                                                               "status": "pending", "csrf_token": csrf})
    assert resp.status_code == 200 and "已发送给访客" in resp.text
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "pending" and ticket.assignee_id == orgs.a.users["agent"].id
    page = client.get(f"/tickets/{ticket_id}").text
    assert page.count("周六上午有课") == 2  # the timeline and the transcript
    assert "请问周六有课吗" in page  # the source conversation's transcript


def test_lead_card_masks_the_phone_for_agents_not_responsible(client: TestClient, database: Database,
                                                              orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "孩子三年级，电话 13800138000", "m1")
    ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id, subject="回电")
    login(client, "alpha", "agent")
    page = client.get(f"/tickets/{ticket_id}").text
    card = page[page.index('id="ticket-lead"'):page.index('id="ticket-transcript"')]
    assert "138****8000" in card and "13800138000" not in card and "三年级" in card
    csrf = login(client, "alpha", "agent")
    client.post(f"/tickets/{ticket_id}/take", data={"csrf_token": csrf})
    page = client.get(f"/tickets/{ticket_id}").text
    card = page[page.index('id="ticket-lead"'):page.index('id="ticket-transcript"')]
    assert "13800138000" in card  # the assignee has to call back
    client.cookies.clear()
    login(client, "alpha", "supervisor")
    assert "13800138000" in client.get(f"/tickets/{ticket_id}").text


def test_saved_views_personal_and_shared(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    urgent = make_ticket(database, orgs.a.id, priority=TicketPriority.urgent)
    make_ticket(database, orgs.a.id)
    csrf = login(client, "alpha", "agent")
    resp = client.post("/tickets/views", data={"name": "我的紧急", "query": "priority=urgent&evil=1",
                                               "csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    view_url = resp.headers["location"]
    assert ids_on(client.get(view_url).text) == [urgent]
    again = client.post("/tickets/views", data={"name": "我的紧急", "query": "", "csrf_token": csrf})
    assert again.status_code == 422 and "已有名为" in again.text
    shared = client.post("/tickets/views", data={"name": "全员", "shared": "1", "query": "", "csrf_token": csrf})
    assert shared.status_code == 403 and "只有主管和管理员" in shared.text
    assert client.post("/tickets/views", data={"name": "", "query": "", "csrf_token": csrf}).status_code == 422
    with database.session() as session:
        mine = session.scalars(select(TicketView)).one()
        assert mine.filters == {"priority": "urgent"} and mine.owner_id == orgs.a.users["agent"].id
    client.cookies.clear()
    csrf = login(client, "alpha", "supervisor")
    assert client.get(view_url).status_code == 404  # someone else's personal view
    assert client.post(f"/tickets/views/{mine.id}/delete", data={"csrf_token": csrf}).status_code == 404
    resp = client.post("/tickets/views", data={"name": "超时工单", "shared": "1", "query": "sla=breached",
                                               "csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    shared_id = int(resp.headers["location"].rsplit("=", 1)[1])
    client.cookies.clear()
    csrf = login(client, "alpha", "agent")
    listing = client.get("/tickets").text
    assert "超时工单" in listing and "我的紧急" in listing
    assert client.post(f"/tickets/views/{shared_id}/delete", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/tickets/views/{mine.id}/delete", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    client.cookies.clear()
    login(client, "beta", "admin")
    assert client.get(f"/tickets?view={shared_id}").status_code == 404
    assert "超时工单" not in client.get("/tickets").text
    with database.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "ticket_view.delete")).one()


def test_create_from_a_conversation(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "想把周六的课调到周日", "m1")
    chat_b = say(database, orgs.b.id, "乙机构的访客", "m1")
    csrf = login(client, "alpha", "agent")
    url = f"/console/c/{chat.conversation.id}/ticket"
    form = client.get(url, headers={"hx-request": "true"})
    assert form.status_code == 200 and 'name="subject"' in form.text and "想把周六的课调到周日" in form.text
    bad = client.post(url, data={"subject": " ", "priority": "normal", "csrf_token": csrf},
                      headers={"hx-request": "true"})
    assert bad.status_code == 422 and "标题不能为空" in bad.text
    bad = client.post(url, data={"subject": "调课", "priority": "whenever", "csrf_token": csrf})
    assert bad.status_code == 422 and "无效的优先级" in bad.text
    made = client.post(url, data={"subject": "调课申请", "priority": "high", "note": "家长说周日上午都行",
                                  "csrf_token": csrf}, headers={"hx-request": "true"})
    assert made.status_code == 200 and "已创建工单" in made.text
    ticket_id = int(re.search(r'href="/tickets/(\d+)"', made.text).group(1))  # type: ignore[union-attr]
    assert f'"id": {ticket_id}' in made.headers["hx-trigger"]
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.source.value == "agent" and ticket.priority.value == "high"
    assert ticket.assignee_id == orgs.a.users["agent"].id and ticket.conversation_id == chat.conversation.id
    plain = client.post(url, data={"subject": "第二张", "csrf_token": csrf, "assign_to_me": "0"},
                        follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"].startswith("/tickets/")
    assert client.post(f"/console/c/{chat_b.conversation.id}/ticket",
                       data={"subject": "越权", "csrf_token": csrf}).status_code == 404
    with database.session() as session:
        assert len(session.scalars(select(Ticket).where(Ticket.org_id == orgs.b.id)).all()) == 0
    assert client.post(url, data={"subject": "x", "csrf_token": "forged"}).status_code == 400


def test_the_admin_page_for_fields_and_sla(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "supervisor")
    assert client.get("/admin/tickets").status_code == 200
    assert client.post("/admin/tickets/sla", data={"name": "x", "first_response_minutes": "5",
                                                   "resolution_minutes": "10", "csrf_token": csrf}).status_code == 403
    client.cookies.clear()
    csrf = login(client, "alpha", "admin")
    for data, message in (({"name": "", "first_response_minutes": "5", "resolution_minutes": "10"}, "策略名称不能为空"),
                          ({"name": "x", "first_response_minutes": "abc", "resolution_minutes": "10"}, "须是整数"),
                          ({"name": "x", "first_response_minutes": "60", "resolution_minutes": "10"}, "不能短于"),
                          ({"name": "x", "first_response_minutes": "5", "resolution_minutes": "10",
                            "priority": "asap"}, "优先级须是"),
                          ({"name": "x", "first_response_minutes": "5", "resolution_minutes": "10",
                            "warn_percent": "150"}, "预警比例")):
        resp = client.post("/admin/tickets/sla", data={**data, "csrf_token": csrf})
        assert resp.status_code == 422 and message in resp.text and 'class="field-error"' in resp.text, data
        assert f'value="{data["name"]}"' in resp.text  # what was typed stays
    ok = client.post("/admin/tickets/sla", data={"name": "紧急 <b>", "priority": "urgent",
                                                 "first_response_minutes": "30", "resolution_minutes": "240",
                                                 "enabled": "1", "csrf_token": csrf})
    assert ok.status_code == 200 and "SLA 策略已添加" in ok.text and "紧急 &lt;b&gt;" in ok.text
    with database.session() as session:
        policy = session.scalars(select(SlaPolicy)).one()
    assert (policy.org_id, policy.priority, policy.resolution_minutes, policy.enabled) == (orgs.a.id, "urgent", 240,
                                                                                            True)
    resp = client.post(f"/admin/tickets/sla/{policy.id}", data={"name": "紧急", "first_response_minutes": "20",
                                                                "resolution_minutes": "240", "csrf_token": csrf})
    assert resp.status_code == 200
    field = client.post("/admin/tickets/fields", data={"key": "campus", "label": "校区", "kind": "select",
                                                       "options": "西湖校区，滨江校区", "required": "1", "enabled": "1",
                                                       "csrf_token": csrf})
    assert field.status_code == 200 and "字段已添加" in field.text
    dup = client.post("/admin/tickets/fields", data={"key": "campus", "label": "校区2", "kind": "text",
                                                     "csrf_token": csrf})
    assert dup.status_code == 422 and "已存在" in dup.text
    bad_key = client.post("/admin/tickets/fields", data={"key": "校区", "label": "x", "csrf_token": csrf})
    assert bad_key.status_code == 422 and "字段标识" in bad_key.text
    with database.session() as session:
        d = session.scalars(select(TicketFieldDef)).one()
    assert d.options == ["西湖校区", "滨江校区"] and d.required
    assert client.post(f"/admin/tickets/fields/{d.id}/delete", data={"csrf_token": csrf}).status_code == 200
    assert client.post(f"/admin/tickets/sla/{policy.id}/delete", data={"csrf_token": csrf}).status_code == 200
    with database.session() as session:
        actions = {a.action for a in session.scalars(select(AuditEntry))}
    assert {"sla_policy.create", "sla_policy.update", "sla_policy.delete", "ticket_field.create",
            "ticket_field.delete"} <= actions
    client.cookies.clear()
    login(client, "alpha", "agent")
    assert client.get("/admin/tickets").status_code == 403


def test_signed_out_visitors_are_sent_to_login(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id)
    assert client.get("/tickets", follow_redirects=False).headers["location"] == "/login"
    assert client.get(f"/tickets/{ticket_id}", follow_redirects=False).status_code == 303


def test_pages_in_english(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "孩子三年级，电话 13800138000", "m1")
    ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id)
    client.cookies.set("edudesk_lang", "en")
    login(client, "alpha", "admin")
    listing = client.get("/tickets").text
    assert "My unresolved tickets" in listing and "Off-hours message" in listing
    detail = client.get(f"/tickets/{ticket_id}").text
    assert "Service targets (in business hours)" in detail and "Conversation transcript" in detail
    assert "Ticket fields" in client.get("/admin/tickets").text
