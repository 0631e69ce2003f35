"""Domain events after commit, the Redis fan-out between instances, and presence shared through Redis."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from edudesk import events, realtime
from edudesk.audit import service as audit_service
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.events import DomainEvent, EventBus, RedisEventBus
from edudesk.orgs import service as orgs_service
from edudesk.realtime import Presence


def run_in_fresh_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def org_id(database: Database) -> int:
    with database.session() as session:
        org = orgs_service.create_org(session, slug="events", name="事件学校")
        session.commit()
        return org.id


@pytest.fixture
def bus(database: Database) -> tuple[EventBus, list[DomainEvent]]:
    bus = EventBus()
    bus.attach(database.sessionmaker)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    return bus, got


def ev(name: str, org_id: int = 1, **data: object) -> DomainEvent:
    return DomainEvent(type=name, org_id=org_id, data=dict(data), topics=(f"org:{org_id}:agents",))


def test_events_published_after_commit_in_order(database: Database, org_id: int,
                                                bus: tuple[EventBus, list[DomainEvent]]) -> None:
    _, got = bus
    with database.session() as session:
        for i in range(3):
            audit_service.record(session, Actor(org_id, label="t"), f"change.{i}", "x", i)
            events.record(session, ev(f"changed.{i}", org_id, n=i))
        session.flush()
        assert got == [], "published before commit"
        session.commit()
        assert [e.type for e in got] == ["changed.0", "changed.1", "changed.2"]
        assert got[0].data == {"n": 0} and got[0].topics == (f"org:{org_id}:agents",)
        # The next transaction of the same session starts empty and publishes only its own events.
        events.record(session, ev("changed.3", org_id))
        session.commit()
        assert [e.type for e in got] == ["changed.0", "changed.1", "changed.2", "changed.3"]
        session.commit()
        assert len(got) == 4, "an event was published twice"


def test_events_dropped_on_rollback(database: Database, org_id: int,
                                    bus: tuple[EventBus, list[DomainEvent]]) -> None:
    _, got = bus
    with database.session() as session:
        audit_service.record(session, Actor(org_id, label="t"), "change", "x", 1)
        events.record(session, ev("rolled.back", org_id))
        session.flush()
        session.rollback()
        events.record(session, ev("kept", org_id))
        session.commit()
    with pytest.raises(RuntimeError), database.session() as session:
        audit_service.record(session, Actor(org_id, label="t"), "change", "x", 2)
        events.record(session, ev("failed.request", org_id))
        session.flush()
        raise RuntimeError("the request failed after the change was flushed")
    with database.session() as session:
        audit_service.record(session, Actor(org_id, label="t"), "change", "x", 3)
        events.record(session, ev("never.committed", org_id))
        session.flush()
    assert [e.type for e in got] == ["kept"]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_savepoint_rollback_drops_only_its_own_events(database: Database, org_id: int,
                                                      bus: tuple[EventBus, list[DomainEvent]]) -> None:
    """As when contacts.find_or_create loses a race inside ``begin_nested`` and the request carries on."""
    _, got = bus
    with database.session() as session:
        events.record(session, ev("outer", org_id))
        savepoint = session.begin_nested()
        events.record(session, ev("inner", org_id))
        savepoint.rollback()
        events.record(session, ev("after", org_id))
        level1 = session.begin_nested()
        events.record(session, ev("level1", org_id))
        level2 = session.begin_nested()
        events.record(session, ev("level2", org_id))
        level2.rollback()
        level1.commit()
        with pytest.raises(ValueError), session.begin_nested():
            events.record(session, ev("failed-block", org_id))
            raise ValueError("integrity problem")
        session.commit()
    assert [e.type for e in got] == ["outer", "after", "level1"]


def test_savepoint_release_publishes_nothing_before_the_outer_commit(
        database: Database, org_id: int, bus: tuple[EventBus, list[DomainEvent]]) -> None:
    _, got = bus
    with database.session() as session:
        events.record(session, ev("outer", org_id))
        with session.begin_nested():
            events.record(session, ev("inner", org_id))
        assert got == [], "a savepoint release announced a change the outer transaction has not committed"
        session.rollback()  # ... and then the whole change is abandoned
        events.record(session, ev("next", org_id))
        with session.begin_nested():
            events.record(session, ev("next-inner", org_id))
        session.commit()
    assert [e.type for e in got] == ["next", "next-inner"]


def test_failing_subscriber_does_not_stop_others(database: Database, org_id: int) -> None:
    bus = EventBus()
    bus.attach(database.sessionmaker)
    first: list[str] = []
    last: list[str] = []

    def broken(event: DomainEvent) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(lambda e: first.append(e.type))
    bus.subscribe(broken)
    bus.subscribe(lambda e: last.append(e.type))
    with database.session() as session:
        audit_service.record(session, Actor(org_id, label="t"), "change", "x", 1)
        events.record(session, ev("a", org_id))
        events.record(session, ev("b", org_id))
        session.commit()  # does not raise: the change is committed whatever a subscriber does
    assert first == ["a", "b"] and last == ["a", "b"]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1


def test_domain_event_json_round_trip() -> None:
    original = DomainEvent("message.created", 7, {"text": "老师好", "n": 1}, ("conv:1", "org:7:agents"))
    assert DomainEvent.from_json(original.to_json()) == original
    assert "老师好" in original.to_json()  # not \\u-escaped on the wire
    when = dt.datetime(2026, 11, 26, 8, 30, tzinfo=dt.UTC)
    nested = DomainEvent("conversation.updated", 7, {"conversation": {"last_message_at": when, "tags": ["试听"]}})
    assert json.loads(nested.to_json())["data"] == {"conversation": {"last_message_at": str(when), "tags": ["试听"]}}
    assert nested.data["conversation"]["last_message_at"] is when  # serialising leaves the event as it was


# --- Redis ----------------------------------------------------------------------------------------------------------


def test_redis_replies_are_parsed_in_c() -> None:
    """Every instance reads every other instance's events back from Redis: with redis-py's pure-Python parser that
    was about a seventh of the event loop's CPU at 100 messages/s (docs/performance.md, round 5)."""
    import redis.utils

    assert redis.utils.HIREDIS_AVAILABLE

