"""One simulated widget visitor: opens a session and its socket as the real widget does, opens its conversation,
then sends on its fixed schedule and times each bot answer (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from edudesk.bench.stats import (
    BenchConfig,
    Stats,
    Turn,
)


class Visitor:
    def __init__(self, index: int, stats: Stats) -> None:
        self.index = index
        self.stats = stats
        self.ws: ClientConnection | None = None
        self.pending: dict[str, Turn] = {}
        self.alive = False
        self.handed_off = False
        self.reader: asyncio.Task[None] | None = None
        self._n = 0
        self._first_settled = asyncio.Event()  # the opening message was answered, or the visitor handed over

    async def open(self, http: httpx.AsyncClient, cfg: BenchConfig, ws_base: str) -> bool:
        body = {"org_key": cfg.org_key, "page_url": "http://bench.invalid/"}
        try:
            try:
                resp = await http.post("/api/v1/widget/session", json=body)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # A pooled keep-alive connection the server closed just as it was reused: a client race, not a
                # server failure. One fresh attempt, as a browser would make.
                resp = await http.post("/api/v1/widget/session", json=body)
        except httpx.HTTPError as exc:
            self.stats.errors[f"session_{type(exc).__name__}"] += 1
            return False
        if resp.status_code != 200:
            self.stats.errors[f"session_http_{resp.status_code}"] += 1
            return False
        token = resp.json()["token"]
        try:
            self.ws = await connect(f"{ws_base}/ws/visitor?{urlencode({'token': token})}",
                                    open_timeout=cfg.open_timeout, ping_interval=None, close_timeout=2)
            hello = json.loads(await asyncio.wait_for(self.ws.recv(), cfg.open_timeout))
        except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
            self.stats.errors[f"ws_open_{type(exc).__name__}"] += 1
            if self.ws is not None:
                await self.ws.close()
            return False
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            self.stats.errors["ws_no_hello"] += 1
            await self.ws.close()
            return False
        self.alive = True
        self.reader = asyncio.create_task(self._read())
        if cfg.open_conversations and cfg.rate > 0:
            await self._open_conversation(cfg.texts[self.index % len(cfg.texts)], cfg.open_timeout)
        return True

    async def _open_conversation(self, text: str, patience: float) -> None:
        assert self.ws is not None
        cid = f"bench-{self.index}-0"
        self.pending[cid] = Turn(cid, time.perf_counter(), first=True)
        try:
            await self.ws.send(json.dumps({"type": "message", "client_id": cid, "text": text}, ensure_ascii=False))
            await asyncio.wait_for(self._first_settled.wait(), patience)
        except ConnectionClosed:
            self.pending.pop(cid, None)
        except TimeoutError:
            self.pending.pop(cid, None)
            self.stats.errors["first_no_reply"] += 1

    async def _read(self) -> None:
        assert self.ws is not None
        code: int | None = None
        try:
            async for raw in self.ws:
                self._on_frame(json.loads(raw))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
        except ValueError:
            self.stats.errors["bad_frame_from_server"] += 1
        if self.alive:  # not closed by us; 1011 is the server's keepalive ping timing out
            self.alive = False
            self.stats.errors[f"closed_by_server_{code or 'no_close_frame'}"] += 1

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            msg = frame["message"]
            if msg["sender"] == "visitor":
                turn = self.pending.get(msg.get("client_id") or "")
                if turn is not None and turn.message_id is None:
                    turn.message_id = msg["id"]
            elif msg["sender"] == "bot":
                self._answered(msg["id"])
        elif kind == "ack":
            turn = self.pending.get(frame.get("client_id") or "")
            if turn is not None and turn.message_id is None:
                turn.message_id = frame["message"]["id"]
        elif kind == "error":
            self.stats.errors[f"server_{frame.get('code')}"] += 1
            self.pending.pop(frame.get("client_id") or "", None)
        elif kind == "state" and frame.get("state") in ("queued", "assigned") and not self.handed_off:
            self.handed_off = True
            self.stats.handed_off += 1
            self._first_settled.set()

    def _answered(self, bot_message_id: int) -> None:
        now = time.perf_counter()
        for cid, turn in self.pending.items():
            if turn.message_id is not None and turn.message_id < bot_message_id:
                del self.pending[cid]
                if turn.first:
                    self.stats.first_latencies.append(now - turn.sent_at)
                    self._first_settled.set()
                    return
                self.stats.latencies.append(now - turn.sent_at)
                self.stats.sent_ats.append(turn.sent_at)
                self.stats.last_reply_at = now
                return

    async def send_on_schedule(self, texts: Sequence[str], first: float, period: float, end: float) -> None:
        loop = asyncio.get_running_loop()
        due = first
        while due < end and self.alive and self.ws is not None:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.alive:
                return
            self.stats.send_lags.append(max(0.0, loop.time() - due))
            self._n += 1
            cid = f"bench-{self.index}-{self._n}"
            text = texts[(self.index + self._n) % len(texts)]
            self.pending[cid] = Turn(cid, time.perf_counter())
            try:
                await self.ws.send(json.dumps({"type": "message", "client_id": cid, "text": text},
                                              ensure_ascii=False))
            except ConnectionClosed:
                self.pending.pop(cid, None)
                return
            self.stats.sent += 1
            due += period

    async def close(self) -> None:
        self.alive = False
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
