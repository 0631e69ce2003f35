"""The Redis bus survives a Redis restart: publishing never fails a committed change, the listener reconnects with
backoff, and clients are told to resynchronise once it is subscribed again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from edudesk.events import RECONNECT_MAX_SECONDS, DomainEvent, RedisEventBus, reconnect_delay
from tests.private_redis import PrivateRedis
from tests.test_events import run_in_fresh_loop

pytestmark = pytest.mark.redis


def ev(name: str) -> DomainEvent:
    return DomainEvent(type=name, org_id=1, data={"n": name}, topics=("org:1:agents",))


async def wait_until(cond: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_reconnect_delay_grows_to_a_cap_with_jitter() -> None:
    assert reconnect_delay(1, lambda: 0.5) == pytest.approx(0.5)
    assert reconnect_delay(2, lambda: 0.5) == pytest.approx(1.0)
    assert reconnect_delay(50, lambda: 1.0) == pytest.approx(RECONNECT_MAX_SECONDS * 1.25)
    assert reconnect_delay(50, lambda: 0.0) == pytest.approx(RECONNECT_MAX_SECONDS * 0.75)


def test_bus_survives_a_redis_restart(private_redis: PrivateRedis) -> None:
    async def scenario() -> tuple[list[str], list[str], int, int]:
        bus = RedisEventBus(private_redis.url, "faults")
        other = RedisEventBus(private_redis.url, "faults")  # a second instance of the deployment
        got: list[str] = []
        other_got: list[str] = []
        resyncs: list[int] = []
        bus.subscribe(lambda e: got.append(e.type))
        other.subscribe(lambda e: other_got.append(e.type))
        bus.on_resubscribed(lambda: resyncs.append(1))
        await bus.start()
        await other.start()
        try:
            await asyncio.to_thread(bus.publish, [ev("before")])
            await wait_until(lambda: "before" in got and "before" in other_got)

            private_redis.kill()
            # A change committed while Redis is down: the publish must not raise (the committing request would turn
            # into an error although the change is stored); this instance's own subscribers still get it.
            await asyncio.to_thread(bus.publish, [ev("during")])
            assert got == ["before", "during"]

            private_redis.start()  # same port, as after a restart
            await wait_until(lambda: bool(resyncs))
            await wait_until(lambda: other.reconnects >= 1)
            await asyncio.to_thread(bus.publish, [ev("after")])
            await wait_until(lambda: "after" in got and "after" in other_got)
            return got, other_got, bus.publish_failures, len(resyncs)
        finally:
            await bus.stop()
            await other.stop()

    got, other_got, failures, resyncs = run_in_fresh_loop(scenario())
    assert got == ["before", "during", "after"], "delivered once each, in order, on the publishing instance"
    assert other_got == ["before", "after"], "the other instance missed only what was published during the outage"
    assert failures == 1
    assert resyncs == 1
