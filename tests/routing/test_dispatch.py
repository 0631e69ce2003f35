"""Automatic assignment on SQLite and PostgreSQL: queue order, VIP first, seniors first, presence, capacity."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, utcnow
from edudesk.errors import DomainError
from edudesk.events import DomainEvent, EventBus
from edudesk.routing import dispatch, presence
from edudesk.routing.models import Strategy
from tests.conftest import TwoOrgs
from tests.routing.conftest import Team, assignee, make_team, online, queue

S = ConversationState
T0 = utcnow() - dt.timedelta(minutes=30)


def run(database: Database, org_id: int) -> list[dispatch.Assignment]:
    with database.session() as session:
        done = dispatch.dispatch(session, org_id)
        session.commit()
        return done


def test_nobody_online_nobody_assigned(database: Database, team: Team) -> None:
    conv = queue(database, team.org_id, "v1", group_id=team.group_id)
    assert run(database, team.org_id) == []
    assert assignee(database, conv) is None


def test_vip_jumps_the_queue_and_goes_to_the_senior(database: Database, team: Team) -> None:
    first = queue(database, team.org_id, "v1", group_id=team.group_id, queued_at=T0)
    second = queue(database, team.org_id, "v2", group_id=team.group_id, queued_at=T0 + dt.timedelta(minutes=1))
    vip = queue(database, team.org_id, "vip", group_id=team.group_id, priority=10, senior_first=True,
                queued_at=T0 + dt.timedelta(minutes=5))
    online(database, team.users["li"].id, max_concurrent=1)
    online(database, team.users["zhang"].id, max_concurrent=1)
    done = run(database, team.org_id)
    assert done[0] == dispatch.Assignment(vip, team.users["zhang"].id)  # first served, by the level-5 member
    assert done[1] == dispatch.Assignment(first, team.users["li"].id)  # then the longest waiting
    assert assignee(database, second) is None  # everyone is full


def test_capacity_is_never_exceeded_and_freed_seats_refill(database: Database, team: Team) -> None:
    convs = [queue(database, team.org_id, f"v{i}", group_id=team.group_id, queued_at=T0 + dt.timedelta(seconds=i))
             for i in range(5)]
    online(database, team.users["zhao"].id, max_concurrent=2)
    assert [a.conversation_id for a in run(database, team.org_id)] == convs[:2]
    assert run(database, team.org_id) == []  # full: nothing more
    with database.session() as session:
        conversations_service.resolve(session, team.users["zhao"], convs[0], close_after_seconds=60)
        session.commit()
    assert [a.conversation_id for a in run(database, team.org_id)] == [convs[2]]


@pytest.mark.parametrize("status", ["busy", "away", "offline"])
def test_only_online_agents_get_new_conversations(database: Database, team: Team, status: str) -> None:
    queue(database, team.org_id, "v1", group_id=team.group_id)
    online(database, team.users["zhao"].id, status=status)
    assert run(database, team.org_id) == []


def test_a_silent_console_means_offline(database: Database, team: Team) -> None:
    queue(database, team.org_id, "v1", group_id=team.group_id)
    online(database, team.users["zhao"].id, seen=utcnow() - presence.STALE_AFTER - dt.timedelta(seconds=1))
    assert run(database, team.org_id) == []
    online(database, team.users["zhao"].id)  # the console reconnects
    assert len(run(database, team.org_id)) == 1


def test_only_members_of_the_group(database: Database, orgs: TwoOrgs, team: Team) -> None:
    english = make_team(database, orgs.a.id, "少儿英语", {"amy": 3})
    math_conv = queue(database, team.org_id, "v1", group_id=team.group_id)
    english_conv = queue(database, team.org_id, "v2", group_id=english.group_id)
    online(database, english.users["amy"].id)
    assert run(database, team.org_id) == [dispatch.Assignment(english_conv, english.users["amy"].id)]
    assert assignee(database, math_conv) is None


def test_other_orgs_agents_never_get_the_conversation(database: Database, orgs: TwoOrgs, team: Team) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=team.group_id)
    online(database, orgs.b.users["agent"].id)
    assert run(database, orgs.a.id) == []
    assert run(database, orgs.b.id) == []
    online(database, team.users["zhao"].id)
    assert run(database, orgs.a.id) == [dispatch.Assignment(conv, team.users["zhao"].id)]


def test_public_queue_and_manual_groups_wait_for_a_human_pick(database: Database, orgs: TwoOrgs) -> None:
    manual = make_team(database, orgs.a.id, "抢单组", {"m1": 1}, strategy=Strategy.manual)
    public = queue(database, orgs.a.id, "v1", group_id=None)
    picked = queue(database, orgs.a.id, "v2", group_id=manual.group_id)
    online(database, orgs.a.users["agent"].id)
    online(database, manual.users["m1"].id)
    assert run(database, orgs.a.id) == []
    assert assignee(database, public) is None and assignee(database, picked) is None


def test_round_robin_takes_turns(database: Database, orgs: TwoOrgs) -> None:
    rr = make_team(database, orgs.a.id, "售后", {"a1": 1, "a2": 1, "a3": 1}, strategy=Strategy.round_robin)
    for name in ("a1", "a2", "a3"):
        online(database, rr.users[name].id, max_concurrent=10)
    got = []
    for i in range(6):
        queue(database, orgs.a.id, f"v{i}", group_id=rr.group_id)
        got.extend(a.user_id for a in run(database, orgs.a.id))
    ids = sorted(u.id for u in rr.users.values())
    assert got == ids + ids


def test_last_agent_strategy_returns_the_contact_to_their_teacher(database: Database, orgs: TwoOrgs) -> None:
    team = make_team(database, orgs.a.id, "老学员", {"b1": 1, "b2": 1}, strategy=Strategy.last_agent)
    online(database, team.users["b2"].id)
    first = queue(database, orgs.a.id, "parent", group_id=team.group_id)
    assert run(database, orgs.a.id) == [dispatch.Assignment(first, team.users["b2"].id)]
    with database.session() as session:
        conversations_service.resolve(session, team.users["b2"], first, close_after_seconds=60)
        conversations_service.close_resolved_job(session, {"conversation_id": first, "org_id": orgs.a.id})
    online(database, team.users["b1"].id)
    # Both are idle and b1 has waited longer for work (least busy would pick b1), but the parent goes back to b2.
    again = queue(database, orgs.a.id, "parent", group_id=team.group_id)
    assert run(database, orgs.a.id) == [dispatch.Assignment(again, team.users["b2"].id)]


def test_agents_accepting_by_hand_stay_within_their_maximum(database: Database, team: Team) -> None:
    convs = [queue(database, team.org_id, f"v{i}", group_id=team.group_id) for i in range(3)]
    online(database, team.users["zhao"].id, max_concurrent=2)
    user = team.users["zhao"]
    with database.session() as session:
        conversations_service.accept(session, user, convs[0])
        conversations_service.accept(session, user, convs[1])
        session.commit()
    with database.session() as session, pytest.raises(DomainError) as err:
        conversations_service.accept(session, user, convs[2])
    assert err.value.code == "at_capacity"


def test_queue_position_and_wait_estimate(database: Database, team: Team) -> None:
    a = queue(database, team.org_id, "v1", group_id=team.group_id, queued_at=T0)
    b = queue(database, team.org_id, "v2", group_id=team.group_id, queued_at=T0 + dt.timedelta(minutes=1))
    vip = queue(database, team.org_id, "v3", group_id=team.group_id, priority=10,
                queued_at=T0 + dt.timedelta(minutes=2))
    online(database, team.users["zhao"].id, status="busy", max_concurrent=2)
    with database.session() as session:
        positions = {c: dispatch.position(session, session.get(Conversation, c)) for c in (a, b, vip)}  # type: ignore[arg-type]
        status = dispatch.queue_status(session, session.get(Conversation, b))  # type: ignore[arg-type]
    assert positions == {vip: 1, a: 2, b: 3}
    # Nobody online takes new ones: one seat assumed, ten minutes a conversation by default.
    assert status["wait_seconds"] == 3 * 600
    assert status["text"] == "您前面还有 2 位，预计等待约 30 分钟。"


def test_concurrent_dispatchers_never_overfill_an_agent(database: Database, team: Team) -> None:
    """Four dispatchers (as four instances would) at once over a long queue: each agent ends at their maximum."""
    for i in range(24):
        queue(database, team.org_id, f"v{i}", group_id=team.group_id)
    online(database, team.users["zhang"].id, max_concurrent=3)
    online(database, team.users["li"].id, max_concurrent=2)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                run(database, team.org_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with database.session() as session:
        counts = dict(session.execute(select(Conversation.assignee_id, func.count()).where(
            Conversation.state == S.assigned).group_by(Conversation.assignee_id)).all())
    assert counts == {team.users["zhang"].id: 3, team.users["li"].id: 2}


def test_announced_places_match_position(database: Database, orgs: TwoOrgs, team: Team) -> None:
    """The announcement ranks one read of the queue; each place must equal what ``position`` counts."""
    other = make_team(database, orgs.a.id, "少儿英语", {"amy": 1})
    convs = [queue(database, orgs.a.id, f"v{i}", group_id=(team.group_id, other.group_id, None)[i % 3],
                   priority=(0, 10)[i % 2], queued_at=T0 + dt.timedelta(seconds=i % 4)) for i in range(9)]
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    with database.session() as session:
        dispatch.announce_positions(session, orgs.a.id, {team.group_id, other.group_id, None})
        session.commit()
        expected = {c: dispatch.position(session, session.get(Conversation, c)) for c in convs}  # type: ignore[arg-type]
    announced = {e.data["conversation_id"]: e.data["position"] for e in got}
    assert announced == expected
