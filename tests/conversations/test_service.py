"""Conversation life cycle through the services, on SQLite and PostgreSQL, with the events each step publishes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from edudesk import jobs
from edudesk.channels.base import InboundMessage
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, NotFoundError, utcnow
from edudesk.errors import DomainError
from edudesk.events import DomainEvent, EventBus
from edudesk.inbound import service as inbound_service
from tests.conftest import TwoOrgs

S = ConversationState


@pytest.fixture
def published(database: Database) -> list[DomainEvent]:
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    return got


def say(database: Database, org_id: int, text: str, *, visitor: str = "v1", cid: str | None = None,
        online: bool = True) -> inbound_service.InboundResult:
    with database.session() as session:
        result = inbound_service.receive(
            session,
            InboundMessage(org_id=org_id, channel="web", external_user_id=visitor,
                           client_message_id=cid or f"{visitor}-{text}", text=text),
            agents_online=online,
        )
        session.commit()
        return result


def count_messages(database: Database, conversation_id: int) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id)) or 0)


def test_first_message_opens_a_conversation_with_welcome_and_bot_reply(database: Database, orgs: TwoOrgs,
                                                                       published: list[DomainEvent]) -> None:
    result = say(database, orgs.a.id, "你好")
    assert result.created
    assert result.conversation.state == S.bot
    with database.session() as session:
        msgs = conversations_service.messages_as_dicts(session, orgs.a.id, result.conversation.id)
    assert [m["sender"] for m in msgs] == ["bot", "visitor", "bot"]  # welcome, question, fallback
    assert msgs[0]["text"].startswith("您好")
    types = [e.type for e in published]
    assert types[0] == "conversation.created"
    assert types.count("message.created") == 3
    assert all(f"org:{orgs.a.id}:agents" in e.topics for e in published)


def test_retried_client_id_is_stored_once(database: Database, orgs: TwoOrgs, published: list[DomainEvent]) -> None:
    first = say(database, orgs.a.id, "价格", cid="c-1")
    before = count_messages(database, first.conversation.id)
    n_events = len(published)
    again = say(database, orgs.a.id, "价格", cid="c-1")
    assert not again.created
    assert again.message.id == first.message.id
    assert count_messages(database, first.conversation.id) == before
    assert len(published) == n_events  # a duplicate announces nothing


def test_same_client_id_in_another_org_is_independent(database: Database, orgs: TwoOrgs) -> None:
    a = say(database, orgs.a.id, "hi", cid="same")
    b = say(database, orgs.b.id, "hi", cid="same")
    assert a.created and b.created and a.message.id != b.message.id


def test_handoff_queues_and_tells_the_visitor(database: Database, orgs: TwoOrgs,
                                              published: list[DomainEvent]) -> None:
    result = say(database, orgs.a.id, "转人工")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, result.conversation.id)
        msgs = conversations_service.messages_as_dicts(session, orgs.a.id, conv.id)
    assert conv.state == S.queued and conv.handoff_reason == "visitor_request"
    assert "正在为您转接人工客服" in msgs[-1]["text"]
    assert "conversation.handoff" in [e.type for e in published]


def test_handoff_with_nobody_online_asks_for_contact_details(database: Database, orgs: TwoOrgs) -> None:
    result = say(database, orgs.a.id, "人工客服", online=False)
    with database.session() as session:
        msgs = conversations_service.messages_as_dicts(session, orgs.a.id, result.conversation.id)
    assert "暂时没有老师在线" in msgs[-1]["text"]


def test_three_misses_hand_over(database: Database, orgs: TwoOrgs) -> None:
    for i, text in enumerate(("食堂好吃吗", "校车几点", "有空调吗")):
        result = say(database, orgs.a.id, text, cid=f"m{i}")
    assert result.conversation.state == S.queued
    assert result.conversation.handoff_reason == "bot_misses"


def test_queued_visitor_keeps_talking_to_the_bot_and_keeps_their_place(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "转人工")
    result = say(database, orgs.a.id, "你好")
    assert result.conversation.state == S.queued
    assert [m.sender for m in result.replies] == [SenderKind.bot]
    again = say(database, orgs.a.id, "人工客服")  # asking again: where they stand, not a second hand-over
    with database.session() as session:
        msgs = conversations_service.messages_as_dicts(session, orgs.a.id, again.conversation.id)
    assert again.conversation.state == S.queued
    assert msgs[-1]["sender"] == "system" and "您是下一位" in msgs[-1]["text"]


def test_accept_reply_resolve_rate(database: Database, orgs: TwoOrgs, published: list[DomainEvent]) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    agent = orgs.a.users["agent"]
    with database.session() as session:
        conversations_service.accept(session, agent, conv_id)
        session.commit()
    assigned = [e for e in published if e.type == "conversation.assigned"]
    assert assigned and assigned[-1].data["agent"] == {"name": "王老师"}
    with database.session() as session:
        posted = conversations_service.send_agent_message(session, agent, conv_id, "您好，我是王老师", client_id="a1")
        session.commit()
        assert posted.message.sender == SenderKind.agent and posted.message.sender_name == "王老师"
    with database.session() as session:
        conversations_service.resolve(session, agent, conv_id, close_after_seconds=60)
        session.commit()
        job = session.scalars(select(jobs.Job).where(jobs.Job.kind == conversations_service.CLOSE_RESOLVED_JOB)).one()
        assert job.payload == {"conversation_id": conv_id, "org_id": orgs.a.id}
        assert job.run_at > utcnow() + dt.timedelta(seconds=50)
    with database.session() as session:
        contact_id = conversations_service.get(session, orgs.a.id, conv_id).contact_id
        conv = conversations_service.rate(session, orgs.a.id, contact_id, 5, "很耐心")
        session.commit()
        assert conv.state == S.closed and conv.csat_score == 5 and conv.csat_comment == "很耐心"
    assert [e.type for e in published][-1] == "conversation.rated"


def test_second_agent_cannot_take_an_accepted_conversation(database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    with database.session() as session:
        conversations_service.accept(session, orgs.a.users["agent"], conv_id)
        session.commit()
    with database.session() as session, pytest.raises(DomainError) as exc:
        conversations_service.accept(session, orgs.a.users["agent2"], conv_id)
    assert exc.value.code == "taken"
    with database.session() as session, pytest.raises(DomainError) as exc:
        conversations_service.send_agent_message(session, orgs.a.users["agent2"], conv_id, "我来")
    assert exc.value.code == "not_yours"


def test_supervisor_may_step_into_an_assigned_conversation(database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    with database.session() as session:
        conversations_service.accept(session, orgs.a.users["agent"], conv_id)
        session.commit()
    with database.session() as session:
        conversations_service.send_agent_message(session, orgs.a.users["supervisor"], conv_id, "我是主管")
        session.commit()


def test_agents_of_another_org_cannot_touch_it(database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    outsider = orgs.b.users["admin"]
    for action in (
        lambda s: conversations_service.accept(s, outsider, conv_id),
        lambda s: conversations_service.send_agent_message(s, outsider, conv_id, "hi"),
        lambda s: conversations_service.resolve(s, outsider, conv_id, close_after_seconds=1),
        lambda s: conversations_service.release(s, outsider, conv_id),
    ):
        with database.session() as session, pytest.raises(NotFoundError):
            action(session)
    with database.session() as session:
        assert conversations_service.get(session, orgs.a.id, conv_id).state == S.queued


@pytest.mark.parametrize("text,code", [("", "empty_message"), ("   ", "empty_message"), ("长" * 2001, "too_long")])
def test_bad_agent_messages_are_refused(database: Database, orgs: TwoOrgs, text: str, code: str) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    before = count_messages(database, conv_id)
    with database.session() as session, pytest.raises(DomainError) as exc:
        conversations_service.send_agent_message(session, orgs.a.users["agent"], conv_id, text)
    assert exc.value.code == code
    assert count_messages(database, conv_id) == before


@pytest.mark.parametrize("score", [0, 6, -1, "5", None, True, 2.5])
def test_rating_must_be_an_integer_from_one_to_five(database: Database, orgs: TwoOrgs, score: object) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    agent = orgs.a.users["agent"]
    with database.session() as session:
        conversations_service.resolve(session, agent, conv_id, close_after_seconds=60)
        contact_id = conversations_service.get(session, orgs.a.id, conv_id).contact_id
        session.commit()
    with database.session() as session, pytest.raises(DomainError) as exc:
        conversations_service.rate(session, orgs.a.id, contact_id, score, None)  # type: ignore[arg-type]
    assert exc.value.code == "bad_score"


def test_rating_an_unresolved_conversation_is_refused(database: Database, orgs: TwoOrgs) -> None:
    result = say(database, orgs.a.id, "你好")
    with database.session() as session, pytest.raises(DomainError) as exc:
        conversations_service.rate(session, orgs.a.id, result.conversation.contact_id, 5, None)
    assert exc.value.code == "not_rateable"


def test_visitor_writing_after_resolve_reopens_with_same_agent(database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    agent = orgs.a.users["agent"]
    with database.session() as session:
        conversations_service.accept(session, agent, conv_id)
        conversations_service.resolve(session, agent, conv_id, close_after_seconds=60)
        session.commit()
    again = say(database, orgs.a.id, "还有一个问题")
    assert again.conversation.id == conv_id
    assert again.conversation.state == S.assigned and again.conversation.assignee_id == agent.id


def test_closed_conversation_starts_a_new_one(database: Database, orgs: TwoOrgs) -> None:
    first = say(database, orgs.a.id, "转人工").conversation
    with database.session() as session:
        conversations_service.resolve(session, orgs.a.users["agent"], first.id, close_after_seconds=60)
        conversations_service.rate(session, orgs.a.id, first.contact_id, 4, None)
        session.commit()
    second = say(database, orgs.a.id, "你好").conversation
    assert second.id != first.id and second.contact_id == first.contact_id and second.state == S.bot


def test_visitor_rate_limit(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        for i in range(3):
            inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v9", f"r{i}", text="价格"),
                                    agents_online=True, max_per_minute=3)
        session.commit()
        with pytest.raises(DomainError) as exc:
            inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v9", "r9", text="价格"),
                                    agents_online=True, max_per_minute=3)
    assert exc.value.code == "rate_limited"


def test_unread_counts_and_mark_read(database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "转人工").conversation.id
    agent = orgs.a.users["agent"]
    with database.session() as session:
        conversations_service.accept(session, agent, conv_id)
        session.commit()
    say(database, orgs.a.id, "在吗")
    say(database, orgs.a.id, "孩子三年级")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, conv_id)
        assert conv.unread_count == 2
        conversations_service.mark_read(session, agent, conv)
        session.commit()
        assert conversations_service.get(session, orgs.a.id, conv_id).unread_count == 0


def test_console_lists(database: Database, orgs: TwoOrgs) -> None:
    queued = say(database, orgs.a.id, "转人工", visitor="q").conversation.id
    say(database, orgs.a.id, "你好", visitor="b")
    say(database, orgs.b.id, "转人工", visitor="other")
    with database.session() as session:
        lists = conversations_service.list_for_console(session, orgs.a.users["agent"])
    assert [r.conv.id for r in lists["queue"]] == [queued]
    assert len(lists["bot"]) == 1 and lists["mine"] == []
    assert lists["queue"][0].name.startswith("访客")


def test_nothing_is_published_when_the_transaction_rolls_back(database: Database, orgs: TwoOrgs,
                                                              published: list[DomainEvent]) -> None:
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(orgs.a.id, "web", "v", "x", text="你好"),
                                agents_online=True)
        session.rollback()
    assert published == []
