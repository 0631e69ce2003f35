"""The WebSocket hub: which sockets listen to which topics, and who is online.

Events reach the hub from the bus (after commit, from any thread, or from the Redis listener); the hub renders
each event for each subscribed connection and queues the frame. Every connection has its own bounded backlog and,
only while frames are pending, its own writer task, so one slow phone on a bad network cannot hold up anyone else
and an idle socket costs no task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import redis
import structlog
from starlette.websockets import WebSocket, WebSocketState

from edudesk.events import DomainEvent
from edudesk.wsframes import CLOSE_TOO_BIG, too_large

log = structlog.get_logger(__name__)

Frame = dict[str, Any]
Renderer = Callable[[DomainEvent], Frame | None]
SEND_QUEUE_LIMIT = 500
PRESENCE_TTL = 45
# Close codes the server uses to send a client away so that it reconnects and catches up: 1013 when it stopped
# reading its frames, 1012 ("service restart") after the Redis bus was lost and regained (frames may be missing).
CLOSE_SLOW_CLIENT = 1013
CLOSE_RESYNC = 1012
# Presence calls give up on a Redis that does not answer after this long, and count only this instance meanwhile.
PRESENCE_REDIS_TIMEOUT = 2.0


class Connection:
    """One socket's subscription and its outgoing frames.

    Thousands of widget sockets stay open all evening and most of them receive nothing for minutes, so a socket at
    rest holds no task, no queue and no future: frames wait in a deque that exists only while some are pending,
    and a writer task exists only while it drains them (it ends when the deque is empty). One writer at a time
    keeps the frames in the order they were offered; a client that stops reading holds up only its own writer,
    and its backlog is bounded by ``SEND_QUEUE_LIMIT`` (then the socket is closed with 1013 and the client
    resyncs on reconnect)."""

    __slots__ = ("_close_code", "_closing", "_pending", "_started", "_writer", "org_id", "render", "topics", "user_id",
                 "websocket")

    def __init__(self, websocket: WebSocket, topics: Iterable[str], render: Renderer, *, org_id: int,
                 user_id: int | None = None) -> None:
        self.websocket = websocket
        self.topics: tuple[str, ...] = tuple(dict.fromkeys(topics))  # a socket has one or two: no set needed
        self.render = render
        self.org_id = org_id
        self.user_id = user_id
        # Frames not sent yet; None (the close marker) is always last. The deque is dropped when it empties.
        self._pending: deque[Frame | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._close_code = CLOSE_SLOW_CLIENT
        self._closing = False
        self._started = False

    @property
    def pending(self) -> int:
        """Frames (and a close) waiting to be written: what the ``SEND_QUEUE_LIMIT`` bounds."""
        return len(self._pending) if self._pending is not None else 0

    def start(self) -> None:
        """From now on offered frames are written (the hub calls it when it adds the connection)."""
        self._started = True
        self._wake()

    def offer(self, frame: Frame) -> None:
        """Queues ``frame`` for the socket (event loop only)."""
        if self._closing:
            return  # the socket is being closed; the client resyncs on reconnect
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        elif len(pending) >= SEND_QUEUE_LIMIT:
            # The client stopped reading; drop it rather than grow without bound. It resyncs on reconnect.
            log.warning("ws_send_queue_full; closing", org_id=self.org_id, user_id=self.user_id)
            self.close_soon(CLOSE_SLOW_CLIENT)
            return
        pending.append(frame)
        self._wake()

    def close_soon(self, code: int) -> None:
        """Drops the frames not sent yet and closes the socket with ``code``; the client reconnects and resyncs."""
        if self._closing:
            return
        self._close_code = code
        self._closing = True
        self._pending = deque((None,))
        self._wake()

    def _wake(self) -> None:
        if self._writer is None and self._started and self._pending:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Writes the pending frames in order, then ends; the next offer starts a new writer."""
        websocket = self.websocket
        try:
            while (pending := self._pending):
                frame = pending.popleft()
                if frame is None:
                    await websocket.close(code=self._close_code)
                    return
                if websocket.application_state != WebSocketState.CONNECTED:
                    self._gone()
                    return
                await websocket.send_json(frame)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away mid-send; the receive loop notices and cleans up
            self._gone()
        finally:
            self._writer = None
            if not self._pending:
                self._pending = None

    def _gone(self) -> None:
        """The socket cannot take frames any more: nothing is queued for it from now on."""
        self._closing = True
        self._pending = None

    async def stop(self) -> None:
        """Ends the writer (the socket's handler is finishing) and drops what was not sent."""
        self._gone()
        writer = self._writer
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer


