"""Tickets through the service, on SQLite and PostgreSQL: creating, the status machine, SLA on business hours with
warnings and breaches from the jobs (run explicitly, at explicit instants), replies delivered into conversations,
the visitor writing again, mentions, custom fields, permissions and the automatic close."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from edudesk import jobs
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, NotFoundError, utcnow
from edudesk.errors import DomainError
from edudesk.hours.schedule import BusinessHours
from edudesk.leads.models import Lead
from edudesk.routing import service as routing_service
from edudesk.tickets import search, timers
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import CommentKind, TicketComment, TicketFieldDef, TicketSource
from edudesk.tickets.states import IllegalTransition
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import WebhookEvent
from edudesk.webhooks.urls import UrlPolicy
from tests.conftest import TwoOrgs
from tests.tickets.helpers import add_policy, at, load, make_ticket, published, say, set_hours

Editor = tickets_service.Editor


def staff(orgs: TwoOrgs, role: str = "agent", org: str = "a") -> Editor:
    return Editor.of_user(getattr(orgs, org).users[role])


def comments(database: Database, org_id: int, ticket_id: int) -> list[TicketComment]:
    with database.session() as session:
        return tickets_service.comments(session, org_id, ticket_id)


def latest_check(database: Database, ticket_id: int) -> jobs.Job:
    with database.session() as session:
        found = [j for j in session.scalars(select(jobs.Job).where(jobs.Job.kind == timers.SLA_CHECK_JOB)
                                            .order_by(jobs.Job.id)) if j.payload["ticket_id"] == ticket_id]
    assert found, "no SLA check scheduled"
    return found[-1]


def run_check(database: Database, payload: dict[str, Any], now: dt.datetime) -> None:
    with database.session() as session:
        timers.sla_check_job(session, payload, now=now)
        session.commit()


def change(database: Database, editor: Editor, ticket_id: int, now: dt.datetime | None = None,
           **values: Any) -> None:
    with database.session() as session:
        tickets_service.update_ticket(session, editor, ticket_id, now=now, **values)
        session.commit()


def test_a_ticket_from_a_conversation_links_the_lead_and_tells_the_consoles(database: Database,
                                                                            orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "孩子三年级，电话 13800138000，想退费", "m1")
    with published(database) as events:
        ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id, channel="ignored",
                                description="晚上留言：想退费，请回电")
    ticket = load(database, orgs.a.id, ticket_id)
    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.create")).one()
    assert ticket.lead_id == lead.id and ticket.contact_id == chat.conversation.contact_id
    assert ticket.channel == "web" and ticket.conversation_id == chat.conversation.id
    assert ticket.status.value == "new" and ticket.first_response_due_at is None  # no SLA policy yet
    [first] = comments(database, orgs.a.id, ticket_id)
    assert first.kind == CommentKind.visitor and first.text == "晚上留言：想退费，请回电"
    assert audit.org_id == orgs.a.id and audit.target_id == str(ticket_id)
    [created] = [e for e in events if e.type == "ticket.created"]
    assert created.topics == (conversations_service.agents_topic(orgs.a.id),)
    assert created.data["ticket"]["id"] == ticket_id and created.data["ticket"]["lead_id"] == lead.id


def test_staff_descriptions_are_notes_and_assigned_tickets_start_open(database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "你好", "m1")
    agent = orgs.a.users["agent"]
    ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id, source=TicketSource.agent,
                            description="家长要求周末回电 @李老师", assignee_id=agent.id,
                            actor=Actor(orgs.a.id, user_id=agent.id, label=agent.username))
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "open" and ticket.assignee_id == agent.id
    [note] = comments(database, orgs.a.id, ticket_id)
    assert note.kind == CommentKind.note and note.author_name == "王老师"
    assert note.mentions == [orgs.a.users["agent2"].id]


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"subject": "  ", "source": TicketSource.agent}, "empty"),
    ({"subject": "长" * 201, "source": TicketSource.api}, "too_long"),
    ({"priority": "critical"}, "bad_priority"),
    ({"source": "phone"}, "bad_source"),
    ({"description": "长" * 5001}, "too_long"),
    ({"custom_fields": {"salary": "1"}}, "unknown_field"),
])
def test_bad_input_is_refused_with_its_field(database: Database, orgs: TwoOrgs, kwargs: dict[str, Any],
                                             code: str) -> None:
    with pytest.raises(DomainError) as err:
        make_ticket(database, orgs.a.id, **kwargs)
    assert err.value.code == code and 400 <= err.value.status_code < 500


def test_routing_subjects_are_shortened_not_refused(database: Database, orgs: TwoOrgs) -> None:
    long_id = make_ticket(database, orgs.a.id, subject="留言：" + "长" * 300)
    empty_id = make_ticket(database, orgs.a.id, subject="", source=TicketSource.callback)
    assert len(load(database, orgs.a.id, long_id).subject) == 200
    assert load(database, orgs.a.id, empty_id).subject == "预约回电"


def test_another_orgs_records_cannot_be_attached(database: Database, orgs: TwoOrgs) -> None:
    chat_b = say(database, orgs.b.id, "你好", "m1")
    with database.session() as session:
        group_b = routing_service.create_group(session, Actor(orgs.b.id, label="t"), "乙组")
        session.commit()
    for kwargs in ({"conversation_id": chat_b.conversation.id}, {"contact_id": chat_b.conversation.contact_id},
                   {"group_id": group_b.id}, {"assignee_id": orgs.b.users["agent"].id}):
        with pytest.raises(NotFoundError):
            make_ticket(database, orgs.a.id, **kwargs)
    ticket_b = make_ticket(database, orgs.b.id)
    with database.session() as session, pytest.raises(NotFoundError):
        tickets_service.add_note(session, staff(orgs), ticket_b, "看看")
    with database.session() as session, pytest.raises(NotFoundError):
        tickets_service.update_ticket(session, staff(orgs, "admin"), ticket_b, status="solved")


def test_the_status_machine_refuses_illegal_moves_and_closed_is_final(database: Database, orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id)
    boss = staff(orgs, "supervisor")
    change(database, boss, ticket_id, status="solved")
    with pytest.raises(IllegalTransition):
        change(database, boss, ticket_id, status="pending")
    change(database, boss, ticket_id, status="closed")
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "closed" and ticket.closed_at is not None
    for values in ({"status": "open"}, {"priority": "high"}):
        with pytest.raises(DomainError) as err:
            change(database, boss, ticket_id, **values)
        assert err.value.code == "closed" and err.value.status_code == 409
    with database.session() as session, pytest.raises(DomainError):
        tickets_service.add_note(session, boss, ticket_id, "关闭后还能写吗")
    texts = [c.text for c in comments(database, orgs.a.id, ticket_id) if c.kind == CommentKind.system]
    assert texts == ["状态：新建 → 已解决（主管）", "状态：已解决 → 已关闭（主管）"]


def test_agents_edit_their_own_and_unassigned_tickets_supervisors_everything(database: Database,
                                                                             orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id)
    wang, li, boss = staff(orgs), staff(orgs, "agent2"), staff(orgs, "supervisor")
    with pytest.raises(DomainError) as err:
        change(database, wang, ticket_id, assignee_id=orgs.a.users["agent2"].id)
    assert err.value.code == "assign_others" and err.value.status_code == 403
    with database.session() as session:
        tickets_service.take(session, wang, ticket_id)
        session.commit()
    assert load(database, orgs.a.id, ticket_id).status.value == "open"  # taking a new ticket opens it
    with pytest.raises(DomainError) as err:
        change(database, li, ticket_id, priority="urgent")
    assert err.value.code == "not_yours"
    with database.session() as session:  # a colleague may still leave a note
        tickets_service.add_note(session, li, ticket_id, "这个家长上次也投诉过")
        session.commit()
    change(database, boss, ticket_id, assignee_id=orgs.a.users["agent2"].id, priority="high")
    change(database, li, ticket_id, assignee_id=None)  # an agent may hand back their own
    with database.session() as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).where(AuditEntry.target_type == "ticket")
                                                     .order_by(AuditEntry.id))]
    assert actions.count("ticket.assign") == 3
    with database.session() as session, pytest.raises(DomainError):
        tickets_service.delete_ticket(session, boss, ticket_id)  # admins only
    with database.session() as session:
        tickets_service.delete_ticket(session, staff(orgs, "admin"), ticket_id)
        session.commit()
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.delete")).one()
    with database.session() as session, pytest.raises(NotFoundError):
        tickets_service.get(session, orgs.a.id, ticket_id)


def test_sla_warnings_and_breaches_come_from_the_job_on_business_hours(database: Database, orgs: TwoOrgs) -> None:
    set_hours(database, orgs.a.id)
    add_policy(database, orgs.a.id, first_response=60, resolution=480)
    with published(database) as events:
        ticket_id = make_ticket(database, orgs.a.id, now=at(6, 17, 30))  # Friday 17:30
    ticket = load(database, orgs.a.id, ticket_id)
    # 30 minutes on Friday, then Monday 09:00: the weekend does not count.
    assert ticket.first_response_due_at == at(9, 9, 30)
    job = latest_check(database, ticket_id)
    assert job.run_at == at(9, 9, 18)  # 80 % of 60 minutes
    run_check(database, job.payload, at(9, 9, 20))
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.first_response_warned and ticket.first_response_breached_at is None
    warned = [e for e in events if e.type == "ticket.sla_warning"]
    assert len(warned) == 1 and warned[0].data["clock"] == "first_response"
    assert warned[0].topics == (conversations_service.agents_topic(orgs.a.id),)
    # The job that ran is stale now; running it again (at-least-once delivery) changes nothing.
    run_check(database, job.payload, at(9, 9, 25))
    assert len([e for e in events if e.type == "ticket.sla_warning"]) == 1
    breach_job = latest_check(database, ticket_id)
    assert breach_job.run_at == at(9, 9, 30)
    run_check(database, breach_job.payload, at(9, 9, 31))
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.first_response_breached_at == at(9, 9, 30)
    assert [e.data["clock"] for e in events if e.type == "ticket.sla_breached"] == ["first_response"]
    system = [c.text for c in comments(database, orgs.a.id, ticket_id) if c.kind == CommentKind.system]
    assert system == ["首次响应时限即将到期（03-09 09:30），请尽快处理", "首次响应已超时（时限 03-09 09:30）"]
    with database.session() as session:
        assert search.search(session, orgs.a.id, search.parse({"sla": "breached"}), me=None).total == 1
        assert search.search(session, orgs.a.id, search.parse({"sla": "at_risk"}), me=None).total == 0


def test_changes_reschedule_the_check_and_stale_jobs_do_nothing(database: Database, orgs: TwoOrgs) -> None:
    set_hours(database, orgs.a.id)
    add_policy(database, orgs.a.id, "普通", first_response=240, resolution=960, position=2)
    add_policy(database, orgs.a.id, "紧急", first_response=30, resolution=240, priority="urgent", position=1)
    ticket_id = make_ticket(database, orgs.a.id, now=at(2, 9))
    old = latest_check(database, ticket_id)
    assert old.run_at == at(2, 13, 12)  # 80 % of 240 business minutes: 180 before lunch, 12 after
    boss = staff(orgs, "supervisor")
    change(database, boss, ticket_id, now=at(2, 9, 10), priority="urgent")
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.first_response_due_at == at(2, 9, 30) and ticket.resolution_due_at == at(2, 14)
    new = latest_check(database, ticket_id)
    assert new.run_at == at(2, 9, 24) and new.payload["stamp"] != old.payload["stamp"]
    with published(database) as events:
        run_check(database, old.payload, at(2, 13, 12))  # stale: the ticket changed after it was scheduled
    assert events == [] and not load(database, orgs.a.id, ticket_id).first_response_warned
    run_check(database, new.payload, at(2, 9, 24))
    assert load(database, orgs.a.id, ticket_id).first_response_warned


def test_pending_pauses_resolution_and_the_visitor_reopens(database: Database, orgs: TwoOrgs) -> None:
    set_hours(database, orgs.a.id)
    add_policy(database, orgs.a.id, first_response=60, resolution=480)
    chat = say(database, orgs.a.id, "周末的课能调吗", "m1")
    ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id, now=at(2, 9))
    assert load(database, orgs.a.id, ticket_id).resolution_due_at == at(2, 18)
    wang = staff(orgs)
    with database.session() as session:
        tickets_service.add_reply(session, wang, ticket_id, "可以的，请问想调到哪天？", status="pending",
                                  now=at(2, 10))
        session.commit()
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "pending" and ticket.pending_since == at(2, 10)
    assert ticket.first_responded_at == at(2, 10) and ticket.assignee_id == wang.user_id
    assert ticket.first_response_breached_at is None  # answered within the hour
    # While pending nothing is watched: first response is met and the resolution clock stands still.
    with database.session() as session:
        assert timers.schedule_check(session, tickets_service.get(session, orgs.a.id, ticket_id), at(2, 10)) is None
    # The inbound pipeline hands every stored visitor message to the hook.
    with published(database) as events:
        reply = say(database, orgs.a.id, "周六上午吧", "m2")
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "open" and ticket.pending_since is None
    assert ticket.resolution_due_at is not None and ticket.resolution_due_at > at(2, 18)
    visitor = [c for c in comments(database, orgs.a.id, ticket_id) if c.kind == CommentKind.visitor]
    assert visitor[-1].text == "周六上午吧" and visitor[-1].message_id == reply.message.id
    with database.session() as session:
        texts = [m["text"] for m in conversations_service.messages_as_dicts(session, orgs.a.id,
                                                                            reply.conversation.id)]
    notice = f"您的留言已转给老师（工单 #{ticket_id}），老师回复后会在这里通知您。"
    assert texts.count(notice) == 1
    assert [e.data["changes"] for e in events if e.type == "ticket.updated"] == [{"status": ["pending", "open"]}]
    assert any(e.type == "ticket.commented" for e in events)
    # While open, more messages are added without telling the visitor again; the same message only once.
    more = say(database, orgs.a.id, "上午十点", "m3")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, more.conversation.id)
        msg = session.get(Message, more.message.id)
        assert msg is not None
        assert tickets_service.on_visitor_message(session, conv, msg) is not None  # a second call: no duplicate
        session.commit()
        texts = [m["text"] for m in conversations_service.messages_as_dicts(session, orgs.a.id, conv.id)]
    assert texts.count(notice) == 1
    assert [c.text for c in comments(database, orgs.a.id, ticket_id)].count("上午十点") == 1
    # A closed ticket is not reopened: the visitor's later words are not added to it.
    change(database, staff(orgs, "supervisor"), ticket_id, status="closed")
    say(database, orgs.a.id, "还有一个问题", "m4")
    assert "还有一个问题" not in [c.text for c in comments(database, orgs.a.id, ticket_id)]


def test_the_pause_moves_the_due_time_by_business_hours(database: Database, orgs: TwoOrgs) -> None:
    set_hours(database, orgs.a.id)
    add_policy(database, orgs.a.id, first_response=60, resolution=480)
    ticket_id = make_ticket(database, orgs.a.id, now=at(2, 9))
    boss = staff(orgs, "supervisor")
    change(database, boss, ticket_id, now=at(2, 10), status="pending")
    # Pending Monday 10:00 → Thursday 09:00: 7 h Monday, 8 h Tuesday, Wednesday a holiday = 15 business hours.
    change(database, boss, ticket_id, now=at(5, 9), status="open")
    # Monday 18:00 + 15 business hours: 8 on Tuesday, none on Wednesday, 7 on Thursday (lunch off) → 17:00.
    assert load(database, orgs.a.id, ticket_id).resolution_due_at == at(5, 17)
    # Solved and reopened: the time it spent solved is a pause too.
    change(database, boss, ticket_id, now=at(5, 10), status="solved")
    change(database, boss, ticket_id, now=at(5, 11), status="open")
    assert load(database, orgs.a.id, ticket_id).resolution_due_at == at(5, 18)


def test_replies_are_delivered_into_the_visitors_conversation(database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "请问退费怎么办理", "m1")
    ticket_id = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id)
    with published(database) as events, database.session() as session:
        comment = tickets_service.add_reply(session, staff(orgs), ticket_id, "您好，退费请带上收据到前台办理。")
        session.commit()
    with database.session() as session:
        msg = session.get(Message, comment.message_id)
        assert msg is not None and msg.conversation_id == chat.conversation.id
        assert msg.sender == SenderKind.agent and msg.sender_name == "王老师"
        assert msg.extra == {"ticket_id": ticket_id} and not msg.internal
    contact_topic = conversations_service.contact_topic(chat.conversation.contact_id)
    assert any(e.type == "message.created" and contact_topic in e.topics for e in events)
    assert load(database, orgs.a.id, ticket_id).status.value == "open"
    # The visitor's conversation has been closed since: the next reply opens a new one, without the bot's welcome.
    with database.session() as session:
        conv = session.get(Conversation, chat.conversation.id)
        assert conv is not None
        conv.state = ConversationState.closed
        session.commit()
    with database.session() as session:
        second = tickets_service.add_reply(session, staff(orgs), ticket_id, "收据丢了也可以，带身份证即可。",
                                           status="solved")
        session.commit()
        msg = session.get(Message, second.message_id)
        assert msg is not None and msg.conversation_id != chat.conversation.id
        new_conv = session.get(Conversation, msg.conversation_id)
        assert new_conv is not None and new_conv.contact_id == chat.conversation.contact_id
        assert new_conv.channel == "web"
        assert [m["text"] for m in conversations_service.messages_as_dicts(session, orgs.a.id, new_conv.id)] == [
            "收据丢了也可以，带身份证即可。"]
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.conversation_id == msg.conversation_id and ticket.status.value == "solved"


def test_a_reply_needs_a_visitor_and_text(database: Database, orgs: TwoOrgs) -> None:
    internal = make_ticket(database, orgs.a.id)  # no contact: an internal ticket
    with database.session() as session:
        with pytest.raises(DomainError) as err:
            tickets_service.add_reply(session, staff(orgs), internal, "你好")
        assert err.value.code == "no_contact"
        for text in ("", "   ", "长" * 5001):
            with pytest.raises(DomainError):
                tickets_service.add_reply(session, staff(orgs), internal, text)


def test_mentions_notify_and_list_under_mentioned_me(database: Database, orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id, subject="退费跟进")
    other = make_ticket(database, orgs.a.id, subject="别的工单")
    li = orgs.a.users["agent2"]
    with published(database) as events, database.session() as session:
        note = tickets_service.add_note(session, staff(orgs), ticket_id, "@李老师 请明天回电，@admin 知悉 <b>x</b>")
        tickets_service.add_note(session, staff(orgs), other, "没有提到谁，只有数字 [3]")
        session.commit()
    assert note.mentions == [li.id, orgs.a.users["admin"].id]
    [mention] = [e for e in events if e.type == "ticket.mention"]
    assert mention.data["user_ids"] == [li.id, orgs.a.users["admin"].id]
    assert mention.topics == (conversations_service.agents_topic(orgs.a.id),)
    with database.session() as session:
        for user, expected in ((li, [ticket_id]), (orgs.a.users["agent"], []), (orgs.a.users["admin"], [ticket_id])):
            result = search.search(session, orgs.a.id, search.parse({"mentioned": "me"}), me=user.id)
            assert [t.id for t in result.rows] == expected


def test_required_fields_are_enforced_when_solving(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        session.add(TicketFieldDef(org_id=orgs.a.id, key="campus", label="校区", kind="select",
                                   options=["西湖校区", "滨江校区"], required=True))
        session.commit()
    ticket_id = make_ticket(database, orgs.a.id)  # routing may create it without the field
    boss = staff(orgs, "supervisor")
    with pytest.raises(DomainError) as err:
        change(database, boss, ticket_id, status="solved")
    assert err.value.code == "required_fields" and err.value.field == "custom_fields.campus"
    with pytest.raises(DomainError) as err:
        change(database, boss, ticket_id, custom_fields={"campus": "火星"})
    assert err.value.code == "bad_option"
    change(database, boss, ticket_id, custom_fields={"campus": "滨江校区"}, status="solved")
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.custom_fields == {"campus": "滨江校区"} and ticket.status.value == "solved"


def test_solved_tickets_close_by_themselves_unless_reopened(database: Database, orgs: TwoOrgs) -> None:
    first = make_ticket(database, orgs.a.id)
    second = make_ticket(database, orgs.a.id)
    boss = staff(orgs, "supervisor")
    change(database, boss, first, status="solved")
    change(database, boss, second, status="solved")
    change(database, boss, second, status="open")
    with database.session() as session:
        closing = {j.payload["ticket_id"]: j for j in session.scalars(
            select(jobs.Job).where(jobs.Job.kind == timers.AUTO_CLOSE_JOB))}
    assert set(closing) == {first, second}
    solved_at = load(database, orgs.a.id, first).solved_at
    assert solved_at is not None and closing[first].run_at == solved_at + timers.AUTO_CLOSE_AFTER
    for job in closing.values():
        with database.session() as session:
            timers.auto_close_job(session, job.payload, now=utcnow())
            timers.auto_close_job(session, job.payload, now=utcnow())  # idempotent
            session.commit()
    assert load(database, orgs.a.id, first).status.value == "closed"
    assert load(database, orgs.a.id, second).status.value == "open"


def test_the_apps_worker_runs_the_ticket_jobs(app: FastAPI, database: Database, orgs: TwoOrgs) -> None:
    set_hours(database, orgs.a.id, BusinessHours.always_open())
    add_policy(database, orgs.a.id, first_response=60, resolution=120)
    ticket_id = make_ticket(database, orgs.a.id, now=utcnow() - dt.timedelta(hours=3))
    with database.session() as session:  # a check is due now: both clocks are past their due times
        assert timers.scheduled_checks(session, orgs.a.id)[0].run_at <= utcnow()
    worker = jobs.Worker(database, app.state.ctx.jobs, worker_id="test")
    while worker.run_pending():
        pass
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.first_response_breached_at is not None and ticket.resolution_breached_at is not None
    with database.session() as session:
        failed = session.scalars(select(jobs.Job).where(jobs.Job.status != jobs.JobStatus.done)).all()
        assert failed == []


def test_ticket_webhooks_go_out_when_subscribed(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        endpoint, _ = webhooks_service.create_endpoint(
            session, Actor(orgs.a.id, label="t"), webhooks_service.secret_box("k" * 32), UrlPolicy(allow_private=True),
            webhooks_service.EndpointInput("http://127.0.0.1:9/x", ["lead.created"]))
        # The admin page offers only webhooks.event_types.KNOWN_EVENT_TYPES; ticket types are set directly here.
        endpoint.event_types = ["ticket.created", "ticket.status_changed"]
        session.commit()
    ticket_id = make_ticket(database, orgs.a.id)
    change(database, staff(orgs, "supervisor"), ticket_id, status="solved")
    make_ticket(database, orgs.b.id)
    with database.session() as session:
        stored = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [(e.org_id, e.type, e.subject_key, e.sequence) for e in stored] == [
        (orgs.a.id, "ticket.created", f"ticket:{ticket_id}", 1),
        (orgs.a.id, "ticket.status_changed", f"ticket:{ticket_id}", 2)]
    assert stored[1].payload["status"] == "solved" and stored[1].payload["previous_status"] == "new"


def test_the_message_a_ticket_was_opened_from_is_not_added_again(database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "晚上好，想咨询退费", "m1")
    with database.session() as session:  # routing opens the ticket in the same turn, before the hook runs
        conv = conversations_service.get(session, orgs.a.id, chat.conversation.id)
        msg = session.get(Message, chat.message.id)
        assert msg is not None
        ticket = tickets_service.create_ticket(
            session, org_id=orgs.a.id, source=TicketSource.off_hours, subject="非工作时间留言", contact_id=None,
            conversation_id=conv.id, description=msg.text)
        assert tickets_service.on_visitor_message(session, conv, msg) is ticket
        session.commit()
    assert [c.text for c in comments(database, orgs.a.id, ticket.id)] == ["晚上好，想咨询退费"]
