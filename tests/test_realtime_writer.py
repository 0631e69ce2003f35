"""A connection's outgoing frames (edudesk/realtime.py): written in the order offered, with no task or queue held
while nothing is pending, a client that stops reading bounded and closed without holding up the others, and every
open widget socket closed when the server shuts down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.websockets import WebSocketState
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from edudesk.events import DomainEvent
from edudesk.realtime import CLOSE_SLOW_CLIENT, SEND_QUEUE_LIMIT, Connection, Hub, Presence
from tests.conftest import LiveServer, TwoOrgs
from tests.test_events import run_in_fresh_loop


class Socket:
    """A socket whose sends may take a turn of the loop (``yield_every``) or block until ``release`` is set."""

    def __init__(self, yield_every: int = 0, blocked: bool = False) -> None:
        self.application_state = WebSocketState.CONNECTED
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self.yield_every = yield_every
        self.release = asyncio.Event()
        if not blocked:
            self.release.set()

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.release.wait()
        if self.yield_every and len(self.sent) % self.yield_every == 0:
            await asyncio.sleep(0)
        self.sent.append(frame)

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code
        self.application_state = WebSocketState.DISCONNECTED


def event(n: int, topic: str = "contact:1") -> DomainEvent:
    return DomainEvent(type="message.created", org_id=1, data={"n": n}, topics=(topic,))


def test_frames_reach_the_socket_in_the_order_offered_and_nothing_is_held_at_rest() -> None:
    async def scenario() -> tuple[Socket, Connection, list[int], bool]:
        hub = Hub(Presence(None, "solo"))
        hub.bind_loop(asyncio.get_running_loop())
        ws = Socket(yield_every=3)  # the writer is suspended mid-burst while more frames are offered
        conn = Connection(ws, ["contact:1"], lambda ev: {"n": ev.data["n"]}, org_id=1)
        hub.add(conn)
        for n in range(50):
            hub.dispatch(event(n))
            if n % 7 == 0:
                await asyncio.sleep(0)
        conn.offer({"n": 50})
        for _ in range(200):
            if len(ws.sent) == 51:
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        at_rest = [conn.pending, int(conn._writer is not None), int(conn._pending is not None)]
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        conn.offer({"n": 51})  # a frame after a rest starts a new writer
        await asyncio.sleep(0.01)
        await hub.remove(conn)
        return ws, conn, at_rest, not others

    ws, conn, at_rest, no_task = run_in_fresh_loop(scenario())
    assert [f["n"] for f in ws.sent] == list(range(52))
    assert at_rest == [0, 0, 0], "a socket with nothing to send keeps no writer task and no deque"
    assert no_task, "no task per idle socket"
    assert conn._writer is None


def test_a_client_that_stops_reading_is_bounded_and_closed_without_holding_up_the_others() -> None:
    async def scenario() -> tuple[Socket, Socket, int, int]:
        hub = Hub(Presence(None, "solo"))
        hub.bind_loop(asyncio.get_running_loop())
        slow, quick = Socket(blocked=True), Socket()
        for ws in (slow, quick):
            hub.add(Connection(ws, ["agents"], lambda ev: {"n": ev.data["n"]}, org_id=1))
        slow_conn = next(c for c in hub._by_topic["agents"] if c.websocket is slow)
        most = 0
        for n in range(3 * SEND_QUEUE_LIMIT):
            hub.dispatch(event(n, "agents"))
            most = max(most, slow_conn.pending)
            if n % 50 == 0:
                await asyncio.sleep(0)
        for _ in range(200):
            if len(quick.sent) == 3 * SEND_QUEUE_LIMIT:
                break
            await asyncio.sleep(0)
        after_close = slow_conn.pending
        slow.release.set()  # the stuck send completes (as when the kernel buffer drains or the peer goes away)
        for _ in range(200):
            if slow.closed_with is not None:
                break
            await asyncio.sleep(0)
        for conn in list(hub._by_topic["agents"]):
            await hub.remove(conn)
        return slow, quick, most, after_close

    slow, quick, most, after_close = run_in_fresh_loop(scenario())
    assert [f["n"] for f in quick.sent] == list(range(3 * SEND_QUEUE_LIMIT)), "the others got every frame, in order"
    assert most <= SEND_QUEUE_LIMIT, "the stuck client's backlog is bounded"
    assert after_close == 1, "once closing, only the close is pending: the backlog was dropped"
    assert slow.closed_with == CLOSE_SLOW_CLIENT
    assert [f["n"] for f in slow.sent] == [0], "only the frame that was being sent; the client resyncs"


def test_a_socket_that_failed_mid_send_takes_no_more_frames() -> None:
    class Broken(Socket):
        async def send_json(self, frame: dict[str, Any]) -> None:
            raise RuntimeError("socket gone")

    async def scenario() -> Connection:
        conn = Connection(Broken(), ["contact:1"], lambda ev: None, org_id=1)
        conn.start()
        conn.offer({"n": 1})
        await asyncio.sleep(0.01)
        for n in range(10):
            conn.offer({"n": n})
        await conn.stop()
        return conn

    conn = run_in_fresh_loop(scenario())
    assert conn.pending == 0 and conn._writer is None


def test_open_widget_sockets_are_closed_when_the_server_shuts_down(app: FastAPI, orgs: TwoOrgs) -> None:
    server = LiveServer(app).start()
    stopped = False
    try:
        resp = httpx.post(f"{server.url}/api/v1/widget/session", json={"org_key": orgs.a.public_key}, timeout=10)
        token = resp.json()["token"]
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(f"ws://127.0.0.1:{server.port}/ws/visitor?token={token}",
                                                   open_timeout=15)) for _ in range(3)]
            for ws in sockets:
                assert json.loads(ws.recv(timeout=15))["type"] == "hello"
            hub = app.state.ctx.hub
            assert hub.connection_count == 3
            server.stop()
            stopped = True
            codes = []
            for ws in sockets:
                try:
                    while True:
                        ws.recv(timeout=15)
                except ConnectionClosed as exc:
                    codes.append(exc.rcvd.code if exc.rcvd is not None else None)
        assert codes == [1012] * 3, "each socket got uvicorn's 'service restart' close, not a dropped connection"
        deadline = time.monotonic() + 10
        while hub.connection_count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.connection_count == 0, "every socket's handler finished and left the hub"
    finally:
        if not stopped:
            server.stop()
