"""The ``channels.deliver`` job: send a conversation's waiting messages through its channel adapter, in order.

Every bot, agent and system message of a conversation on a connected channel (an inbox) is put in the
``channel_deliveries`` outbox in the transaction that stores it (conversations.messages.queue_delivery). This job
sends them one at a time, oldest first. No transaction stays open while the provider answers: the head of the
conversation's line is claimed with a lease (one conditional UPDATE that only one worker can win, on PostgreSQL
as on SQLite), committed, sent, and the outcome written in a second transaction. A failure the provider may get
over (an outage, an expired token that a refresh did not mend) leaves the message at the head of the line, tried
again with backoff, so later messages never overtake it and nothing is lost; a permanent one (outside the reply
window, the visitor blocked the account) marks it failed and tells the agents beside the message.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import String, Table, bindparam, cast, func, or_, select, update
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.channels.base import (
    ChannelLoadError,
    ChannelRegistry,
    ChannelSendError,
    OutboundAttachment,
    OutboundMessage,
    SendContext,
    SendResult,
)
from edudesk.contacts.models import ContactIdentity
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import (
    Attachment,
    ChannelDelivery,
    Conversation,
    DeliveryState,
    Message,
)
from edudesk.db import utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.jobs import Job, JobStatus
from edudesk.outbound import render
from edudesk.privacy import files
from edudesk.secretbox import SecretBox, SecretBoxError

log = structlog.get_logger(__name__)

DELIVER_JOB = conversations_service.DELIVER_JOB
# A run sends at most this many messages of one conversation, then hands over to a fresh job (other conversations'
# jobs are not starved by one long backlog).
MAX_PER_RUN = 50
UNFINISHED = (DeliveryState.pending, DeliveryState.sending)


def retry_delay(attempts: int, rand: Callable[[], float] = random.random) -> dt.timedelta:
    """2, 4, 8 … seconds after the 1st, 2nd, 3rd … failure, capped at five minutes, ±15 %: a parent waiting in a
    chat should get the answer soon after the channel is back, and many waiting messages should not all retry in
    the same second."""
    base = min(300.0, 2.0 ** max(1, attempts))
    return dt.timedelta(seconds=base * (0.85 + 0.3 * rand()))


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to its sender: what sending it and writing its outcome need. Plain values, not an ORM
    object: the lane reads and writes the outbox with prebuilt Core statements (below), which cost a fraction of
    building ORM statements and loading and flushing ORM objects per message."""

    id: int
    org_id: int
    conversation_id: int
    message_id: int
    inbox_id: int | None
    attempts: int


# The lane's statements, built once: constructing a statement (operators, coercions, its cache key) cost as much
# as running it. Parameters are named apart from the columns they set (SQLAlchemy reserves the column names).
_D: Table = ChannelDelivery.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
_CLAIMED = (_D.c.id, _D.c.org_id, _D.c.conversation_id, _D.c.message_id, _D.c.inbox_id, _D.c.attempts)
_HEAD = (select(func.min(_D.c.id))
         .where(_D.c.conversation_id == bindparam("line"), _D.c.state.in_(UNFINISHED))
         .scalar_subquery())
_CLAIM_WHERE = (_D.c.state.in_(UNFINISHED), _D.c.next_attempt_at <= bindparam("now"),
                or_(_D.c.lease_until.is_(None), _D.c.lease_until < bindparam("now")))
# The head of a line, leased in one statement that only one process can win (PostgreSQL and SQLite alike).
CLAIM_HEAD = (update(_D).where(_D.c.id == _HEAD, *_CLAIM_WHERE)
              .values(state=DeliveryState.sending, lease_until=bindparam("until")).returning(*_CLAIMED))
# The same for a head already read (the job's claim, which first looks at why the head may not be claimable).
CLAIM_ONE = (update(_D).where(_D.c.id == bindparam("delivery"), *_CLAIM_WHERE)
             .values(state=DeliveryState.sending, lease_until=bindparam("until")).returning(*_CLAIMED))
MARK_SENT = (update(_D).where(_D.c.id == bindparam("delivery"))
             .values(state=DeliveryState.sent, attempts=bindparam("tries"), sent_at=bindparam("at"),
                     lease_until=None, last_error=None, external_id=bindparam("external"), via=bindparam("how")))
