"""Visitors of the fault drill: they behave as the widget does when the server goes away (benchmarks/fault_drill.py).

Each visitor takes a token, opens the visitor socket on one of the instances (the next one after a failure, as a
load balancer would send it), sends its messages on a schedule, keeps every message that is not acknowledged in an
outbox and resends it with the same ``client_id`` after each reconnect, reconnecting with backoff. One message
carries a phone number, so each visitor becomes a lead (and a ``lead.created`` webhook). Some visitors also keep a
second tab open on the other instance, which only listens: it shows whether live updates cross instances, and
after a resync close (1012) it asks for the whole conversation again, as the widget does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

TEXTS = ("你好，请问有什么课程？", "学费多少？", "可以免费试听吗？", "周末有课吗？", "老师是哪里毕业的？")
BACKOFF_MIN, BACKOFF_MAX = 0.5, 5.0  # the widget's cap is 15 s; the drill's is shorter to measure recovery
# The widget pings every 25 s and gives up on a socket that answers nothing for 10 s more; the drill, which runs for
# minutes only, pings every 5 s and gives up after 10 s of silence.
PING_SECONDS, SILENCE_SECONDS = 5.0, 10.0


@dataclass
class Totals:
    sessions_failed: int = 0
    reconnects: int = 0
    resent: int = 0
    close_codes: Counter[str] = field(default_factory=Counter)
    error_frames: Counter[str] = field(default_factory=Counter)
    # Time of every live (not hello) ``message`` frame a watching tab got, to see when live updates resume.
    live_frames: list[float] = field(default_factory=list)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_MIN * float(2 ** attempt)) * (0.75 + 0.5 * random.random())


class Visitor:
    def __init__(self, index: int, org_key: str, servers: list[str], totals: Totals, *, messages: int,
                 period: float, watch: bool) -> None:
        self.index, self.org_key, self.servers, self.totals = index, org_key, servers, totals
        self.messages, self.period, self.watch = messages, period, watch
        self.phone = f"139{index:08d}"
        self.token: str | None = None
        self.sent: dict[str, str] = {}  # client_id → text, every message sent at least once
        self.outbox: dict[str, dict[str, Any]] = {}  # not acknowledged yet
        self.acked: set[str] = set()
        self.phone_acked = False
        self.last_id = 0
        self.on: str | None = None  # the instance the chat socket is connected to now
        self.tab_ids: set[int] = set()  # message ids the second tab has shown
        self._tab_resync = False
        self._done = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def server(self, attempt: int, other: bool = False) -> str:
        return self.servers[(self.index + attempt + (1 if other else 0)) % len(self.servers)]

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._run(stop)
        finally:
            self._done.set()

    async def _run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            attempt = 0
            while self.token is None and not stop.is_set():
                try:
                    resp = await http.post(f"{self.server(attempt)}/api/v1/widget/session",
                                           json={"org_key": self.org_key, "page_url": "http://drill.invalid/"})
                    if resp.status_code == 200:
                        self.token = resp.json()["token"]
                        break
                except httpx.HTTPError:
                    pass
                self.totals.sessions_failed += 1
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
        if self.token is None:
            return
        tab = asyncio.create_task(self._tab(stop)) if self.watch else None
        try:
            await self._chat(stop)
        finally:
            self._done.set()
            if tab is not None:  # the page stays open until the end of the drill, as a parent's tab would
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await tab

    async def _chat(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set() and (len(self.sent) < self.messages or self.outbox):
            server = self.server(attempt)
            url = f"{server.replace('http', 'ws', 1)}/ws/visitor?" + urlencode(
                {"token": self.token, "after": self.last_id})
            try:
                async with connect(url, open_timeout=10, ping_interval=None, close_timeout=2) as ws:
                    attempt = 0
                    try:
                        await self._session(ws, stop, server)
                    finally:
                        self.on = None
                    if len(self.sent) >= self.messages and not self.outbox:
                        return
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.totals.close_codes[str(code)] += 1
            except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
                self.totals.close_codes[f"connect_{type(exc).__name__}"] += 1
            attempt += 1
            self.totals.reconnects += 1
            await asyncio.sleep(_backoff(attempt))

    async def _session(self, ws: ClientConnection, stop: asyncio.Event, server: str) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if hello.get("type") != "hello":
            raise ValueError("no hello")
        self.on = server
        for m in hello.get("messages") or []:
            self._seen(m)
        for frame in list(self.outbox.values()):  # the widget's resend of everything not acknowledged
            self.totals.resent += 1
            await ws.send(json.dumps(frame, ensure_ascii=False))
        sender = asyncio.create_task(self._send_on_schedule(ws, stop))
        pinger = asyncio.create_task(self._ping(ws))
        try:
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), SILENCE_SECONDS)
                except TimeoutError:
                    self.totals.close_codes["silent_socket_dropped"] += 1
                    return  # as the widget's pong timeout: reconnect and resend
                self._on_frame(json.loads(raw))
                if len(self.sent) >= self.messages and not self.outbox:
                    return
        finally:
            for task in (sender, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            await ws.send('{"type": "ping"}')

    async def _send_on_schedule(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        while len(self.sent) < self.messages and not stop.is_set():
            await asyncio.sleep(self.period * (0.5 + random.random()))
            n = len(self.sent) + 1
            cid = f"drill-{self.index}-{n}"
            text = (f"我是家长，电话 {self.phone}，孩子三年级想学英语" if n == 2
                    else TEXTS[(self.index + n) % len(TEXTS)])
            frame = {"type": "message", "client_id": cid, "text": text}
            self.sent[cid] = text
            self.outbox[cid] = frame
            await ws.send(json.dumps(frame, ensure_ascii=False))

    def _seen(self, message: dict[str, Any]) -> None:
        self.last_id = max(self.last_id, int(message["id"]))

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ack":
            cid = frame.get("client_id") or ""
            self.outbox.pop(cid, None)
            self.acked.add(cid)
            if cid == f"drill-{self.index}-2":
                self.phone_acked = True
            self._seen(frame["message"])
        elif kind == "message":
            self._seen(frame["message"])
        elif kind == "error":
            self.totals.error_frames[str(frame.get("code"))] += 1
            self.outbox.pop(frame.get("client_id") or "", None)  # the widget marks it failed and keeps it out

    async def _tab(self, stop: asyncio.Event) -> None:
        """A second tab on the other instance: only listens, reconnects as the widget does."""
        attempt = 0
        while not stop.is_set():
            after = 0 if self._tab_resync or not self.tab_ids else max(self.tab_ids)
            url = f"{self.server(attempt, other=True).replace('http', 'ws', 1)}/ws/visitor?" + urlencode(
                {"token": self.token, "after": after})
            try:
                async with connect(url, open_timeout=10, ping_interval=None, close_timeout=2) as ws:
                    attempt = 0
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    self.tab_ids.update(int(m["id"]) for m in hello.get("messages") or [])
                    self._tab_resync = False
                    pinged = time.monotonic()
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            if time.monotonic() - pinged > PING_SECONDS:
                                await ws.send('{"type": "ping"}')
                                pinged = time.monotonic()
                            continue
                        frame = json.loads(raw)
                        if frame.get("type") == "message":
                            self.tab_ids.add(int(frame["message"]["id"]))
                            self.totals.live_frames.append(time.monotonic())
                    return
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 1012:
                    self._tab_resync = True
            except (OSError, TimeoutError, WebSocketException, ValueError):
                pass
            attempt += 1
            await asyncio.sleep(_backoff(attempt))
