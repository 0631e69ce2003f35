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
from sqlalchemy import String, cast, func, select, update
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


@dataclass
class Deliverer:
    """The job handler, built by the app factory."""

    registry: ChannelRegistry
    box: SecretBox
    upload_dir: Path
    lease: dt.timedelta = dt.timedelta(seconds=60)
    clock: Callable[[], dt.datetime] = utcnow
    on_outcome: list[Callable[[ChannelDelivery], None]] = field(default_factory=list)

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

    def claim_head(self, session: Session, conversation_id: int) -> ChannelDelivery | None:
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
        won = session.execute(
            update(ChannelDelivery)
            .where(ChannelDelivery.id == head.id, ChannelDelivery.state.in_(UNFINISHED),
                   ChannelDelivery.next_attempt_at <= now,
                   (ChannelDelivery.lease_until.is_(None)) | (ChannelDelivery.lease_until < now))
            .values(state=DeliveryState.sending, lease_until=now + self.lease)
            .execution_options(synchronize_session=False))
        session.commit()
        if not won.rowcount:  # type: ignore[attr-defined]
            return None
        return session.get(ChannelDelivery, head.id, populate_existing=True)

    def claim_next(self, session: Session, conversation_id: int, *, commit: bool = True) -> ChannelDelivery | None:
        """The head of the conversation's line, leased to the caller in one statement, when it is due and nobody
        holds it; else None. The direct lane's claim: it schedules nothing, because every delivery already has its
        safety-net job and a held head is sent on by its holder (edudesk.outbound.direct). ``commit=False``: the
        caller commits it with what it writes (the previous delivery's outcome)."""
        now = self.clock()
        head = (select(func.min(ChannelDelivery.id))
                .where(ChannelDelivery.conversation_id == conversation_id, ChannelDelivery.state.in_(UNFINISHED))
                .scalar_subquery())
        won = session.scalars(
            update(ChannelDelivery)
            .where(ChannelDelivery.id == head, ChannelDelivery.state.in_(UNFINISHED),
                   ChannelDelivery.next_attempt_at <= now,
                   (ChannelDelivery.lease_until.is_(None)) | (ChannelDelivery.lease_until < now))
            .values(state=DeliveryState.sending, lease_until=now + self.lease)
            .returning(ChannelDelivery)
            .execution_options(synchronize_session=False, populate_existing=True)).first()
        if commit:
            session.commit()
        return won

    def release(self, session: Session, delivery: ChannelDelivery) -> None:
        """Gives a claimed head back unsent and schedules a run of its line now (a long line's rest)."""
        delivery.state = DeliveryState.pending
        delivery.lease_until = None
        self.schedule(session, delivery, self.clock())
        session.commit()

    def schedule(self, session: Session, delivery: ChannelDelivery, when: dt.datetime) -> None:
        """A run of the delivery's conversation line at ``when`` (the delivery carries the org: no read needed)."""
        jobs.enqueue(session, DELIVER_JOB, {"conversation_id": delivery.conversation_id}, org_id=delivery.org_id,
                     run_at=max(when, self.clock()), max_attempts=50)

    # --- sending ------------------------------------------------------------------------------------------------

    def deliver(self, session: Session, delivery: ChannelDelivery, safety_job: int | None = None,
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

    def prepare(self, session: Session, delivery: ChannelDelivery) -> tuple[SendContext, OutboundMessage]:
        # The message, its conversation, the inbox and the visitor's id on it in one statement (four before).
        identity = (select(ContactIdentity.external_id)
                    .where(ContactIdentity.org_id == Conversation.org_id,
                           ContactIdentity.contact_id == Conversation.contact_id,
                           ContactIdentity.channel == Inbox.kind + ":" + cast(Inbox.id, String))
                    .order_by(ContactIdentity.id).limit(1).scalar_subquery())
        row = session.execute(
            select(Message, Conversation, Inbox, identity)
            .select_from(Message)
            .join(Conversation, (Conversation.id == delivery.conversation_id)
                  & (Conversation.org_id == delivery.org_id))
            .outerjoin(Inbox, (Inbox.id == delivery.inbox_id) & (Inbox.org_id == delivery.org_id))
            .where(Message.id == delivery.message_id, Message.org_id == delivery.org_id)).first()
        if row is None:
            raise _Undeliverable("gone", "消息已删除")
        msg, conv, inbox, external_id = row
        if delivery.inbox_id is None or inbox is None:
            raise _Undeliverable("no_inbox", "渠道账号已删除，无法送达")
        if not inbox.enabled:
            raise _Undeliverable("inbox_disabled", "渠道账号已停用，无法送达")
        try:
            adapter = self.registry.get(inbox.kind)
            info = inboxes_service.cached_info(inbox, adapter, self.box)
        except (ChannelLoadError, SecretBoxError, ValueError) as exc:
            raise _Undeliverable("bad_inbox", f"渠道账号配置无法读取：{exc}"[:200]) from None
        if external_id is None:
            raise _Undeliverable("no_identity", "找不到访客在该渠道的身份")
        now = self.clock()
        window = adapter.reply_window
        last = conv.last_visitor_message_at
        outside = window is not None and (last is None or now - last > window)
        text, buttons = render.text_and_buttons(msg.text, msg.extra, adapter.capabilities)
        attachment = None
        if msg.attachment_id is not None:
            att = session.get(Attachment, msg.attachment_id)
            path = files.attachment_path(self.upload_dir, att.org_id, att.storage_key) if att else None
            if att is not None and path is not None:
                attachment = OutboundAttachment(path=path, content_type=att.content_type,
                                                filename=att.original_name)
        message = OutboundMessage(
            org_id=conv.org_id, channel=inbox.kind, external_user_id=external_id, text=text, buttons=buttons,
            attachment=attachment, outside_window=outside, delivery_key=f"edk-{delivery.id}",
            sender=msg.sender.value, sender_name=msg.sender_name,
            meta={"conversation_id": conv.id, "message_id": msg.id, "kind": (msg.extra or {}).get("kind"),
                  "created_at": msg.created_at.isoformat() if msg.created_at else None},
        )
        return SendContext(inbox=info, services=self.registry.services or _no_services(), session=session), message

    # --- outcomes -----------------------------------------------------------------------------------------------

    def finish_sent(self, session: Session, delivery: ChannelDelivery, result: SendResult, *,
                    safety_job: int | None = None, before_commit: Callable[[Session], None] | None = None) -> None:
        delivery.state = DeliveryState.sent
        delivery.attempts += 1
        delivery.sent_at = self.clock()
        delivery.lease_until = None
        delivery.last_error = None
        delivery.external_id = (result.external_message_id or "")[:128] or None
        delivery.via = result.via
        if result.via != "message" or delivery.attempts > 1:  # a template, or the end of a "retrying" mark
            self._mark_message(session, delivery, "sent", via=result.via)
        self._close_safety_job(session, safety_job)
        if before_commit is not None:
            session.flush()
            before_commit(session)
        session.commit()
        self._tell(delivery)

    def retry_later(self, session: Session, delivery: ChannelDelivery, error: str, *,
                    safety_job: int | None = None) -> None:
        session.rollback()
        delivery = session.get(ChannelDelivery, delivery.id, populate_existing=True) or delivery
        delivery.state = DeliveryState.pending
        delivery.attempts += 1
        delivery.lease_until = None
        delivery.last_error = error[:500]
        delivery.next_attempt_at = self.clock() + retry_delay(delivery.attempts)
        if delivery.attempts == 1:
            self._mark_message(session, delivery, "retrying", error=error[:200])
        self.schedule(session, delivery, delivery.next_attempt_at)
        self._close_safety_job(session, safety_job)
        session.commit()
        log.warning("channel_send_failed", delivery_id=delivery.id, attempts=delivery.attempts, error=error[:300])
        self._tell(delivery)

    def finish_failed(self, session: Session, delivery: ChannelDelivery, code: str, message: str, *,
                      safety_job: int | None = None, before_commit: Callable[[Session], None] | None = None
                      ) -> None:
        session.rollback()
        delivery = session.get(ChannelDelivery, delivery.id, populate_existing=True) or delivery
        delivery.state = DeliveryState.failed
        delivery.attempts += 1
        delivery.lease_until = None
        delivery.last_error = f"{code}: {message}"[:500]
        self._mark_message(session, delivery, "failed", error=message[:200], code=code)
        self._close_safety_job(session, safety_job)
        if before_commit is not None:
            session.flush()
            before_commit(session)
        session.commit()
        log.warning("channel_send_refused", delivery_id=delivery.id, code=code)
        self._tell(delivery)

    def _mark_message(self, session: Session, delivery: ChannelDelivery, state: str, **detail: str) -> None:
        msg = session.get(Message, delivery.message_id)
        if msg is not None:
            conversations_service.mark_delivery(session, msg, {"state": state, **detail})

    def _close_safety_job(self, session: Session, job_id: int | None) -> None:
        """Marks the delivery's safety-net job done with the outcome (same transaction) while no worker has taken
        it; a worker that has finds the line empty or not due, as after any other run."""
        if job_id is not None:
            session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.pending)
                            .values(status=JobStatus.done, finished_at=self.clock())
                            .execution_options(synchronize_session=False))

    def _tell(self, delivery: ChannelDelivery) -> None:
        for fn in self.on_outcome:
            fn(delivery)


class _Undeliverable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _no_services() -> Any:
    raise RuntimeError("the channel registry has no services bound (create_app binds them)")
