"""Messages and attachments: storing a message (idempotent on the visitor's client id), staff notes, the
per-message checks of the inbound path, and reading the transcript."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any, cast

from sqlalchemy import ScalarSelect, Select, SQLColumnExpression, Table, bindparam, func, insert, select, true
from sqlalchemy.orm import Session, aliased, make_transient_to_detached

from edudesk import events, jobs
from edudesk.auth.models import User
from edudesk.conversations.base import (
    ConversationError,
    Posted,
    S,
    get,
    summary,
)
from edudesk.conversations.models import (
    Attachment,
    ChannelDelivery,
    Conversation,
    DeliveryState,
    Message,
    SenderKind,
)
from edudesk.conversations.schemas import message_to_dict
from edudesk.db import NotFoundError, get_in_org, utcnow
from edudesk.events import agents_topic, contact_topic


def find_by_client_id(session: Session, conv: Conversation, client_id: str) -> Message | None:
    """A retried visitor message is recognised in any conversation of the same contact.

    Runs for every inbound message, so it must stay one index lookup per conversation of the contact
    (``ix_conversations_contact_id``, then ``uq_messages_conversation_client``) however big the org grows. An
    ``org_id`` term in the SQL would make SQLite, which keeps no statistics, walk every message of the org through
    ``ix_messages_org_id`` instead; the org is enforced on the row found.
    """
    conversations = select(Conversation.id).where(Conversation.contact_id == conv.contact_id)
    stmt = select(Message).where(Message.conversation_id.in_(conversations), Message.client_id == client_id).limit(1)
    found = session.scalars(stmt).first()
    return found if found is not None and found.org_id == conv.org_id else None


_INSERT_MESSAGE = insert(cast(Table, Message.__table__)).returning(cast(Table, Message.__table__).c.id)
_NEW_MESSAGE = Message.__mapper__.class_manager.new_instance


def _as_loaded(msg_id: int, values: dict[str, Any]) -> Message:
    """The row just inserted as a detached ``Message``, as if loaded: its values go straight into the instance's
    dict. ``Message(**values)`` ran an attribute event per column (twice a turn) only for
    ``make_transient_to_detached`` to commit them again; the result is the same object state."""
    msg: Message = _NEW_MESSAGE()
    msg.__dict__.update(values, id=msg_id)
    make_transient_to_detached(msg)
    return msg


def post_message(
    session: Session,
    conv: Conversation,
    sender: SenderKind,
    text: str,
    *,
    sender_name: str = "",
    sender_user_id: int | None = None,
    client_id: str | None = None,
    attachment: Attachment | None = None,
    buttons: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    client_id_checked: bool = False,
) -> Posted:
    """Stores a message; a ``client_id`` already stored for the contact returns that message instead (pass
    ``client_id_checked=True`` when the caller has just looked it up in the same transaction)."""
    if client_id is not None and not client_id_checked:
        existing = find_by_client_id(session, conv, client_id)
        if existing is not None:
            return Posted(existing, created=False)
    if conv.state == S.closed:
        raise ConversationError("closed", "会话已关闭")
    now = utcnow()
    values: dict[str, Any] = {
        "org_id": conv.org_id,
        "conversation_id": conv.id,
        "sender": sender,
        "sender_name": sender_name,
        "sender_user_id": sender_user_id,
        "client_id": client_id,
        "text": text,
        "internal": False,
        "attachment_id": attachment.id if attachment else None,
        "extra": {**(extra or {}), **({"buttons": buttons} if buttons else {})},
        "created_at": now,
    }
    # A Core INSERT … RETURNING id instead of a unit-of-work flush: the id is there at once for the event, and
    # the conversation's new preview (and any other pending change) is not flushed with it, so a turn's two
    # messages cost one conversation UPDATE at commit instead of one per message. The row is then attached to
    # the session as if it had been loaded, so callers get an ordinary persistent ``Message``.
    msg_id = session.connection().execute(_INSERT_MESSAGE, values).scalar_one()
    msg = _as_loaded(msg_id, values)
    session.add(msg)
    conv.last_message_at = now
    if sender != SenderKind.system:  # the list preview shows what people said, not "正在为您转接…"
        preview = text if text else ("[图片]" if attachment else "")
        conv.last_message_text = preview[:200]
    if sender == SenderKind.visitor:
        conv.unread_count += 1
        conv.last_visitor_message_at = now
    elif conv.inbox_id is not None:
        queue_delivery(session, conv, msg_id)
    events.record(
        session,
        events.DomainEvent(
            type="message.created",
            org_id=conv.org_id,
            data={"message": message_to_dict(msg, attachment), "conversation": summary(session, conv)},
            topics=(contact_topic(conv.contact_id), agents_topic(conv.org_id)),
        ),
    )
    return Posted(msg, created=True)


DELIVER_JOB = "channels.deliver"


# Set on sessions of a process that delivers on commit (edudesk.outbound.direct): the delivery job is then the
# safety net, due this much later, and the transaction's (delivery, job) pairs are handed over when it commits.
DELIVERY_GRACE_KEY = "edudesk_delivery_grace"
QUEUED_DELIVERIES_KEY = "edudesk_queued_deliveries"


def queue_delivery(session: Session, conv: Conversation, message_id: int) -> None:
    """Puts a message of a conversation on a connected channel (an inbox) in that channel's outbox, in the
    transaction that stores it; the ``channels.deliver`` job sends it (see edudesk.outbound)."""
    now = utcnow()
    delivery = ChannelDelivery(org_id=conv.org_id, conversation_id=conv.id, message_id=message_id,
                               inbox_id=conv.inbox_id, state=DeliveryState.pending, attempts=0,
                               next_attempt_at=now, created_at=now)
    session.add(delivery)
    grace = session.info.get(DELIVERY_GRACE_KEY)
    job = jobs.enqueue(session, DELIVER_JOB, {"conversation_id": conv.id}, org_id=conv.org_id, max_attempts=50,
                       run_at=now + grace if grace else None)
    if grace:
        session.info.setdefault(QUEUED_DELIVERIES_KEY, []).append((delivery, job))


def last_offer(session: Session, conv: Conversation) -> dict[str, Any] | None:
    """The structured part of the last message the visitor was shown (its buttons, a survey), for channels that
    offer choices as numbered lines and read the visitor's "1" back."""
    return session.scalar(
        select(Message.extra).where(Message.conversation_id == conv.id, Message.sender != SenderKind.visitor,
                                    Message.internal.is_(False))
        .order_by(Message.id.desc()).limit(1))


