"""Presence and the hub when Redis goes away: nothing raises into a request, presence falls back to this instance's
own agents and is shared again after a heartbeat, and a resync sends every client away with close code 1012."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.websockets import WebSocketState

from edudesk.realtime import CLOSE_RESYNC, CLOSE_SLOW_CLIENT, SEND_QUEUE_LIMIT, Connection, Hub, Presence
from tests.private_redis import PrivateRedis
from tests.test_events import run_in_fresh_loop

pytestmark = pytest.mark.redis


def test_presence_without_redis_counts_this_instance_and_recovers(private_redis: PrivateRedis) -> None:
    here, there = Presence(private_redis.url, "here", "faults"), Presence(private_redis.url, "there", "faults")
    try:
        there.join(1, 7)
        assert here.online_user_ids(1) == {7}
        private_redis.kill()
        here.join(1, 5)  # an agent connecting during the outage is not refused
        assert here.online_user_ids(1) == {5}, "only this instance's agents while Redis is down"
        here.heartbeat()
        here.leave(1, 5)
        here.join(1, 5)
        private_redis.start()
        assert here.online_user_ids(1) == {5}, "the other instance's entry went with Redis' memory"
        there.heartbeat()  # the periodic heartbeat registers the agents again
        here.heartbeat()
        assert here.online_user_ids(1) == {5, 7}
        assert there.online_user_ids(1) == {5, 7}
    finally:
        here.close()
        there.close()


class FakeSocket:
    def __init__(self) -> None:
        self.application_state = WebSocketState.CONNECTED
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None

    async def send_json(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code
        self.application_state = WebSocketState.DISCONNECTED


def test_resync_closes_every_socket_with_1012() -> None:
    async def scenario() -> list[FakeSocket]:
        hub = Hub(Presence(None, "solo"))
        hub.bind_loop(asyncio.get_running_loop())
        sockets = [FakeSocket() for _ in range(3)]
        conns = [Connection(ws, [f"conv:{i}"], lambda ev: None, org_id=1) for i, ws in
                 enumerate(sockets)]
        for conn in conns:
            hub.add(conn)
        conns[0].offer({"type": "pong"})
        await asyncio.sleep(0.05)
        hub.resync()
        for _ in range(100):
            if all(s.closed_with is not None for s in sockets):
                break
            await asyncio.sleep(0.01)
        for conn in conns:
            await hub.remove(conn)
        return sockets

    sockets = run_in_fresh_loop(scenario())
    assert [s.closed_with for s in sockets] == [CLOSE_RESYNC] * 3
    assert sockets[0].sent == [{"type": "pong"}]


def test_a_client_that_stopped_reading_is_closed_with_1013_and_its_backlog_dropped() -> None:
    async def scenario() -> FakeSocket:
        ws = FakeSocket()
        conn = Connection(ws, ["conv:1"], lambda ev: None, org_id=1)
        for n in range(SEND_QUEUE_LIMIT + 5):  # the sender is not running yet: nothing is read
            conn.offer({"type": "message", "n": n})
        conn.start()
        for _ in range(100):
            if ws.closed_with is not None:
                break
            await asyncio.sleep(0.01)
        await conn.stop()
        return ws

    ws = run_in_fresh_loop(scenario())
    assert ws.closed_with == CLOSE_SLOW_CLIENT
    assert ws.sent == [], "the backlog is dropped: the client catches up on reconnect"
