"""Conversations and messages: every state change, with its system message, audit entry, jobs and events.

Visitor-facing text lives here too (system messages are part of the transcript), in natural Chinese.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, ScalarSelect, Select, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased, make_transient_to_detached

from edudesk import events, jobs
from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.conversations.schemas import conversation_summary, message_to_dict
from edudesk.conversations.states import ConversationState, check_transition
from edudesk.csat import service as csat_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError

S = ConversationState
CLOSE_RESOLVED_JOB = "conversations.close_resolved"
OPEN_STATES = (S.bot, S.queued, S.assigned, S.resolved)


class ConversationError(DomainError):
    pass


@dataclass
class Posted:
    message: Message
    created: bool


def contact_topic(contact_id: int) -> str:
    return f"contact:{contact_id}"


def agents_topic(org_id: int) -> str:
    return f"org:{org_id}:agents"


def get(session: Session, org_id: int, conversation_id: int, *, for_update: bool = False) -> Conversation:
    return get_in_org(session, Conversation, conversation_id, org_id, for_update=for_update)


# Read on every visitor message: built once, with the org and the contact as parameters.
_CURRENT_FOR_CONTACT = (
    org_query(Conversation, bindparam("org_id"))  # type: ignore[arg-type]
    .where(Conversation.contact_id == bindparam("contact_id"), Conversation.state.in_(OPEN_STATES))
    .order_by(Conversation.id.desc())
    .limit(1)
)


def current_for_contact(session: Session, org_id: int, contact_id: int) -> Conversation | None:
    """The contact's open conversation, if any (closed ones stay in history)."""
    return session.scalars(_CURRENT_FOR_CONTACT, {"org_id": org_id, "contact_id": contact_id}).first()


def open_conversation(
    session: Session,
    contact: Contact,
    channel: str,
    *,
    welcome: str | None = None,
    page_url: str | None = None,
    page_title: str | None = None,
    referrer: str | None = None,
) -> Conversation:
    conv = Conversation(
        org_id=contact.org_id,
        contact_id=contact.id,
        channel=channel,
        state=S.bot,
        page_url=(page_url or None) and page_url[:1000],
        page_title=(page_title or None) and page_title[:300],
        referrer=(referrer or None) and referrer[:1000],
    )
    session.add(conv)
    session.flush()
    _publish_conversation(session, conv, "conversation.created")
    if welcome:
        post_message(session, conv, SenderKind.bot, welcome, sender_name="智能助手")
    return conv


def summary(session: Session, conv: Conversation) -> dict[str, Any]:
    contact = contacts_service.get(session, conv.org_id, conv.contact_id)
    assignee = auth_service.get_user(session, conv.org_id, conv.assignee_id) if conv.assignee_id else None
    return conversation_summary(conv, contacts_service.display_name(contact),
                                assignee.display_name if assignee else None)


def _publish_conversation(session: Session, conv: Conversation, event_type: str, **extra: Any) -> None:
    events.record(
        session,
        events.DomainEvent(
            type=event_type,
            org_id=conv.org_id,
            data={"conversation": summary(session, conv), **extra},
            topics=(contact_topic(conv.contact_id), agents_topic(conv.org_id)),
        ),
    )


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
    msg = Message(id=msg_id, **values)
    make_transient_to_detached(msg)
    session.add(msg)
    conv.last_message_at = now
    if sender != SenderKind.system:  # the list preview shows what people said, not "正在为您转接…"
        preview = text if text else ("[图片]" if attachment else "")
        conv.last_message_text = preview[:200]
    if sender == SenderKind.visitor:
        conv.unread_count += 1
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


NOTE_MAX_CHARS = 2000
TAG_MAX_CHARS = 20
MAX_TAGS = 10


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


def clean_tags(raw: list[str] | str) -> list[str]:
    """Tags as typed (comma/space/、 separated or a list): trimmed, de-duplicated in order, bounded."""
    items = raw.replace("，", ",").replace("、", ",").replace(" ", ",").split(",") if isinstance(raw, str) else raw
    tags: list[str] = []
    for item in items:
        tag = str(item).strip().lstrip("#")
        if not tag:
            continue
        if len(tag) > TAG_MAX_CHARS:
            raise ConversationError("bad_tag", f"标签不能超过 {TAG_MAX_CHARS} 个字：{tag[:TAG_MAX_CHARS]}…", "tags")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ConversationError("too_many_tags", f"最多 {MAX_TAGS} 个标签", "tags")
    return tags