def mark_delivery(session: Session, msg: Message, delivery: dict[str, Any]) -> None:
    """Notes on a message how its delivery through the channel went ("retrying", "failed" with the reason, "sent"
    by template), for the console beside the message; staff see it, the visitor's tabs get nothing new."""
    msg.extra = {**(msg.extra or {}), "delivery": delivery}
    conv = get(session, msg.org_id, msg.conversation_id)
    events.record(session, events.DomainEvent(
        type="message.updated", org_id=msg.org_id, data={"message": message_to_dict(msg)},
        topics=(agents_topic(conv.org_id),),
    ))


def delivery_states(session: Session, org_id: int, message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """How the delivery of each message through its channel is going: the note ``mark_delivery`` left ("retrying",
    "failed" with the reason, "sent" by template), else ``{"state": "pending"}`` while it waits in the outbox
    (behind an earlier message the channel has not taken yet). Messages with neither are absent: sent at the
    first try, or on a channel without an outbox. A ticket page shows this beside each reply, whatever the
    channel."""
    if not message_ids:
        return {}
    wanted = sorted(set(message_ids))
    rows = session.execute(
        select(Message.id, Message.extra, ChannelDelivery.state)
        .outerjoin(ChannelDelivery, ChannelDelivery.message_id == Message.id)
        .where(Message.org_id == org_id, Message.id.in_(wanted)))
    out: dict[int, dict[str, Any]] = {}
    for msg_id, extra, state in rows:
        note = extra.get("delivery") if isinstance(extra, dict) else None
        if isinstance(note, dict):
            out[msg_id] = dict(note)
        elif state in (DeliveryState.pending, DeliveryState.sending):
            out[msg_id] = {"state": "pending"}
    return out


NOTE_MAX_CHARS = 2000


def post_internal_note(session: Session, user: User, conversation_id: int, text: str) -> Message:
    """A note between staff (for a colleague taking over, or for the supervisor). Any staff member of the org may
    write one on any conversation; it goes to the agents' topic only, never to the visitor or their channel, and
    leaves the conversation's preview and unread count alone."""
    text = text.strip()
    if not text:
        raise ConversationError("empty_message", "备注不能为空", "text")
    if len(text) > NOTE_MAX_CHARS:
        raise ConversationError("too_long", f"备注不能超过 {NOTE_MAX_CHARS} 个字", "text")
    conv = get(session, user.org_id, conversation_id)
    msg = Message(org_id=conv.org_id, conversation_id=conv.id, sender=SenderKind.agent, internal=True,
                  sender_name=user.display_name, sender_user_id=user.id, text=text, extra={})
    session.add(msg)
    session.flush()
    events.record(session, events.DomainEvent(
        type="message.created", org_id=conv.org_id,
        data={"message": message_to_dict(msg), "conversation": summary(session, conv)},
        topics=(agents_topic(conv.org_id),),
    ))
    return msg


def post_system_note(session: Session, org_id: int, conversation_id: int, text: str, *, sender_name: str,
                     extra: dict[str, Any]) -> Message:
    """A staff-only note written by the system (e.g. the 服务小结 of edudesk.llm.assist): like
    :func:`post_internal_note` but with no author, a ``kind`` in ``extra``, and allowed on a closed conversation
    (a summary job may run after the auto-close)."""
    conv = get(session, org_id, conversation_id)
    msg = Message(org_id=conv.org_id, conversation_id=conv.id, sender=SenderKind.system, internal=True,
                  sender_name=sender_name[:100], text=text[:NOTE_MAX_CHARS], extra=dict(extra))
    session.add(msg)
    session.flush()
    events.record(session, events.DomainEvent(
        type="message.created", org_id=conv.org_id,
        data={"message": message_to_dict(msg), "conversation": summary(session, conv)},
        topics=(agents_topic(conv.org_id),),
    ))
    return msg


def contact_message(session: Session, org_id: int, contact_id: int, message_id: int) -> Message:
    """A message of one of this contact's conversations; anything else (another visitor's, another org's) is
    "not found", so a visitor cannot probe other conversations by id."""
    msg = session.scalars(
        select(Message).join(Conversation, Conversation.id == Message.conversation_id).where(
            Message.id == message_id, Message.org_id == org_id, Conversation.contact_id == contact_id)
    ).first()
    if msg is None:
        raise NotFoundError("message", message_id)
    return msg


def visitor_question_before(session: Session, msg: Message) -> str:
    """The visitor message a bot reply answered (the last visitor text before it)."""
    text = session.scalars(
        select(Message.text).where(Message.conversation_id == msg.conversation_id, Message.id < msg.id,
                                   Message.sender == SenderKind.visitor, Message.org_id == msg.org_id)
        .order_by(Message.id.desc()).limit(1)
    ).first()
    return text or ""


def update_message_extra(session: Session, msg: Message, **values: Any) -> None:
    """Changes structured parts of a stored message (e.g. the visitor's 👍/👎) and tells the visitor's tabs."""
    msg.extra = {**(msg.extra or {}), **values}
    conv = get(session, msg.org_id, msg.conversation_id)
    events.record(session, events.DomainEvent(
        type="message.updated", org_id=msg.org_id, data={"message": message_to_dict(msg)},
        topics=(contact_topic(conv.contact_id),),
    ))


# The two checks of every inbound visitor message in one statement (one round trip): the id of a message already
# stored under this client id for the contact (see ``find_by_client_id`` for why there is no org term) and the
# number of visitor messages of the conversation in the rate-limit window. Built once: statement building is a
# large part of a turn's CPU.
def visitor_check_columns(contact_id: SQLColumnExpression[int], conversation_id: SQLColumnExpression[int]
                          ) -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """The two checks as scalar subqueries over ``contact_id`` and ``conversation_id``: parameters here, or columns of
    an enclosing query (the inbound pipeline folds them into its read of the contact). Parameters ``client_id`` and
    ``since``."""
    of_contact = aliased(Conversation)  # never correlated with a conversation of an enclosing query
    return (
        # correlate_except: an enclosing query's contact is referred to, never joined in as a table of its own.
        select(Message.id).where(
            Message.conversation_id.in_(
                select(of_contact.id).where(of_contact.contact_id == contact_id).correlate_except(of_contact)),
            Message.client_id == bindparam("client_id"),
        ).limit(1).correlate_except(Message).scalar_subquery(),
        select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, Message.sender == SenderKind.visitor,
            Message.created_at >= bindparam("since"),
        ).correlate_except(Message).scalar_subquery(),
    )