async def wait_until(cond: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for Redis delivery")
        await asyncio.sleep(0.01)


def collecting_bus(url: str, namespace: str) -> tuple[RedisEventBus, list[DomainEvent]]:
    bus = RedisEventBus(url, namespace)
    got: list[DomainEvent] = []
    bus.subscribe(got.append)
    return bus, got


@pytest.mark.redis
def test_redis_bus_fans_out_to_every_instance_of_a_namespace(redis_url: str) -> None:
    namespace = f"edudesk-test-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        one, got_one = collecting_bus(redis_url, namespace)
        two, got_two = collecting_bus(redis_url, namespace)
        other, got_other = collecting_bus(redis_url, namespace + "-other")
        await asyncio.gather(one.start(), two.start(), other.start())
        try:
            # As after a commit in a request thread of instance one.
            await asyncio.to_thread(one.publish, [ev("message.created", 3, text="你好"), ev("second", 3)])
            await wait_until(lambda: len(got_one) == 2 and len(got_two) == 2)
            assert [e.type for e in got_two] == ["message.created", "second"]
            assert got_two[0] == ev("message.created", 3, text="你好")
            assert got_one == got_two  # the publishing instance hears its own event through Redis too
            # The other namespace (another deployment on the same Redis) hears only its own traffic.
            await asyncio.to_thread(other.publish, [ev("sentinel", 9)])
            await wait_until(lambda: len(got_other) == 1)
            assert [e.type for e in got_other] == ["sentinel"]
            assert len(got_one) == 2 and len(got_two) == 2
        finally:
            await asyncio.gather(one.stop(), two.stop(), other.stop())

    run_in_fresh_loop(asyncio.wait_for(scenario(), timeout=20))


@pytest.mark.redis
def test_redis_bus_ignores_malformed_payloads(redis_url: str) -> None:
    namespace = f"edudesk-test-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url)

    async def scenario() -> None:
        bus, got = collecting_bus(redis_url, namespace)
        await bus.start()
        try:
            for junk in (b"not json", b"\xff\xfe", b"{}", b'{"type": "x"}', b"[]", b"null", b"42", b'"text"',
                         b'{"type": "x", "org_id": 1, "data": {}, "topics": 5}'):
                await asyncio.to_thread(raw.publish, bus.channel, junk)
            await asyncio.to_thread(bus.publish, [ev("good", 1)])
            # The listener must still be subscribed and deliver the next good event promptly.
            await wait_until(lambda: len(got) == 1)
            assert [e.type for e in got] == ["good"]
        finally:
            await bus.stop()

    try:
        run_in_fresh_loop(asyncio.wait_for(scenario(), timeout=20))
    finally:
        raw.close()


@pytest.fixture
def presence_pair(redis_url: str) -> Iterator[tuple[Presence, Presence, Presence]]:
    namespace = f"edudesk-test-{uuid.uuid4().hex[:8]}"
    one = Presence(redis_url, "instance-one", namespace)
    two = Presence(redis_url, "instance-two", namespace)
    stranger = Presence(redis_url, "instance-three", namespace + "-other")
    yield one, two, stranger
    for p in (one, two, stranger):
        p.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_presence_is_shared_between_instances(presence_pair: tuple[Presence, Presence, Presence]) -> None:
    one, two, stranger = presence_pair
    assert two.online_user_ids(1) == set()
    one.join(1, 10)
    one.join(1, 10)  # a second tab of the same agent
    one.join(2, 20)
    two.join(1, 11)
    assert two.online_user_ids(1) == {10, 11}
    assert one.online_user_ids(1) == {10, 11}
    assert two.online_user_ids(2) == {20} and two.any_online(2)
    assert stranger.online_user_ids(1) == set() and not stranger.any_online(1)

    one.leave(1, 10)  # one tab closed, the other still open
    assert two.online_user_ids(1) == {10, 11}
    one.leave(1, 10)
    assert two.online_user_ids(1) == {11}
    one.close()  # shutting an instance down takes its agents offline elsewhere at once
    assert two.online_user_ids(2) == set()
    assert two.online_user_ids(1) == {11}


@pytest.mark.redis
def test_presence_entries_expire_without_heartbeat(presence_pair: tuple[Presence, Presence, Presence],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    one, two, _ = presence_pair
    monkeypatch.setattr(realtime, "PRESENCE_TTL", 0.3)
    one.join(5, 50)
    assert two.online_user_ids(5) == {50}
    time.sleep(0.5)  # instance one stopped heartbeating (crashed, or its network is gone)
    assert two.online_user_ids(5) == set()
    assert not two.any_online(5)
    one.heartbeat()  # it is back
    assert two.online_user_ids(5) == {50}