def set_tags(session: Session, user: User, conversation_id: int, tags: list[str] | str) -> Conversation:
    conv = get(session, user.org_id, conversation_id)
    cleaned = clean_tags(tags)
    if cleaned != list(conv.tags or []):
        conv.tags = cleaned
        audit_service.record(session, _actor(user), "conversation.tags", "conversation", conv.id, tags=cleaned)
        _publish_conversation(session, conv, "conversation.updated")
    return conv


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
def visitor_check_columns(contact_id: ColumnElement[int], conversation_id: ColumnElement[int]
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


def _transition(session: Session, conv: Conversation, target: ConversationState) -> None:
    check_transition(conv.state, target)
    conv.state = target
    now = utcnow()
    if target == S.queued:
        conv.queued_at = now
        conv.assignee_id = None
    elif target == S.assigned:
        conv.assigned_at = now
    elif target == S.resolved:
        conv.resolved_at = now
    elif target == S.closed:
        conv.closed_at = now


HANDOFF_TEXT = "正在为您转接人工客服，请稍候～"
NOBODY_ONLINE_TEXT = "现在暂时没有老师在线。您可以先留下问题和联系方式（手机号或微信），老师上线后会第一时间联系您。"


def handoff(session: Session, conv: Conversation, reason: str, *, agents_online: bool, announce: bool = True
            ) -> None:
    """The bot hands the conversation to the human queue. ``announce=False`` leaves telling the visitor to the
    caller (routing tells them their place in the queue, or nothing when an agent joins at once)."""
    if conv.state in (S.queued, S.assigned):
        return
    _transition(session, conv, S.queued)
    conv.handoff_reason = reason[:64]
    if announce:
        post_message(session, conv, SenderKind.system, HANDOFF_TEXT if agents_online else NOBODY_ONLINE_TEXT)
    _publish_conversation(session, conv, "conversation.handoff", reason=reason)


def leave_queue(session: Session, conv: Conversation) -> None:
    """The visitor stops waiting (a call-back instead, or the wait timed out): back to the bot."""
    if conv.state != S.queued:
        return
    _transition(session, conv, S.bot)
    _publish_conversation(session, conv, "conversation.left_queue")


def _require_staff_can_act(user: User, conv: Conversation) -> None:
    if conv.org_id != user.org_id:
        raise NotFoundError("Conversation", conv.id)
    if user.role == Role.agent and conv.assignee_id not in (None, user.id):
        raise ConversationError("not_yours", "该会话正由其他客服接待")


def accept(session: Session, user: User, conversation_id: int) -> Conversation:
    """An agent takes a conversation from the queue (or from the bot). Agents stay within their maximum here
    too; supervisors and admins may always step in."""
    conv = get(session, user.org_id, conversation_id, for_update=True)
    if conv.state == S.assigned and conv.assignee_id == user.id:
        return conv
    if conv.state == S.assigned:
        raise ConversationError("taken", "该会话已被其他客服接入")
    if conv.state not in (S.queued, S.bot):
        raise ConversationError("not_acceptable", "该会话当前无法接入")
    if user.role == Role.agent:
        from edudesk.routing import presence  # routing builds on conversations, not the other way round

        if not presence.has_capacity(session, user):
            raise ConversationError("at_capacity", "您当前接待的会话已达上限，请先结束一些会话")
    _give_to(session, conv, user)
    audit_service.record(session, _actor(user), "conversation.accept", "conversation", conv.id)
    return conv


def _give_to(session: Session, conv: Conversation, user: User, text: str | None = None) -> None:
    _transition(session, conv, S.assigned)
    conv.assignee_id = user.id
    conv.unread_count = 0
    post_message(session, conv, SenderKind.system, text or f"{user.display_name} 已接入，为您服务")
    _publish_conversation(session, conv, "conversation.assigned", agent={"name": user.display_name})


def assign_automatically(session: Session, conv: Conversation, user: User) -> None:
    """Routing gives a queued conversation to ``user`` (who has capacity: the caller holds their lock)."""
    if conv.state != S.queued:
        raise ConversationError("not_queued", "只有排队中的会话可以分配")
    _give_to(session, conv, user)
    audit_service.record(session, audit_service.Actor(org_id=conv.org_id, label="routing"), "conversation.assign",
                         "conversation", conv.id, user_id=user.id)


def reassign(session: Session, conv: Conversation, target: User, *, text: str) -> None:
    """Moves a live conversation to another staff member at once (transfer to an agent, supervisor take-over).
    The event names whom it was taken from: their seat is free again."""
    if conv.state == S.assigned:
        previous = conv.assignee_id
        conv.assignee_id = target.id
        conv.assigned_at = utcnow()
        post_message(session, conv, SenderKind.system, text)
        _publish_conversation(session, conv, "conversation.assigned", agent={"name": target.display_name},
                              previous_assignee_id=previous)
    elif conv.state in (S.bot, S.queued):
        _give_to(session, conv, target, text)
    else:
        raise ConversationError("not_live", "该会话已结束，不能转接")


def requeue(session: Session, conv: Conversation, *, group_id: int | None, text: str) -> None:
    """Back to the queue of a (possibly different) group, keeping the visitor's priority."""
    if conv.state not in (S.assigned, S.bot, S.queued):
        raise ConversationError("not_live", "该会话已结束，不能转接")
    if conv.state != S.queued:
        _transition(session, conv, S.queued)
    conv.group_id = group_id
    post_message(session, conv, SenderKind.system, text)
    _publish_conversation(session, conv, "conversation.queued")


def release(session: Session, user: User, conversation_id: int) -> Conversation:
    conv = get(session, user.org_id, conversation_id, for_update=True)
    _require_staff_can_act(user, conv)
    if conv.state != S.assigned:
        raise ConversationError("not_assigned", "只有服务中的会话可以放回队列")
    _transition(session, conv, S.queued)
    post_message(session, conv, SenderKind.system, "正在为您转接其他老师，请稍候～")
    audit_service.record(session, _actor(user), "conversation.release", "conversation", conv.id)
    _publish_conversation(session, conv, "conversation.queued")
    return conv


def send_agent_message(session: Session, user: User, conversation_id: int, text: str, *,
                       client_id: str | None = None, max_chars: int = 2000) -> Posted:
    text = text.strip()
    if not text:
        raise ConversationError("empty_message", "消息不能为空", "text")
    if len(text) > max_chars:
        raise ConversationError("too_long", f"消息不能超过 {max_chars} 个字", "text")
    conv = get(session, user.org_id, conversation_id, for_update=True)
    _require_staff_can_act(user, conv)
    if conv.state == S.closed:
        raise ConversationError("closed", "会话已关闭，不能再发送消息")
    if conv.state != S.assigned or conv.assignee_id != user.id:
        if conv.state in (S.bot, S.queued):
            accept(session, user, conv.id)
        elif conv.state == S.resolved:
            _transition(session, conv, S.assigned)
            conv.assignee_id = user.id
            _publish_conversation(session, conv, "conversation.assigned", agent={"name": user.display_name})
        elif user.role == Role.agent:
            raise ConversationError("not_yours", "该会话正由其他客服接待")
    conv.unread_count = 0
    if conv.first_agent_reply_at is None:
        conv.first_agent_reply_at = utcnow()
    return post_message(session, conv, SenderKind.agent, text, sender_name=user.display_name,
                        sender_user_id=user.id, client_id=client_id)


def resolve(session: Session, user: User, conversation_id: int, *, close_after_seconds: int) -> Conversation:
    conv = get(session, user.org_id, conversation_id, for_update=True)
    _require_staff_can_act(user, conv)
    if conv.state == S.resolved:
        return conv
    _transition(session, conv, S.resolved)
    conv.unread_count = 0
    post_message(session, conv, SenderKind.system, "本次服务已结束，欢迎为我们的服务打分～")
    jobs.enqueue(
        session,
        CLOSE_RESOLVED_JOB,
        {"conversation_id": conv.id, "org_id": conv.org_id},
        org_id=conv.org_id,
        run_at=utcnow() + dt.timedelta(seconds=close_after_seconds),
    )
    audit_service.record(session, _actor(user), "conversation.resolve", "conversation", conv.id)
    _publish_conversation(session, conv, "conversation.resolved", csat_pending=True)
    return conv


def reopen_by_visitor(session: Session, conv: Conversation) -> None:
    """A visitor writing into a resolved conversation gets the same agent back (or the bot if none)."""
    if conv.state != S.resolved:
        return
    if conv.assignee_id is not None:
        _transition(session, conv, S.assigned)
    else:
        _transition(session, conv, S.bot)
    _publish_conversation(session, conv, "conversation.reopened")


def rate(session: Session, org_id: int, contact_id: int, score: int, comment: str | None) -> Conversation:
    """The visitor's CSAT answer for their resolved conversation: 1..the org's scale (2, 3 or 5), which is stored
    with the score so reports can compare ratings given before and after the org changes its scale."""
    scale = csat_service.get_settings(session, org_id).scale
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= scale:
        raise ConversationError("bad_score", f"评分须为 1–{scale} 的整数", "score")
    comment = (comment or "").strip()
    if len(comment) > 500:
        raise ConversationError("too_long", "评价不能超过 500 个字", "comment")
    conv = current_for_contact(session, org_id, contact_id)
    if conv is None or conv.state != S.resolved:
        raise ConversationError("not_rateable", "当前没有可以评价的会话")
    conv.csat_score = score
    conv.csat_scale = scale
    conv.csat_comment = comment or None
    post_message(session, conv, SenderKind.system, "感谢您的评价，祝您和孩子学习顺利！")
    _transition(session, conv, S.closed)
    _publish_conversation(session, conv, "conversation.rated", score=score, scale=scale, comment=comment)
    return conv


def close_resolved_job(session: Session, payload: dict[str, Any]) -> None:
    """Closes a resolved conversation that nobody touched since; reopened ones are left alone."""
    conv = session.get(Conversation, int(payload["conversation_id"]))
    if conv is None or conv.org_id != int(payload["org_id"]) or conv.state != S.resolved:
        return
    _transition(session, conv, S.closed)
    _publish_conversation(session, conv, "conversation.closed")
    session.commit()


def mark_read(session: Session, user: User, conv: Conversation) -> None:
    if conv.assignee_id == user.id and conv.unread_count:
        conv.unread_count = 0
        _publish_conversation(session, conv, "conversation.read")


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
        .where(True if include_internal else Message.internal.is_(False))
        .order_by(Message.id.desc())
        .limit(limit)
    )
    rows = [(m, a) for m, a in session.execute(stmt) if m.org_id == org_id]
    rows.reverse()
    return rows