_VISITOR_CHECKS = select(*visitor_check_columns(bindparam("contact_id"), bindparam("conversation_id")))


VISITOR_CHECKS = _VISITOR_CHECKS


def visitor_checks(session: Session, conv: Conversation, client_id: str | None, seconds: int, *,
                   statement: Select[Any] = _VISITOR_CHECKS, extra: list[Any] | None = None
                   ) -> tuple[Message | None, int]:
    """``find_by_client_id`` and the rate-limit count of one inbound visitor message, in one statement.

    Returns the message already stored under ``client_id`` for this contact (in this org), if any, and the number
    of visitor messages in the conversation during the last ``seconds``. Callers that need more per-message facts
    about the contact pass ``statement`` = ``VISITOR_CHECKS.add_columns(...)`` (parameter ``contact_id``) and get
    the further columns appended to ``extra``: still one round trip."""
    row = session.execute(statement, {
        "contact_id": conv.contact_id, "client_id": client_id, "conversation_id": conv.id,
        "since": rate_window_start(seconds),
    }).one()
    existing_id, count = row[0], row[1]
    if extra is not None:
        extra.extend(row[2:])
    return message_in_org(session, conv.org_id, existing_id), int(count or 0)


def message_in_org(session: Session, org_id: int, message_id: int | None) -> Message | None:
    """The message a check found by id (from the identity map when loaded), if it is this org's."""
    if message_id is None:
        return None
    found = session.get(Message, message_id)
    return found if found is not None and found.org_id == org_id else None


