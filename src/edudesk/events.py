"""Domain events, published only after the transaction that caused them commits.

Services call ``record(session, event)``; the event waits in ``session.info`` and is handed to the bus by an
``after_commit`` hook, so a rolled-back change never announces itself. The in-process bus delivers to local
subscribers; the Redis bus publishes to a channel that every instance (including this one) subscribes to, so two
``edudesk serve`` processes behave as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aredis
import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

log = structlog.get_logger(__name__)

PENDING_KEY = "edudesk_pending_events"
SAVEPOINT_MARKS_KEY = "edudesk_pending_event_savepoints"


@dataclass(frozen=True)
class DomainEvent:
    type: str
    org_id: int
    data: dict[str, Any] = field(default_factory=dict)
    # Realtime topics this event is pushed to, e.g. "conv:12" (visitor + watching agents) or "org:3:agents".
    topics: tuple[str, ...] = ()

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies ``data`` (every nested dict, list and datetime) only for json to
        # read it once; that copy was 95 % of publishing an event through Redis.
        return json.dumps({"type": self.type, "org_id": self.org_id, "data": self.data, "topics": list(self.topics)},
                          ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DomainEvent:
        data = json.loads(raw)
        return cls(type=data["type"], org_id=data["org_id"], data=data["data"], topics=tuple(data["topics"]))


def contact_topic(contact_id: int) -> str:
    """The topic of one visitor's tabs (and of the agents watching that visitor's conversation)."""
    return f"contact:{contact_id}"


def agents_topic(org_id: int) -> str:
    """The topic of every agent console of an org. Here, in the core, because more than one area addresses it
    (conversations, routing's presence)."""
    return f"org:{org_id}:agents"


def record(session: Session, event: DomainEvent) -> None:
    session.info.setdefault(PENDING_KEY, []).append(event)


Subscriber = Callable[[DomainEvent], None]


class EventBus:
    """In-process bus: subscribers are called in the committing thread, in order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(fn)

    def publish(self, events: list[DomainEvent]) -> None:
        for ev in events:
            self._deliver(ev)

    def _deliver(self, ev: DomainEvent) -> None:
        for fn in list(self._subscribers):
            try:
                fn(ev)
            except Exception:
                # One broken subscriber must not stop the others; the state change is already committed.
                log.exception("event_subscriber_failed", event_type=ev.type)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def attach(self, factory: sessionmaker[Session]) -> None:
        """Wire the transaction hooks on a session factory.

        SQLAlchemy also fires ``after_commit``/``after_rollback`` for a savepoint (``begin_nested``): its release
        publishes nothing yet (the outer transaction may still roll back), and its rollback drops only the events
        recorded since the savepoint began.
        """

        @sa_event.listens_for(factory, "after_commit")
        def _after_commit(session: Session) -> None:
            if session.in_nested_transaction():
                return
            pending = session.info.pop(PENDING_KEY, None)
            if pending:
                self.publish(pending)

        @sa_event.listens_for(factory, "after_transaction_create")
        def _after_transaction_create(session: Session, transaction: SessionTransaction) -> None:
            if transaction.nested:
                marks = session.info.setdefault(SAVEPOINT_MARKS_KEY, {})
                marks[transaction] = len(session.info.get(PENDING_KEY, ()))

        @sa_event.listens_for(factory, "after_transaction_end")
        def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
            session.info.get(SAVEPOINT_MARKS_KEY, {}).pop(transaction, None)

        @sa_event.listens_for(factory, "after_rollback")
        def _after_rollback(session: Session) -> None:
            savepoint = session.get_nested_transaction()
            mark = session.info.get(SAVEPOINT_MARKS_KEY, {}).get(savepoint) if savepoint is not None else None
            if mark is None:
                session.info.pop(PENDING_KEY, None)
            else:
                del session.info.get(PENDING_KEY, [])[mark:]


# Reconnect delays of the Redis listener: from the first to the cap, doubling, each with ±25 % jitter so that the
# instances of a deployment do not reconnect in lock-step after Redis comes back.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 15.0
# A Redis that does not answer at all (host gone, network partition) must not hold a committing request: a publish
# or a connect gives up after this long and the event is delivered on this instance only.
REDIS_SOCKET_TIMEOUT = 2.0
# Without traffic a dead pub/sub connection would never be noticed; redis-py pings it after this much silence.
PUBSUB_HEALTH_CHECK_SECONDS = 5

Listener = Callable[[], None]


def reconnect_delay(failures: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before the ``failures``-th reconnection attempt (1-based)."""
    base = min(RECONNECT_MAX_SECONDS, RECONNECT_FIRST_SECONDS * float(2 ** max(0, failures - 1)))
    return base * (0.75 + 0.5 * rand())


class RedisEventBus(EventBus):
    """Publishes to Redis; a listener task delivers what any instance published to the local subscribers.

    While Redis is unreachable the instances are islands: a publish that fails is delivered to this instance's
    subscribers directly (the committing request never fails for it), and other instances miss it. When the listener
    is subscribed again after a loss it calls the ``on_resubscribed`` callbacks, which make clients resynchronise
    (the hub closes every socket with 1012; the widget reconnects with ``after=<last id>``, the console reloads).
    """

    def __init__(self, url: str, namespace: str = "edudesk") -> None:
        super().__init__()
        self.channel = f"{namespace}:events"
        self._url = url
        self._sync = redis.Redis.from_url(url, socket_timeout=REDIS_SOCKET_TIMEOUT,
                                          socket_connect_timeout=REDIS_SOCKET_TIMEOUT)
        self._async = aredis.Redis.from_url(url, socket_connect_timeout=REDIS_SOCKET_TIMEOUT,
                                            health_check_interval=PUBSUB_HEALTH_CHECK_SECONDS)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._resubscribed: list[Listener] = []
        self._publish_down_since: float | None = None
        self.publish_failures = 0
        self.reconnects = 0

    def on_resubscribed(self, fn: Listener) -> None:
        """``fn`` runs in the event loop each time the listener is subscribed again after losing Redis."""
        self._resubscribed.append(fn)

    def publish(self, events: list[DomainEvent]) -> None:
        try:
            pipe = self._sync.pipeline(transaction=False)
            for ev in events:
                pipe.publish(self.channel, ev.to_json())
            pipe.execute()
        except redis.RedisError as exc:
            # The change is committed; failing here would turn a stored message into an error for its sender.
            self.publish_failures += 1
            if self._publish_down_since is None:
                self._publish_down_since = time.monotonic()
                log.error("redis_publish_failed; delivering on this instance only until Redis is back",
                          error=str(exc), events=len(events))
            super().publish(events)
            return
        if self._publish_down_since is not None:
            log.info("redis_publish_recovered", down_seconds=round(time.monotonic() - self._publish_down_since, 1))
            self._publish_down_since = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="edudesk-redis-events")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self) -> None:
        failures = 0
        lost_at: float | None = None
        while True:
            pubsub = self._async.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if lost_at is not None:
                    self.reconnects += 1
                    log.warning("redis_listener_reconnected; clients resynchronise",
                                down_seconds=round(time.monotonic() - lost_at, 1), attempts=failures)
                    self._after_resubscribe()
                failures, lost_at = 0, None
                self._ready.set()
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        ev = DomainEvent.from_json(msg["data"])
                    except (ValueError, KeyError, TypeError):
                        # Includes valid JSON of the wrong shape ([], null, "text"): skipping it must not cost
                        # a reconnect, during which other instances' events would be lost.
                        log.warning("redis_event_malformed")
                        continue
                    self._deliver(ev)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if lost_at is None:
                    lost_at = time.monotonic()
                    # One line with the cause when the link drops, then one short line per attempt: no traceback
                    # every second while Redis is down.
                    log.error("redis_listener_lost; reconnecting", error=f"{type(exc).__name__}: {exc}")
                else:
                    log.warning("redis_listener_still_down", attempts=failures, error=type(exc).__name__)
                await asyncio.sleep(reconnect_delay(failures))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _after_resubscribe(self) -> None:
        for fn in list(self._resubscribed):
            try:
                fn()
            except Exception:
                log.exception("redis_resubscribe_callback_failed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._async.aclose()
        self._sync.close()


def make_bus(redis_url: str | None, namespace: str = "edudesk") -> EventBus:
    return RedisEventBus(redis_url, namespace) if redis_url else EventBus()