def messages_as_dicts(session: Session, org_id: int, conversation_id: int, *, after_id: int = 0,
                      include_internal: bool = True) -> list[dict[str, Any]]:
    return [message_to_dict(m, a) for m, a in messages(session, org_id, conversation_id, after_id=after_id,
                                                         include_internal=include_internal)]


@dataclass
class ConsoleRow:
    conv: Conversation
    name: str


def list_for_console(session: Session, user: User) -> dict[str, list[ConsoleRow]]:
    """The console's three lists: the queue, my conversations, and (for every role) the bot's live chats."""
    base = org_query(Conversation, user.org_id)
    queue = base.where(Conversation.state == S.queued).order_by(Conversation.queued_at, Conversation.id)
    mine = base.where(
        Conversation.assignee_id == user.id, Conversation.state.in_((S.assigned, S.resolved))
    ).order_by(Conversation.last_message_at.desc())
    bot = base.where(Conversation.state == S.bot).order_by(Conversation.last_message_at.desc()).limit(50)
    lists = {name: list(session.scalars(stmt)) for name, stmt in (("queue", queue), ("mine", mine), ("bot", bot))}
    ids = {c.contact_id for convs in lists.values() for c in convs}
    names = contacts_service.display_names(session, user.org_id, ids)
    return {name: [ConsoleRow(c, names.get(c.contact_id, "")) for c in convs] for name, convs in lists.items()}


