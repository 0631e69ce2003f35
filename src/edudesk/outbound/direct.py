"""Deliver on commit: the process that stores a message for a connected channel sends it right after the commit,
without the job hop; the durable ``channels.deliver`` job stays as the safety net.

Through the job table a delivery cost a job claim (SELECT + UPDATE + commit), the head read, the lease UPDATE and
commit, the outcome and the job's own done UPDATE and commit: about half of the server's CPU per WeChat message.
Here the transaction that queues a delivery (``conversations.messages.queue_delivery``) still enqueues its job, but
due ``grace`` later; when that transaction commits, a thread of this process claims the head of the conversation's
line in one conditional UPDATE, sends it and writes the outcome together with "that job is done". What the direct
attempt does not finish is the job's: a crash or restart before the outcome (the job runs when due and finds the
lease, then the message), a retryable failure (``retry_later`` schedules a run at the next attempt, as the job
does), a head held by another process (its holder sends on down the line after its own outcome, and it looks only
after that commit while this process looked only after its own, so one of the two always sees the other's
message).

The guarantees are the job's: one message at a time per conversation, oldest first (only the head is ever
claimed, by a statement that one process alone can win on PostgreSQL and SQLite), retried with backoff, failures
marked for the agents.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.outbound.service import MAX_PER_RUN, Claimed, Deliverer

log = structlog.get_logger(__name__)

# The safety-net job of a delivery attempted on commit is due this much later: long enough for the direct attempt
# (a provider round trip, even a slow one) to finish and close it, short enough that a crash delays a reply by
# seconds, not minutes.
DEFAULT_GRACE = dt.timedelta(seconds=30)


class Direct:
    """Sends a committed transaction's deliveries on a small pool of this process's threads."""

    def __init__(self, db: Database, deliverer: Deliverer, *, threads: int = 4,
                 grace: dt.timedelta = DEFAULT_GRACE) -> None:
        self.db = db
        self.deliverer = deliverer
        self.grace = grace
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver-on-commit")
        self._idle = threading.Condition()
        self._running = 0

    def attach(self, factory: sessionmaker[Session]) -> None:
        """Sessions of ``factory`` enqueue delivery jobs ``grace`` later and hand their deliveries here on
        commit."""
        info = dict(factory.kw.get("info") or {})
        info[conversations_service.DELIVERY_GRACE_KEY] = self.grace
        factory.configure(info=info)

        @sa_event.listens_for(factory, "after_commit")
        def _after_commit(session: Session) -> None:
            if session.in_nested_transaction():
                return
            queued = session.info.pop(conversations_service.QUEUED_DELIVERIES_KEY, None)
            if queued:
                self.submit(queued)

        @sa_event.listens_for(factory, "after_soft_rollback")
        def _after_rollback(session: Session, previous_transaction: object) -> None:
            if not session.in_transaction():
                session.info.pop(conversations_service.QUEUED_DELIVERIES_KEY, None)

    def submit(self, queued: Iterable[tuple[object, object]]) -> None:
        """Groups the (delivery, job) pairs of one commit by conversation and sends each line on the pool."""
        lines: dict[int, dict[int, int]] = {}
        for delivery, job in queued:
            delivery_key, job_key = inspect(delivery).identity, inspect(job).identity
            conversation_id = getattr(delivery, "conversation_id", None)
            if delivery_key is None or job_key is None or conversation_id is None:
                continue  # rolled back with a savepoint
            lines.setdefault(int(conversation_id), {})[int(delivery_key[0])] = int(job_key[0])
        for conversation_id, jobs_of in lines.items():
            with self._idle:
                self._running += 1
            try:
                self._pool.submit(self._run, conversation_id, jobs_of)
            except RuntimeError:  # shutting down: the safety-net jobs deliver
                self._done()

    def _run(self, conversation_id: int, jobs_of: dict[int, int]) -> None:
        try:
            self.run_line(conversation_id, jobs_of)
        except Exception:  # the database is away: the safety-net jobs deliver when it is back
            log.exception("deliver_on_commit_failed", conversation_id=conversation_id)
        finally:
            self._done()

    def run_line(self, conversation_id: int, jobs_of: dict[int, int]) -> None:
        """Sends the conversation's line from its head while this process can claim it."""
        claimed: list[Claimed | None] = []

        def claim_with_outcome(session: Session) -> None:
            # The next head is claimed in the transaction that writes this one's outcome: one commit, not two.
            claimed.append(self.deliverer.claim_next(session, conversation_id, commit=False))

        with self.db.session() as session:
            delivery = self.deliverer.claim_next(session, conversation_id)
            for _ in range(MAX_PER_RUN):
                if delivery is None:
                    return
                claimed.clear()
                if not self.deliverer.deliver(session, delivery, safety_job=jobs_of.get(delivery.id),
                                              before_commit=claim_with_outcome):
                    return
                delivery = claimed[0] if claimed else None
            if delivery is not None:  # MAX_PER_RUN sent: the line's rest goes to a job, as the job itself does
                self.deliverer.release(session, delivery)

    def _done(self) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every submitted line is done (tests, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
