"""The bot's hand-over through routing, on SQLite and PostgreSQL: rules and lifts decide group and priority; off
hours become tickets; the queue can be left for a call-back; a wait past the group's limit becomes a ticket."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, utcnow
from edudesk.hours import service as hours_service
from edudesk.inbound import service as inbound_service
from edudesk.localtime import LOCAL_TZ
from edudesk.routing import handover
from edudesk.routing import service as routing_service
from edudesk.tickets.models import Ticket, TicketComment, TicketSource
from tests.conftest import TwoOrgs
from tests.routing.conftest import Team, online

S = ConversationState
ALL_DAY = [["00:00", "24:00"]]


def say(database: Database, org_id: int, text: str, *, visitor: str = "v1", cid: str | None = None,
        payload: str | None = None, page_url: str | None = None) -> inbound_service.InboundResult:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id=org_id, channel="web", external_user_id=visitor, client_message_id=cid or f"{visitor}-{text}",
            text=text, payload=payload, page_url=page_url), agents_online=True)
        session.commit()
        return result


def conversation(database: Database, conv_id: int) -> Conversation:
    with database.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        session.expunge(conv)
        return conv


def transcript(database: Database, org_id: int, conv_id: int) -> list[dict[str, object]]:
    with database.session() as session:
        return conversations_service.messages_as_dicts(session, org_id, conv_id)


def tickets(database: Database, org_id: int) -> list[Ticket]:
    with database.session() as session:
        found = list(session.scalars(select(Ticket).where(Ticket.org_id == org_id).order_by(Ticket.id)))
        for t in found:
            session.expunge(t)
        return found


def closed_today(database: Database, org_id: int) -> None:
    today = dt.datetime.now(LOCAL_TZ).date()
    spec = {"weekly": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ALL_DAY),
            "holidays": [today.isoformat()]}
    with database.session() as session:
        hours_service.save(session, Actor(org_id, label="t"), group_id=None, spec=spec, enabled=True,
                           closed_message="")
        session.commit()


def test_rules_route_and_vip_is_lifted(database: Database, orgs: TwoOrgs, team: Team) -> None:
    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        english = routing_service.create_group(session, actor, "少儿英语")
        routing_service.save_rule(session, actor, name="英语页面", conditions={"page_contains": ["/english"]},
                                  group_id=english.id, priority=0, senior_first=False)
        routing_service.save_rule(session, actor, name="其余", conditions={}, group_id=team.group_id, priority=0,
                                  senior_first=False)
        session.commit()
    eng = say(database, orgs.a.id, "转人工", visitor="e", page_url="https://school.example/english/kids")
    assert (conversation(database, eng.conversation.id).group_id, eng.conversation.priority) == (english.id, 0)
    say(database, orgs.a.id, "你好", visitor="vip")
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == orgs.a.id, Contact.id.in_(
            select(Conversation.contact_id).where(Conversation.org_id == orgs.a.id)))).all()
        for c in contact:
            c.vip = c.id != eng.conversation.contact_id
        session.commit()
    vip = say(database, orgs.a.id, "转人工", visitor="vip")
    conv = conversation(database, vip.conversation.id)
    assert (conv.group_id, conv.priority, conv.senior_first) == (team.group_id, 10, True)
    # The VIP is first in line although they came last; the visitor is told where they stand.
    assert "您是下一位" in str(transcript(database, orgs.a.id, conv.id)[-1]["text"])


def test_a_free_agent_takes_over_at_once(database: Database, orgs: TwoOrgs, team: Team) -> None:
    with database.session() as session:
        routing_service.save_rule(session, Actor(orgs.a.id, label="t"), name="全部", conditions={},
                                  group_id=team.group_id, priority=0, senior_first=False)
        session.commit()
    online(database, team.users["li"].id)
    result = say(database, orgs.a.id, "转人工")
    conv = conversation(database, result.conversation.id)
    assert conv.state == S.assigned and conv.assignee_id == team.users["li"].id
    texts = [m["text"] for m in transcript(database, orgs.a.id, conv.id)]
    assert texts[-1] == "li老师 已接入，为您服务" and not any("排" in str(t) for t in texts)


def test_off_hours_hand_over_becomes_a_ticket_and_later_words_join_it(database: Database, orgs: TwoOrgs) -> None:
    closed_today(database, orgs.a.id)
    say(database, orgs.a.id, "孩子初二，物理跟不上")
    result = say(database, orgs.a.id, "转人工")
    conv = conversation(database, result.conversation.id)
    assert conv.state == S.bot  # nobody to queue for
    last = transcript(database, orgs.a.id, conv.id)[-1]
    [ticket] = tickets(database, orgs.a.id)
    assert ticket.source == TicketSource.off_hours and ticket.conversation_id == conv.id
    assert "明天 00:00" in str(last["text"]) and f"工单 #{ticket.id}" in str(last["text"])
    assert "物理跟不上" in ticket.subject or "转人工" in ticket.subject
    say(database, orgs.a.id, "我的电话 13812345678")
    with database.session() as session:
        words = session.scalars(select(TicketComment.text).where(TicketComment.ticket_id == ticket.id)).all()
    assert any("13812345678" in w for w in words)


def test_call_back_instead_of_waiting(database: Database, orgs: TwoOrgs) -> None:
    queued = say(database, orgs.a.id, "转人工")
    msgs = transcript(database, orgs.a.id, queued.conversation.id)
    assert msgs[-1]["buttons"] == [handover.CALLBACK_BUTTON.as_dict()]
    say(database, orgs.a.id, "留下电话，老师回电", payload=handover.CALLBACK_PAYLOAD)
    conv = conversation(database, queued.conversation.id)
    [ticket] = tickets(database, orgs.a.id)
    assert conv.state == S.bot and ticket.source == TicketSource.callback
    assert "请留下您的手机号" in str(transcript(database, orgs.a.id, conv.id)[-1]["text"])
    # The button pressed again later (not queued any more) is just text for the bot: no second ticket.
    say(database, orgs.a.id, "留下电话，老师回电", payload=handover.CALLBACK_PAYLOAD, cid="again")
    assert len(tickets(database, orgs.a.id)) == 1


def test_a_long_wait_becomes_a_ticket(database: Database, orgs: TwoOrgs, team: Team) -> None:
    with database.session() as session:
        routing_service.save_rule(session, Actor(orgs.a.id, label="t"), name="全部", conditions={},
                                  group_id=team.group_id, priority=0, senior_first=False)
        session.commit()
    queued = say(database, orgs.a.id, "转人工")
    with database.session() as session:
        job = session.scalars(select(jobs.Job).where(jobs.Job.kind == handover.QUEUE_TIMEOUT_JOB)).one()
        assert job.run_at > utcnow() + dt.timedelta(minutes=9)  # the group's ten minutes
        payload = dict(job.payload)
    # A job from an earlier wait (another queued_at) does nothing.
    with database.session() as session:
        handover.queue_timeout_job(session, {**payload, "queued_at": "2020-01-01T00:00:00+00:00"})
    assert conversation(database, queued.conversation.id).state == S.queued
    with database.session() as session:
        handover.queue_timeout_job(session, payload)
    conv = conversation(database, queued.conversation.id)
    [ticket] = tickets(database, orgs.a.id)
    assert conv.state == S.bot and ticket.source == TicketSource.queue_timeout and ticket.group_id == team.group_id
    assert f"工单 #{ticket.id}" in str(transcript(database, orgs.a.id, conv.id)[-1]["text"])
    with database.session() as session:  # run twice (a retried job): still one ticket
        handover.queue_timeout_job(session, payload)
    assert len(tickets(database, orgs.a.id)) == 1


def test_a_menu_choice_routes_the_hand_over(database: Database, orgs: TwoOrgs, team: Team) -> None:
    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        after_sales = routing_service.create_group(session, actor, "售后")
        routing_service.save_rule(session, actor, name="售后菜单", conditions={"button": ["menu:售后"]},
                                  group_id=after_sales.id, priority=1, senior_first=False)
        routing_service.save_rule(session, actor, name="其余", conditions={}, group_id=team.group_id, priority=0,
                                  senior_first=False)
        session.commit()
    say(database, orgs.a.id, "售后服务", payload="menu:售后")
    result = say(database, orgs.a.id, "转人工")
    conv = conversation(database, result.conversation.id)
    assert (conv.menu_choice, conv.group_id, conv.priority) == ("menu:售后", after_sales.id, 1)
    other = say(database, orgs.a.id, "转人工", visitor="v2")
    assert conversation(database, other.conversation.id).group_id == team.group_id