def history_for_contact(session: Session, org_id: int, contact_id: int, limit: int = 20) -> list[Conversation]:
    stmt = (
        org_query(Conversation, org_id)
        .where(Conversation.contact_id == contact_id)
        .order_by(Conversation.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


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


def _actor(user: User) -> audit_service.Actor:
    return audit_service.Actor(org_id=user.org_id, user_id=user.id, label=user.username)


def visitor_conversations(session: Session, org_id: int, since: dt.datetime, until: dt.datetime
                          ) -> list[tuple[int, str, dt.datetime]]:
    """(id, channel, started) of the conversations started in [since, until) in which the visitor said
    something: the denominator of every conversion report (an opened-and-left widget is not a conversation)."""
    spoke = select(Message.conversation_id).where(
        Message.org_id == org_id, Message.sender == SenderKind.visitor).distinct().scalar_subquery()
    rows = session.execute(select(Conversation.id, Conversation.channel, Conversation.created_at).where(
        Conversation.org_id == org_id, Conversation.created_at >= since, Conversation.created_at < until,
        Conversation.id.in_(spoke)))
    return [(r.id, r.channel, r.created_at) for r in rows]


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------
# Purging a transcript keeps the conversation and message rows (sender, times, channel, CSAT score: what reports
# count) and removes their content: texts, buttons, the visitor's name, page addresses, CSAT comment, tags and
# attachments. A conversation a person still works on (queued, assigned, resolved) is never purged.

LIVE_STATES = (S.queued, S.assigned, S.resolved)


def conversation_ids_of_contact(session: Session, org_id: int, contact_id: int) -> list[int]:
    return list(session.scalars(select(Conversation.id).where(
        Conversation.org_id == org_id, Conversation.contact_id == contact_id).order_by(Conversation.id)))


def attachments_of_contact(session: Session, org_id: int, contact_id: int) -> list[Attachment]:
    """The contact's uploads and every attachment shown in their conversations."""
    in_convs = select(Message.attachment_id).where(
        Message.org_id == org_id, Message.attachment_id.is_not(None),
        Message.conversation_id.in_(select(Conversation.id).where(Conversation.org_id == org_id,
                                                                  Conversation.contact_id == contact_id)))
    return list(session.scalars(select(Attachment).where(
        Attachment.org_id == org_id, (Attachment.contact_id == contact_id) | Attachment.id.in_(in_convs))
        .order_by(Attachment.id)))


def export_for_contact(session: Session, org_id: int, contact_id: int) -> list[dict[str, Any]]:
    """Every conversation of the contact with its whole transcript (internal staff notes included, marked: they
    are data about the person too) and its satisfaction rating."""
    out = []
    for conv in session.scalars(select(Conversation).where(Conversation.org_id == org_id,
                                                           Conversation.contact_id == contact_id)
                                .order_by(Conversation.id)):
        msgs = session.scalars(select(Message).where(Message.org_id == org_id, Message.conversation_id == conv.id)
                               .order_by(Message.id))
        out.append({
            "id": conv.id, "channel": conv.channel, "state": conv.state.value, "page_url": conv.page_url,
            "page_title": conv.page_title, "referrer": conv.referrer, "tags": conv.tags,
            "created_at": conv.created_at.isoformat(),
            "closed_at": conv.closed_at.isoformat() if conv.closed_at else None,
            "content_purged_at": conv.content_purged_at.isoformat() if conv.content_purged_at else None,
            "csat": {"score": conv.csat_score, "scale": conv.csat_scale, "comment": conv.csat_comment}
            if conv.csat_score is not None else None,
            "messages": [{"id": m.id, "sender": m.sender.value, "sender_name": m.sender_name, "text": m.text,
                          "internal": m.internal, "attachment_id": m.attachment_id, "extra": m.extra,
                          "created_at": m.created_at.isoformat()} for m in msgs],
        })
    return out


def delete_attachments(session: Session, org_id: int, attachment_ids: list[int]) -> list[tuple[int, str]]:
    """Deletes the attachment rows (messages lose the link) and returns (org_id, storage_key) of each, for the
    caller to delete the files."""
    if not attachment_ids:
        return []
    rows = list(session.execute(select(Attachment.id, Attachment.storage_key).where(
        Attachment.org_id == org_id, Attachment.id.in_(attachment_ids))))
    ids = [r.id for r in rows]
    if ids:
        session.execute(update(Message).where(Message.org_id == org_id, Message.attachment_id.in_(ids))
                        .values(attachment_id=None), execution_options={"synchronize_session": False})
        session.execute(delete(Attachment).where(Attachment.org_id == org_id, Attachment.id.in_(ids)))
    return [(org_id, r.storage_key) for r in rows]


@dataclass(frozen=True)
class Stripped:
    conversations: int
    messages: int
    files: list[tuple[int, str]]


def strip_content(session: Session, org_id: int, conversation_ids: list[int], now: dt.datetime) -> Stripped:
    """Removes the content of these conversations (see the block comment); an open one is closed first, so the
    visitor's next message opens a new conversation rather than continuing an emptied one."""
    convs = list(session.scalars(select(Conversation).where(Conversation.org_id == org_id,
                                                            Conversation.id.in_(conversation_ids))))
    ids = [c.id for c in convs]
    if not ids:
        return Stripped(0, 0, [])
    att_ids = list(session.scalars(select(Message.attachment_id).where(
        Message.org_id == org_id, Message.conversation_id.in_(ids), Message.attachment_id.is_not(None))))
    files = delete_attachments(session, org_id, [a for a in att_ids if a is not None])
    blanked = session.execute(update(Message).where(Message.org_id == org_id, Message.conversation_id.in_(ids))
                              .values(text="", extra={}, client_id=None),
                              execution_options={"synchronize_session": False})
    session.execute(update(Message).where(Message.org_id == org_id, Message.conversation_id.in_(ids),
                                          Message.sender == SenderKind.visitor).values(sender_name=""),
                    execution_options={"synchronize_session": False})
    for conv in convs:
        if conv.state != S.closed:
            conv.state = S.closed
            conv.closed_at = now
            _publish_conversation(session, conv, "conversation.closed")
        conv.last_message_text, conv.csat_comment, conv.tags = "", None, []
        conv.page_url = conv.page_title = conv.referrer = None
        conv.content_purged_at = now
    return Stripped(len(ids), int(blanked.rowcount or 0), files)  # type: ignore[attr-defined]


def purgeable_conversation_ids(session: Session, org_id: int, before: dt.datetime, limit: int,
                               keep: ScalarSelect[Any] | Select[Any]) -> list[int]:
    """Closed conversations, and bot-only ones the visitor left (nobody serves them), whose last message is
    older than ``before``, not purged yet and not in ``keep`` (the ids of conversations with an open ticket)."""
    return list(session.scalars(select(Conversation.id).where(
        Conversation.org_id == org_id, Conversation.state.in_((S.closed, S.bot)),
        Conversation.last_message_at < before, Conversation.content_purged_at.is_(None),
        Conversation.id.not_in(keep)).order_by(Conversation.id).limit(limit)))


def purgeable_attachment_ids(session: Session, org_id: int, before: dt.datetime, limit: int) -> list[int]:
    """Attachments uploaded before ``before`` that are not shown in a conversation someone still works on."""
    live = select(Message.attachment_id).join(Conversation, Conversation.id == Message.conversation_id).where(
        Message.org_id == org_id, Message.attachment_id.is_not(None), Conversation.state.in_(LIVE_STATES))
    return list(session.scalars(select(Attachment.id).where(
        Attachment.org_id == org_id, Attachment.created_at < before, Attachment.id.not_in(live))
        .order_by(Attachment.id).limit(limit)))


def contacts_in_conversation_since(org_id: int, since: dt.datetime) -> Select[Any]:
    """Contacts with a conversation someone works on, or any message since ``since``."""
    return select(Conversation.contact_id).where(
        Conversation.org_id == org_id,
        Conversation.state.in_(LIVE_STATES) | (Conversation.last_message_at >= since))