RELEASE = (update(_D).where(_D.c.id == bindparam("delivery"))
           .values(state=DeliveryState.pending, lease_until=None))
_J: Table = Job.__table__  # type: ignore[assignment]
CLOSE_JOB = (update(_J).where(_J.c.id == bindparam("job"), _J.c.status == JobStatus.pending)
             .values(status=JobStatus.done, finished_at=bindparam("at")))


def _prepare_statement() -> Any:
    """The message, its conversation, the inbox and the visitor's id on it, as plain columns in one statement."""
    m, c, i, ci = Message.__table__, Conversation.__table__, Inbox.__table__, ContactIdentity.__table__
    identity = (select(ci.c.external_id)
                .where(ci.c.org_id == c.c.org_id, ci.c.contact_id == c.c.contact_id,
                       ci.c.channel == i.c.kind + ":" + cast(i.c.id, String))
                .order_by(ci.c.id).limit(1).scalar_subquery())
    org: Any = bindparam("org")
    return (select(m.c.id, m.c.text, m.c.extra, m.c.attachment_id, m.c.sender, m.c.sender_name, m.c.created_at,
                   c.c.id.label("conv_id"), c.c.org_id.label("conv_org_id"), c.c.last_visitor_message_at,
                   i.c.id.label("inbox_id"), i.c.org_id.label("inbox_org_id"), i.c.kind, i.c.public_id, i.c.name,
                   i.c.enabled, i.c.updated_at, i.c.secrets_encrypted, i.c.settings,
                   identity.label("external_id"))
            .select_from(m.join(c, (c.c.id == bindparam("conv")) & (c.c.org_id == org))
                         .outerjoin(i, (i.c.id == bindparam("inbox")) & (i.c.org_id == org)))
            .where(m.c.id == bindparam("message"), m.c.org_id == org))


PREPARE = _prepare_statement()


def _claimed(row: Any) -> Claimed | None:
    return None if row is None else Claimed(*row)