def rate_window_start(seconds: int) -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=seconds)


def visitor_has_written(session: Session, conv: Conversation) -> bool:
    found = session.scalars(select(Message.id).where(
        Message.conversation_id == conv.id, Message.sender == SenderKind.visitor).limit(1)).first()
    return found is not None


def messages(session: Session, org_id: int, conversation_id: int, *, after_id: int = 0, limit: int = 200,
             include_internal: bool = True) -> list[tuple[Message, Attachment | None]]:
    """The transcript, oldest first. Visitor-facing callers pass ``include_internal=False``: staff notes never
    leave the console."""
    # The org is checked on the conversation, so the messages are read through ix_messages_conversation_id_id in
    # id order; a ``Message.org_id`` term would make SQLite (no statistics) walk the org's messages instead.
    in_org = select(Conversation.id).where(Conversation.id == conversation_id, Conversation.org_id == org_id)
    stmt = (
        select(Message, Attachment)
        .outerjoin(Attachment, Attachment.id == Message.attachment_id)
        .where(Message.conversation_id == in_org.scalar_subquery(), Message.id > after_id)
        .where(true() if include_internal else Message.internal.is_(False))
        .order_by(Message.id.desc())
        .limit(limit)
    )
    rows: list[tuple[Message, Attachment | None]] = [(m, a) for m, a in session.execute(stmt) if m.org_id == org_id]
    rows.reverse()
    return rows


def transcript_of_contact(session: Session, org_id: int, contact_id: int, *, inbox_id: int | None,
                          after_id: int = 0, limit: int = 100) -> list[tuple[Message, Attachment | None]]:
    """The contact's messages across their conversations on one channel account, oldest first, after
    ``after_id``, without staff notes: what a channel client that polls reads back (the API channel)."""
    conversations = select(Conversation.id).where(Conversation.org_id == org_id,
                                                  Conversation.contact_id == contact_id,
                                                  Conversation.inbox_id == inbox_id)
    stmt = (
        select(Message, Attachment)
        .outerjoin(Attachment, Attachment.id == Message.attachment_id)
        .where(Message.conversation_id.in_(conversations), Message.id > after_id, Message.internal.is_(False))
        .order_by(Message.id)
        .limit(limit)
    )
    return [(m, a) for m, a in session.execute(stmt) if m.org_id == org_id]


def messages_as_dicts(session: Session, org_id: int, conversation_id: int, *, after_id: int = 0,
                      include_internal: bool = True) -> list[dict[str, Any]]:
    return [message_to_dict(m, a) for m, a in messages(session, org_id, conversation_id, after_id=after_id,
                                                         include_internal=include_internal)]


def add_attachment(session: Session, org_id: int, contact_id: int | None, *, storage_key: str,
                   content_type: str, size: int, name: str) -> Attachment:
    att = Attachment(org_id=org_id, contact_id=contact_id, storage_key=storage_key, content_type=content_type,
                     size=size, original_name=name[:200])
    session.add(att)
    session.flush()
    return att


def find_attachment(session: Session, attachment_id: int, key: str) -> Attachment | None:
    """Looks an attachment up by its capability URL (id + random key); any org, since the key is the secret."""
    att = session.get(Attachment, attachment_id)
    if att is None or not hmac.compare_digest(att.storage_key, key):
        return None
    return att


def get_attachment(session: Session, org_id: int, attachment_id: int) -> Attachment:
    return get_in_org(session, Attachment, attachment_id, org_id)


def visitor_attachment(session: Session, org_id: int, contact_id: int, attachment_id: int) -> Attachment:
    att = get_attachment(session, org_id, attachment_id)
    if att.contact_id != contact_id:
        raise NotFoundError("Attachment", attachment_id)
    return att


