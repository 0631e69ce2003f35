"""Keeps queues moving inside a ``serve`` process: dispatch when capacity frees, and a sweep every few seconds.

Events that may free a seat (a conversation resolved, closed, released or transferred; an agent coming online or
raising their maximum) ask for a dispatch of their org; requests are coalesced and run in a worker thread. The
sweep catches whatever no event announced (an agent whose heartbeat just resumed, another process's changes
without Redis). Several instances may dispatch the same org at once: the locks in ``dispatch`` make that safe.
"""

from __future__ import annotations

import asyncio
import contextlib

import anyio
import structlog

from edudesk.auth.models import User
from edudesk.db import Database
from edudesk.events import DomainEvent
from edudesk.routing import dispatch, presence

log = structlog.get_logger(__name__)

FREES_CAPACITY = frozenset({
    "conversation.resolved", "conversation.closed", "conversation.queued", "conversation.rated",
    "conversation.assigned", "agent.status",
})
SWEEP_SECONDS = 5.0


class Dispatcher:
    def __init__(self, db: Database, *, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.db = db
        self.sweep_seconds = sweep_seconds
        self._pending: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False

    def on_event(self, event: DomainEvent) -> None:
        """Bus subscriber (any thread). An assignment frees a seat only when it moved a conversation away from
        someone (a transfer or take-over); the dispatcher's own assignments would otherwise each ask for another
        round that finds nothing."""
        if event.type not in FREES_CAPACITY or event.org_id is None:
            return
        if event.type == "conversation.assigned" and "previous_assignee_id" not in event.data:
            return
        self.request(event.org_id)

    @property
    def pending(self) -> set[int]:
        """Orgs waiting for a dispatch round."""
        return set(self._pending)

    def request(self, org_id: int) -> None:
        self._pending.add(org_id)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def dispatch_org(self, org_id: int) -> int:
        with self.db.session() as session:
            done = dispatch.dispatch(session, org_id)
            session.commit()
            return len(done)

    def sweep(self) -> int:
        with self.db.session() as session:
            orgs = dispatch.orgs_with_queue(session)
        return sum(self.dispatch_org(org_id) for org_id in orgs)

    def stop(self) -> None:
        """Ends ``run`` at its next turn. Shutdown calls this before cancelling the task: on Python 3.11 a
        cancellation that coincides with the end of a wait can be swallowed, and the loop must end anyway."""
        self._stopping = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_seconds):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            orgs, self._pending = self._pending, set()
            try:
                if orgs:
                    for org_id in orgs:
                        await anyio.to_thread.run_sync(self.dispatch_org, org_id)
                else:
                    await anyio.to_thread.run_sync(self.sweep)
            except Exception:
                log.exception("dispatch_failed")


class AgentPresenceSync:
    """Mirrors console connections into ``agent_states`` so routing (in any process) knows who is there."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def joined(self, org_id: int, user_id: int) -> None:
        # An agent coming back publishes ``agent.status``, which asks the dispatcher for a round.
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or user.org_id != org_id:
                return
            presence.connected(session, user)
            session.commit()

    def left(self, org_id: int, user_id: int, still_online: bool) -> None:
        if still_online:
            return
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None or user.org_id != org_id:
                return
            presence.disconnected(session, user)
            session.commit()

    def heartbeat(self, connected: dict[int, set[int]]) -> None:
        ids = {uid for users in connected.values() for uid in users}
        if ids:
            with self.db.session() as session:
                presence.seen(session, ids)
                session.commit()
