"""Deliver on commit: a committed reply goes out from the committing process without waiting for the job, and the
job stays the safety net (a crash before the send, an outage, a head held elsewhere), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.channels.base import ChannelRegistry, ChannelServices
from edudesk.channels.fake.adapter import FakeChannel
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import ChannelDelivery, Conversation, DeliveryState, Message, SenderKind
from edudesk.db import Database, utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.outbound import direct as outbound_direct
from edudesk.outbound import service as outbound_service
from tests.conftest import TwoOrgs
from tests.outbound.test_delivery import SECRET, drain, make_inbox, say, sent_texts
from tests.statements import recorded_sql


@pytest.fixture(autouse=True)
def fresh_outbox() -> Iterator[None]:
    FakeChannel.sent.clear()
    yield
    FakeChannel.sent.clear()


def deliverer(tmp_path: Path) -> outbound_service.Deliverer:
    registry = ChannelRegistry()
    registry.register(FakeChannel)
    registry.services = ChannelServices(settings=None, http=None, upload_dir=tmp_path)
    return outbound_service.Deliverer(registry, inboxes_service.secret_box(SECRET), tmp_path)


@pytest.fixture
def lane(database: Database, tmp_path: Path) -> Iterator[outbound_direct.Direct]:
    direct = outbound_direct.Direct(database, deliverer(tmp_path), threads=2)
    direct.attach(database.sessionmaker)
    yield direct
    direct.close()


@pytest.fixture
def worker(database: Database, tmp_path: Path) -> jobs.Worker:
    registry = jobs.JobRegistry()
    registry.register(outbound_service.DELIVER_JOB, deliverer(tmp_path))
    return jobs.Worker(database, registry, worker_id="safety-net")


def pending_jobs(database: Database) -> list[jobs.Job]:
    """The deliveries' jobs still waiting (a turn may enqueue other areas' jobs too: classifying the visitor)."""
    with database.session() as session:
        return list(session.scalars(select(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending,
                                                           jobs.Job.kind == outbound_service.DELIVER_JOB)))


def jobs_due_now(database: Database) -> None:
    """As if the grace had passed."""
    with database.session() as session:
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending)
                        .values(run_at=utcnow() - dt.timedelta(seconds=1)))
        session.execute(update(ChannelDelivery).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        session.commit()


def test_replies_leave_on_commit_and_close_their_jobs(database: Database, orgs: TwoOrgs,
                                                      lane: outbound_direct.Direct, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    assert lane.wait_idle()
    texts = sent_texts(inbox)
    assert len(texts) == 2 and texts[-1].startswith("一年级数学每学期 3200 元。")  # the welcome, then the answer
    with database.session() as session:
        assert set(session.scalars(select(ChannelDelivery.state))) == {DeliveryState.sent}
        statuses = list(session.scalars(select(jobs.Job.status).where(jobs.Job.kind == outbound_service.DELIVER_JOB)))
    assert statuses == [jobs.JobStatus.done] * 2  # nothing left for the safety net
    jobs_due_now(database)
    drain(worker)
    assert len(sent_texts(inbox)) == 2


def test_the_safety_job_is_due_later_and_wakes_no_loop(database: Database, orgs: TwoOrgs,
                                                       lane: outbound_direct.Direct) -> None:
    inbox = make_inbox(database, orgs.a.id)
    lane.submit = lambda queued: None  # type: ignore[method-assign]  # the process dies before its attempt
    result = say(database, orgs.a.id, inbox, "学费多少", "m1")
    assert FakeChannel.sent == []
    waiting = pending_jobs(database)
    assert len(waiting) == 2 and all(j.run_at > utcnow() + dt.timedelta(seconds=20) for j in waiting)
    with database.session() as session:
        assert jobs.ENQUEUED_KEY not in session.info
    assert result.replies


def test_a_crash_before_the_send_is_covered_by_the_job(database: Database, orgs: TwoOrgs,
                                                       lane: outbound_direct.Direct, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    lane.submit = lambda queued: None  # type: ignore[method-assign]
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    drain(worker)
    assert FakeChannel.sent == []  # not due yet: the direct attempt has its grace
    jobs_due_now(database)
    drain(worker)
    texts = sent_texts(inbox)
    assert len(texts) == 2 and texts[-1].startswith("一年级数学每学期 3200 元。")


def test_an_outage_leaves_the_line_to_the_job_in_order(database: Database, orgs: TwoOrgs,
                                                       lane: outbound_direct.Direct, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id, fail_sends=True)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    assert lane.wait_idle()
    say(database, orgs.a.id, inbox, "你们在哪个校区", "m2")
    assert lane.wait_idle()
    assert FakeChannel.sent == []
    with database.session() as session:
        rows = list(session.scalars(select(ChannelDelivery).order_by(ChannelDelivery.id)))
        # The head failed (again when the second message came after its retry was due); the rest wait behind it.
        assert len(rows) >= 3 and rows[0].attempts >= 1 and [r.attempts for r in rows[1:]] == [0] * (len(rows) - 1)
        head = session.get(Message, rows[0].message_id)
        assert head is not None and head.extra["delivery"]["state"] == "retrying"
        inboxes_service.update(session, Actor(orgs.a.id, label="t"), inboxes_service.get(session, orgs.a.id, inbox),
                               FakeChannel, inboxes_service.secret_box(SECRET), name="测试号",
                               data={"fail_sends": False})
        session.commit()
    jobs_due_now(database)
    drain(worker)
    with database.session() as session:
        ids = [m for (m,) in session.execute(select(ChannelDelivery.message_id).order_by(ChannelDelivery.id))]
        texts = [session.get(Message, i).text for i in ids]  # type: ignore[union-attr]
        assert set(session.scalars(select(ChannelDelivery.state))) == {DeliveryState.sent}
    assert [m.meta["message_id"] for _, m in FakeChannel.sent] == ids  # oldest first, each once
    assert len(texts) == len(rows)


def test_a_refusal_is_marked_for_the_agents(database: Database, orgs: TwoOrgs, lane: outbound_direct.Direct) -> None:
    inbox = make_inbox(database, orgs.a.id, refuse_sends=True)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    assert lane.wait_idle()
    with database.session() as session:
        rows = list(session.scalars(select(ChannelDelivery)))
        assert {r.state for r in rows} == {DeliveryState.failed}
        notes = [session.get(Message, r.message_id).extra["delivery"] for r in rows]  # type: ignore[union-attr]
    assert all(n["state"] == "failed" and n["code"] == "refused" for n in notes)
    assert pending_jobs(database) == []


def test_a_head_held_elsewhere_is_sent_on_by_its_holder(database: Database, orgs: TwoOrgs, tmp_path: Path,
                                                        lane: outbound_direct.Direct) -> None:
    inbox = make_inbox(database, orgs.a.id)
    say(database, orgs.a.id, inbox, "学费多少", "m1")
    assert lane.wait_idle()
    FakeChannel.sent.clear()
    # Another process stores an agent's reply and claims it; this process stores the next one meanwhile.
    other = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        with other.session() as session:
            conv = session.scalars(select(Conversation)).one()
            conversation_id = conv.id
            session.expunge(conv)
        with other.session() as session:
            conv = session.get(Conversation, conversation_id)
            assert conv is not None
            first = conversations_service.post_message(session, conv, SenderKind.agent, "第一句", sender_name="王老师")
            session.commit()
        holder = deliverer(tmp_path)
        with other.session() as session:
            head = holder.claim_next(session, conversation_id)
            assert head is not None and head.message_id == first.message.id
            with database.session() as mine:
                conv = mine.get(Conversation, conversation_id)
                assert conv is not None
                conversations_service.post_message(mine, conv, SenderKind.agent, "第二句", sender_name="王老师")
                mine.commit()
            assert lane.wait_idle()
            assert FakeChannel.sent == []  # not the head: it waits
            assert holder.deliver(session, head)
            outbound_direct.Direct(other, holder).run_line(conversation_id, {})  # the holder goes on down the line
    finally:
        other.dispose()
    assert [m.text for _, m in FakeChannel.sent] == ["第一句", "第二句"]


def test_many_lines_at_once_each_message_once_in_order(database: Database, orgs: TwoOrgs,
                                                       lane: outbound_direct.Direct, worker: jobs.Worker) -> None:
    inbox = make_inbox(database, orgs.a.id)
    say(database, orgs.a.id, inbox, "你好", "warm", user="openid-warm")  # the org's bot settings exist
    errors: list[BaseException] = []

    def parent(n: int) -> None:
        try:
            for k in range(3):
                say(database, orgs.a.id, inbox, "学费多少", f"p{n}-{k}", user=f"openid-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=parent, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert lane.wait_idle()
    jobs_due_now(database)
    drain(worker)  # whatever a lost race left to the safety net
    with database.session() as session:
        expected = session.scalar(select(func.count()).select_from(ChannelDelivery))
        by_conv: dict[int, list[int]] = {}
        for conv_id, msg_id in session.execute(select(ChannelDelivery.conversation_id, ChannelDelivery.message_id)
                                               .order_by(ChannelDelivery.id)):
            by_conv.setdefault(conv_id, []).append(msg_id)
    sent = [m.meta for _, m in FakeChannel.sent]
    assert len(sent) == expected and expected >= 4 * 4  # a welcome and three answers each, none twice
    for conv_id, ids in by_conv.items():
        assert [m["message_id"] for m in sent if m["conversation_id"] == conv_id] == ids


def test_a_line_costs_a_claim_a_read_and_one_outcome_statement_set_per_message(
        database: Database, orgs: TwoOrgs, lane: outbound_direct.Direct) -> None:
    inbox = make_inbox(database, orgs.a.id)
    submit, held = lane.submit, []
    lane.submit = held.extend  # type: ignore[method-assign]  # hold the commit's deliveries back
    say(database, orgs.a.id, inbox, "学费多少", "m1")  # the welcome and the answer: a line of two
    assert len(held) == 2
    with recorded_sql(database) as seen:
        submit(held)
        assert lane.wait_idle()
    assert len(sent_texts(inbox)) == 2
    words = [sql.split(None, 1)[0].upper() for sql in seen]
    # Per message: its read, its outcome and its job closed; the claim of the next head rides on the outcome.
    assert words.count("SELECT") == 2
    assert words.count("UPDATE") == 1 + 2 * 3
    assert len(words) == 9