@dataclass
class Deliverer:
    """The job handler, built by the app factory."""

    registry: ChannelRegistry
    box: SecretBox
    upload_dir: Path
    lease: dt.timedelta = dt.timedelta(seconds=60)
    clock: Callable[[], dt.datetime] = utcnow
    on_outcome: list[Callable[[Claimed], None]] = field(default_factory=list)

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        conversation_id = int(payload["conversation_id"])
        for _ in range(MAX_PER_RUN):
            delivery = self.claim_head(session, conversation_id)
            if delivery is None:
                return
            if not self.deliver(session, delivery):
                return
        assert delivery is not None  # MAX_PER_RUN sent: hand the rest of the line to a fresh job
        self.schedule(session, delivery, self.clock())
        session.commit()

    # --- claiming -----------------------------------------------------------------------------------------------

    def claim_head(self, session: Session, conversation_id: int) -> Claimed | None:
        """The oldest unfinished delivery of the conversation, leased to this run; None when there is none, it is
        not due yet (a job is then waiting for it) or another run holds it (that run goes on with the line)."""
        now = self.clock()
        head = session.scalars(
            select(ChannelDelivery)
            .where(ChannelDelivery.conversation_id == conversation_id, ChannelDelivery.state.in_(UNFINISHED))
            .order_by(ChannelDelivery.id).limit(1)).first()
        if head is None:
            session.commit()
            return None
        if head.state == DeliveryState.sending and head.lease_until is not None and head.lease_until >= now:
            # Held by another run; if that worker dies, look again when its lease ends.
            self.schedule(session, head, head.lease_until + dt.timedelta(seconds=1))
            session.commit()
            return None
        if head.next_attempt_at > now:
            self.schedule(session, head, head.next_attempt_at)
            session.commit()
            return None
        won = _claimed(session.execute(CLAIM_ONE, {"delivery": head.id, "now": now,
                                                   "until": now + self.lease}).first())
        session.commit()
        return won

    def claim_next(self, session: Session, conversation_id: int, *, commit: bool = True) -> Claimed | None:
        """The head of the conversation's line, leased to the caller in one statement, when it is due and nobody
        holds it; else None. The direct lane's claim: it schedules nothing, because every delivery already has its
        safety-net job and a held head is sent on by its holder (edudesk.outbound.direct). ``commit=False``: the
        caller commits it with what it writes (the previous delivery's outcome)."""
        now = self.clock()
        won = _claimed(session.execute(CLAIM_HEAD, {"line": conversation_id, "now": now,
                                                    "until": now + self.lease}).first())
        if commit:
            session.commit()
        return won

    def release(self, session: Session, delivery: Claimed) -> None:
        """Gives a claimed head back unsent and schedules a run of its line now (a long line's rest)."""
        session.execute(RELEASE, {"delivery": delivery.id})
        self.schedule(session, delivery, self.clock())
        session.commit()

    def schedule(self, session: Session, delivery: Claimed | ChannelDelivery, when: dt.datetime) -> None:
        """A run of the delivery's conversation line at ``when`` (the delivery carries the org: no read needed)."""
        jobs.enqueue(session, DELIVER_JOB, {"conversation_id": delivery.conversation_id}, org_id=delivery.org_id,
                     run_at=max(when, self.clock()), max_attempts=50)

    # --- sending ------------------------------------------------------------------------------------------------

    def deliver(self, session: Session, delivery: Claimed, safety_job: int | None = None,
                before_commit: Callable[[Session], None] | None = None) -> bool:
        """Sends one delivery and records the outcome; False when the line must wait (a retry is scheduled).
        ``safety_job``: the delivery's own job (direct lane), closed with the outcome since it has nothing left
        to do; ``before_commit`` runs in the outcome's transaction when the line goes on (sent or failed)."""
        try:
            ctx, message = self.prepare(session, delivery)
        except _Undeliverable as exc:
            self.finish_failed(session, delivery, exc.code, exc.message, safety_job=safety_job,
                               before_commit=before_commit)
            return True
        session.commit()  # no transaction stays open while the provider answers
        try:
            result = self.registry.adapter(ctx.inbox.kind).send(ctx, message)
        except ChannelSendError as exc:
            if exc.retryable:
                self.retry_later(session, delivery, f"{exc.code}: {exc.message}", safety_job=safety_job)
                return False
            self.finish_failed(session, delivery, exc.code, exc.message, safety_job=safety_job,
                               before_commit=before_commit)
            return True
        except Exception as exc:  # a bug or an unexpected network error: retried like an outage, and logged
            log.exception("channel_send_crashed", delivery_id=delivery.id, kind=ctx.inbox.kind)
            self.retry_later(session, delivery, f"{type(exc).__name__}: {exc}", safety_job=safety_job)
            return False
        if ctx.session is not None and ctx.session is session:
            session.flush()
        self.finish_sent(session, delivery, result, safety_job=safety_job, before_commit=before_commit)
        return True

    def prepare(self, session: Session, delivery: Claimed) -> tuple[SendContext, OutboundMessage]:
        # The message, its conversation, the inbox and the visitor's id on it in one statement (four before).
        row = session.execute(PREPARE, {"message": delivery.message_id, "conv": delivery.conversation_id,
                                        "inbox": delivery.inbox_id, "org": delivery.org_id}).first()
        if row is None:
            raise _Undeliverable("gone", "消息已删除")
        if delivery.inbox_id is None or row.inbox_id is None:
            raise _Undeliverable("no_inbox", "渠道账号已删除，无法送达")
        if not row.enabled:
            raise _Undeliverable("inbox_disabled", "渠道账号已停用，无法送达")
        inbox = inboxes_service.InboxColumns(
            id=row.inbox_id, org_id=row.inbox_org_id, kind=row.kind, public_id=row.public_id, name=row.name,
            enabled=row.enabled, updated_at=row.updated_at, secrets_encrypted=row.secrets_encrypted,
            settings=row.settings)
        try:
            adapter = self.registry.get(inbox.kind)
            info = inboxes_service.cached_info(inbox, adapter, self.box)
        except (ChannelLoadError, SecretBoxError, ValueError) as exc:
            raise _Undeliverable("bad_inbox", f"渠道账号配置无法读取：{exc}"[:200]) from None
        external_id = row.external_id
        if external_id is None:
            raise _Undeliverable("no_identity", "找不到访客在该渠道的身份")
        now = self.clock()
        window = adapter.reply_window
        last = row.last_visitor_message_at
        outside = window is not None and (last is None or now - last > window)
        extra = row.extra or {}
        text, buttons = render.text_and_buttons(row.text, extra, adapter.capabilities)
        attachment = None
        if row.attachment_id is not None:
            att = session.get(Attachment, row.attachment_id)
            path = files.attachment_path(self.upload_dir, att.org_id, att.storage_key) if att else None
            if att is not None and path is not None:
                attachment = OutboundAttachment(path=path, content_type=att.content_type,
                                                filename=att.original_name)
        message = OutboundMessage(
            org_id=row.conv_org_id, channel=inbox.kind, external_user_id=external_id, text=text, buttons=buttons,
            attachment=attachment, outside_window=outside, delivery_key=f"edk-{delivery.id}",
            sender=row.sender.value, sender_name=row.sender_name,
            meta={"conversation_id": row.conv_id, "message_id": row.id, "kind": extra.get("kind"),
                  "created_at": row.created_at.isoformat() if row.created_at else None},
        )
        return SendContext(inbox=info, services=self.registry.services or _no_services(), session=session), message

    # --- outcomes -----------------------------------------------------------------------------------------------

    def finish_sent(self, session: Session, delivery: Claimed, result: SendResult, *,
                    safety_job: int | None = None, before_commit: Callable[[Session], None] | None = None) -> None:
        attempts = delivery.attempts + 1
        session.execute(MARK_SENT, {"delivery": delivery.id, "tries": attempts, "at": self.clock(),
                                    "external": (result.external_message_id or "")[:128] or None,
                                    "how": result.via})
        if result.via != "message" or attempts > 1:  # a template, or the end of a "retrying" mark
            self._mark_message(session, delivery, "sent", via=result.via)
        self._close_safety_job(session, safety_job)
        if before_commit is not None:
            session.flush()
            before_commit(session)
        session.commit()
        self._tell(delivery)

    def retry_later(self, session: Session, delivery: Claimed, error: str, *,
                    safety_job: int | None = None) -> None:
        session.rollback()
        row = session.get(ChannelDelivery, delivery.id, populate_existing=True)
        if row is not None:
            row.state = DeliveryState.pending
            row.attempts += 1
            row.lease_until = None
            row.last_error = error[:500]
            row.next_attempt_at = self.clock() + retry_delay(row.attempts)
            if row.attempts == 1:
                self._mark_message(session, delivery, "retrying", error=error[:200])
            self.schedule(session, row, row.next_attempt_at)
        self._close_safety_job(session, safety_job)
        session.commit()
        log.warning("channel_send_failed", delivery_id=delivery.id, attempts=row.attempts if row else None,
                    error=error[:300])
        self._tell(delivery)

    def finish_failed(self, session: Session, delivery: Claimed, code: str, message: str, *,
                      safety_job: int | None = None, before_commit: Callable[[Session], None] | None = None
                      ) -> None:
        session.rollback()
        row = session.get(ChannelDelivery, delivery.id, populate_existing=True)
        if row is not None:
            row.state = DeliveryState.failed
            row.attempts += 1
            row.lease_until = None
            row.last_error = f"{code}: {message}"[:500]
            self._mark_message(session, delivery, "failed", error=message[:200], code=code)
        self._close_safety_job(session, safety_job)
        if before_commit is not None:
            session.flush()
            before_commit(session)
        session.commit()
        log.warning("channel_send_refused", delivery_id=delivery.id, code=code)
        self._tell(delivery)

    def _mark_message(self, session: Session, delivery: Claimed, state: str, **detail: str) -> None:
        msg = session.get(Message, delivery.message_id)
        if msg is not None:
            conversations_service.mark_delivery(session, msg, {"state": state, **detail})

    def _close_safety_job(self, session: Session, job_id: int | None) -> None:
        """Marks the delivery's safety-net job done with the outcome (same transaction) while no worker has taken
        it; a worker that has finds the line empty or not due, as after any other run."""
        if job_id is not None:
            session.execute(CLOSE_JOB, {"job": job_id, "at": self.clock()})

    def _tell(self, delivery: Claimed) -> None:
        for fn in self.on_outcome:
            fn(delivery)


class _Undeliverable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _no_services() -> Any:
    raise RuntimeError("the channel registry has no services bound (create_app binds them)")