async def receive_frame(websocket: WebSocket, max_bytes: int) -> str | bytes | None:
    """The next frame as the client sent it (text, or bytes for a binary frame), or None once the socket is gone.
    A frame over ``max_bytes`` closes the socket with 1009, as uvicorn's ``ws_max_size`` does before it is read."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    raw: str | bytes = text if isinstance(text, str) else bytes(message.get("bytes") or b"")
    if too_large(raw, max_bytes):
        await websocket.close(code=CLOSE_TOO_BIG, reason="frame too large")
        return None
    return raw


class Presence:
    """Which agents are connected. In-process counts, mirrored to Redis (with a TTL) when several instances run."""

    def __init__(self, redis_url: str | None, instance_id: str, namespace: str = "edudesk") -> None:
        self.namespace = namespace
        self.local: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.instance_id = instance_id
        self._redis = (redis.Redis.from_url(redis_url, socket_timeout=PRESENCE_REDIS_TIMEOUT,
                                            socket_connect_timeout=PRESENCE_REDIS_TIMEOUT) if redis_url else None)
        self._redis_down_since: float | None = None

    def _redis_failed(self, exc: redis.RedisError) -> None:
        """Without Redis, presence is this instance's own agents; the heartbeat re-registers them when it is back."""
        if self._redis_down_since is None:
            self._redis_down_since = time.monotonic()
            log.error("presence_redis_unavailable; counting this instance's agents only", error=str(exc))

    def _redis_ok(self) -> None:
        if self._redis_down_since is not None:
            log.info("presence_redis_recovered", down_seconds=round(time.monotonic() - self._redis_down_since, 1))
            self._redis_down_since = None

    def _key(self, org_id: int) -> str:
        return f"{self.namespace}:presence:{org_id}"

    def join(self, org_id: int, user_id: int) -> None:
        self.local[org_id][user_id] += 1
        self._heartbeat_one(org_id, user_id)

    def leave(self, org_id: int, user_id: int) -> None:
        users = self.local[org_id]
        users[user_id] -= 1
        if users[user_id] <= 0:
            del users[user_id]
            if self._redis is not None:
                try:
                    self._redis.zrem(self._key(org_id), f"{self.instance_id}:{user_id}")
                except redis.RedisError as exc:
                    self._redis_failed(exc)  # the entry expires after PRESENCE_TTL

    def _heartbeat_one(self, org_id: int, user_id: int) -> None:
        if self._redis is not None:
            try:
                self._redis.zadd(self._key(org_id), {f"{self.instance_id}:{user_id}": time.time() + PRESENCE_TTL})
            except redis.RedisError as exc:
                self._redis_failed(exc)
            else:
                self._redis_ok()

    def heartbeat(self) -> None:
        for org_id, users in list(self.local.items()):
            for user_id in list(users):
                self._heartbeat_one(org_id, user_id)

    def online_user_ids(self, org_id: int) -> set[int]:
        ids = set(self.local.get(org_id, {}))
        if self._redis is not None:
            key = self._key(org_id)
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.zrange(key, 0, -1)
                members = pipe.execute()[1]
            except redis.RedisError as exc:
                self._redis_failed(exc)
                return ids
            for member in members:
                text = member.decode() if isinstance(member, bytes) else str(member)
                ids.add(int(text.rsplit(":", 1)[1]))
        return ids

    def any_online(self, org_id: int) -> bool:
        return bool(self.online_user_ids(org_id))

    def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(redis.RedisError):
                for org_id, users in self.local.items():
                    for user_id in users:
                        self._redis.zrem(self._key(org_id), f"{self.instance_id}:{user_id}")
            self._redis.close()


class AgentListener(Protocol):
    """Told (in a worker thread) when a staff member's console connects or disconnects on this instance."""

    def joined(self, org_id: int, user_id: int) -> None: ...

    def left(self, org_id: int, user_id: int, still_online: bool) -> None: ...


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("agent_presence_sync_failed", error=str(future.exception()))


class Hub:
    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self._by_topic: dict[str, set[Connection]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.delivered = 0
        self.agent_listener: AgentListener | None = None
        self._background: set[asyncio.Future[None]] = set()

    def _in_thread(self, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, fn)
        self._background.add(future)
        future.add_done_callback(self._background.discard)
        future.add_done_callback(_log_failure)

    def _agent_left(self, org_id: int, user_id: int) -> None:
        listener = self.agent_listener
        if listener is not None:
            listener.left(org_id, user_id, user_id in self.presence.online_user_ids(org_id))

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def connection_count(self) -> int:
        return len({c for conns in self._by_topic.values() for c in conns})

    def add(self, conn: Connection) -> None:
        for topic in conn.topics:
            self._by_topic[topic].add(conn)
        conn.start()
        if conn.user_id is not None:
            self.presence.join(conn.org_id, conn.user_id)
            if self.agent_listener is not None:
                self._in_thread(functools.partial(self.agent_listener.joined, conn.org_id, conn.user_id))

    async def remove(self, conn: Connection) -> None:
        for topic in conn.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._by_topic[topic]
        if conn.user_id is not None:
            self.presence.leave(conn.org_id, conn.user_id)
            if self.agent_listener is not None:
                self._in_thread(functools.partial(self._agent_left, conn.org_id, conn.user_id))
        await conn.stop()

    def resync(self) -> None:
        """Sends every client away to reconnect (close 1012): after the Redis bus was lost, frames published by other
        instances meanwhile never reached this one. On reconnect the widget asks for ``after=<last id>`` and the
        console reloads its lists and open chat, so both catch up from the database. Call in the event loop."""
        conns = {c for conns in self._by_topic.values() for c in conns}
        for conn in conns:
            conn.close_soon(CLOSE_RESYNC)
        if conns:
            log.warning("ws_resync_requested", connections=len(conns))

    def on_event(self, event: DomainEvent) -> None:
        """Bus subscriber: may be called from a worker thread or from the loop itself."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.dispatch(event)
        else:
            loop.call_soon_threadsafe(self.dispatch, event)

    def dispatch(self, event: DomainEvent) -> None:
        targets: set[Connection] = set()
        for topic in event.topics:
            targets |= self._by_topic.get(topic, set())
        for conn in targets:
            try:
                frame = conn.render(event)
            except Exception:
                log.exception("ws_render_failed", event_type=event.type)
                continue
            if frame is not None:
                conn.offer(frame)
                self.delivered += 1
