"""Messages of conversations on a connected channel go out through its adapter: in order, retried, never lost.

The fake adapter stands in for a push channel without buttons (as WeChat is); the delivery job runs through the
real job table and worker, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.channels.base import ChannelRegistry, ChannelServices, InboundMessage
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import ChannelDelivery, Conversation, DeliveryState, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, NotFoundError, utcnow
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.leads.models import Lead
from edudesk.outbound import service as outbound_service
from tests.conftest import TwoOrgs

SECRET = "test-secret-" + "x" * 20


@pytest.fixture(autouse=True)
def fresh_outbox() -> Iterator[None]:
    FakeChannel.sent.clear()
    yield
    FakeChannel.sent.clear()


@pytest.fixture
def worker(database: Database, tmp_path: Path) -> jobs.Worker:
    registry = ChannelRegistry()
    registry.register(FakeChannel)
    registry.services = ChannelServices(settings=None, http=None, upload_dir=tmp_path)
    job_registry = jobs.JobRegistry()
    job_registry.register(outbound_service.DELIVER_JOB, outbound_service.Deliverer(
        registry, inboxes_service.secret_box(SECRET), tmp_path))
    return jobs.Worker(database, job_registry, worker_id="test")


def drain(worker: jobs.Worker) -> None:
    for _ in range(20):
        if not worker.run_pending():
            return


def make_inbox(database: Database, org_id: int, **config: object) -> int:
    with database.session() as session:
        inbox = inboxes_service.create(session, Actor(org_id, label="t"), FakeChannel,
                                       inboxes_service.secret_box(SECRET), name="测试号",
                                       data={"account": "acc", "api_key": "sk-very-secret-value", **config})
        if not kb_service.text_owners(session, org_id, ["学费多少"]):
            kb_service.create_entry(session, Actor(org_id, label="t"), EntryInput(
                question="学费多少", answer="一年级数学每学期 3200 元。", similar=["学费多少钱"]))
        session.commit()
        return inbox.id


def say(database: Database, org_id: int, inbox_id: int, text: str, msg_id: str, user: str = "openid-1"
        ) -> inbound_service.InboundResult:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id, "fake", user, msg_id, text=text, inbox_id=inbox_id, capabilities=FakeChannel.capabilities),
            agents_online=True)
        session.commit()
        return result


def sent_texts(inbox_id: int) -> list[str]:
    return [m.text for i, m in FakeChannel.sent if i == inbox_id]


def test_bot_replies_go_out_in_order_and_once(database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    say(database, orgs.a.id, inbox, "学费多少", "m1")  # the platform resends: nothing new
    drain(worker)
    texts = sent_texts(inbox)
    assert texts[-1].startswith("一年级数学每学期 3200 元。")
    assert len(texts) == 2  # the welcome, then the answer
    assert FakeChannel.sent[0][1].external_user_id == "openid-1"
    with database.session() as session:
        states = set(session.scalars(select(ChannelDelivery.state)))
        conv = session.scalars(select(Conversation)).one()
    assert states == {DeliveryState.sent}
    assert conv.inbox_id == inbox and conv.channel == "fake" and conv.last_visitor_message_at is not None
    drain(worker)
    assert len(sent_texts(inbox)) == 2


def test_an_outage_keeps_messages_waiting_in_order(database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id, fail_sends=True)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    say(database, orgs.a.id, inbox, "你们在哪个校区", "m2")
    drain(worker)
    assert FakeChannel.sent == []
    with database.session() as session:
        rows = list(session.scalars(select(ChannelDelivery).order_by(ChannelDelivery.id)))
        assert all(r.state == DeliveryState.pending for r in rows)
        assert rows[0].attempts == 1 and rows[0].last_error and rows[1].attempts == 0  # the line waits behind it
        head = session.get(Message, rows[0].message_id)
        assert head is not None and head.extra["delivery"]["state"] == "retrying"
        # The channel is back; the retry is due.
        inboxes_service.update(session, Actor(orgs.a.id, label="t"), inboxes_service.get(session, orgs.a.id, inbox),
                               FakeChannel, inboxes_service.secret_box(SECRET), name="测试号",
                               data={"fail_sends": False})
        session.execute(update(ChannelDelivery).values(next_attempt_at=utcnow()))
        session.execute(update(jobs.Job).values(run_at=utcnow()))
        session.commit()
    drain(worker)
    with database.session() as session:
        messages = list(session.scalars(select(Message).where(Message.sender != SenderKind.visitor)
                                        .order_by(Message.id)))
        head = session.get(Message, rows[0].message_id)
        assert head is not None and head.extra["delivery"]["state"] == "sent"
    assert [m.meta["message_id"] for _, m in FakeChannel.sent] == [m.id for m in messages]


def test_a_refused_message_is_marked_failed_for_the_agents_and_the_line_moves_on(
        database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id, refuse_sends=True)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    drain(worker)
    with database.session() as session:
        rows = list(session.scalars(select(ChannelDelivery)))
        assert rows and all(r.state == DeliveryState.failed for r in rows)
        failed = session.get(Message, rows[0].message_id)
        assert failed is not None
        assert failed.extra["delivery"] == {"state": "failed", "error": "对方已拒收消息", "code": "refused"}


def test_outside_the_reply_window_a_reply_fails_or_goes_as_a_template(
        database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    plain = make_inbox(database, orgs.a.id)
    templated = make_inbox(database, orgs.a.id, template_fallback=True)
    say(database, orgs.a.id, plain, "学费多少", "p1", user="u-plain")
    say(database, orgs.a.id, templated, "学费多少", "t1", user="u-templ")
    drain(worker)
    FakeChannel.sent.clear()
    with database.session() as session:
        session.execute(update(Conversation).values(
            last_visitor_message_at=utcnow() - dt.timedelta(hours=49)))
        for conv in session.scalars(select(Conversation)):
            conversations_service.post_message(session, conv, SenderKind.agent, "您好，课表已发您～",
                                               sender_name="王老师")
        session.commit()
    drain(worker)
    assert sent_texts(plain) == []
    assert sent_texts(templated) == ["您好，课表已发您～"]
    with database.session() as session:
        late = {c.inbox_id: session.scalars(select(Message).where(Message.conversation_id == c.id)
                                            .order_by(Message.id.desc()).limit(1)).one()
                for c in session.scalars(select(Conversation))}
    assert late[plain].extra["delivery"]["code"] == "outside_reply_window"
    assert late[templated].extra["delivery"] == {"state": "sent", "via": "template"}


def test_choices_arrive_as_numbered_lines_and_a_number_picks_one(
        database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    say(database, orgs.a.id, inbox, "请问停车方便吗", "m1")  # nothing in the KB: the fallback offers choices
    drain(worker)
    offer = sent_texts(inbox)[-1]
    assert "回复数字选择：\n1. 转人工" in offer
    assert FakeChannel.sent[-1][1].buttons == ()
    result = say(database, orgs.a.id, inbox, "1", "m2")
    assert result.conversation.state == ConversationState.queued  # "1" was 转人工
    with database.session() as session:
        stored = session.get(Message, result.message.id)
        assert stored is not None and stored.text == "1"  # what the parent typed stays in the transcript


def test_a_score_typed_as_a_number_rates_the_conversation(
        database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    first = say(database, orgs.a.id, inbox, "转人工", "m1")
    with database.session() as session:
        agent = orgs.a.users["agent"]
        conversations_service.accept(session, agent, first.conversation.id)
        conversations_service.resolve(session, agent, first.conversation.id, close_after_seconds=600)
        session.commit()
    drain(worker)
    survey = sent_texts(inbox)[-1]
    assert "1. 非常满意" in survey and "5. 非常不满意" in survey
    say(database, orgs.a.id, inbox, "1", "m2")
    with database.session() as session:
        conv = session.get(Conversation, first.conversation.id)
        assert conv is not None and conv.state == ConversationState.closed and conv.csat_score == 5


def test_a_campaign_reaches_the_lead_created_later(database: Database, orgs: TwoOrgs, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    with database.session() as session:
        inbound_service.visitor_arrived(session, InboundMessage(
            orgs.a.id, "fake", "openid-9", None, inbox_id=inbox, campaign="spring2027",
            attribution={"qr_scene": "spring2027"}), bots=bot_service.make_runtime(database))
        session.commit()
    say(database, orgs.a.id, inbox, "我的电话 13800138000", "m1", user="openid-9")
    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
    assert lead.source_channel == "fake" and lead.campaign == "spring2027"
    assert lead.attribution == {"qr_scene": "spring2027", "campaign": "spring2027"}


def test_inboxes_of_another_org_are_not_found(database: Database, orgs: TwoOrgs) -> None:
    inbox = make_inbox(database, orgs.a.id)
    with database.session() as session:
        with pytest.raises(NotFoundError):
            inboxes_service.get(session, orgs.b.id, inbox)
        row = session.get(Inbox, inbox)
        assert row is not None and "very-secret" not in row.secrets_encrypted + str(row.settings)
        config = inboxes_service.config_of(row, FakeChannel.config_model, inboxes_service.secret_box(SECRET))
        assert config.api_key.get_secret_value() == "sk-very-secret-value"  # type: ignore[attr-defined]
