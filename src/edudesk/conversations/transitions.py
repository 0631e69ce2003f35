"""State changes of a conversation (bot → queued → assigned → resolved → closed): handoff, accept, transfer,
release, resolve, reopen and the visitor's rating, each with its system message, audit entry, jobs and events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.auth.models import Role, User
from edudesk.conversations.base import (
    CLOSE_RESOLVED_JOB,
    ConversationError,
    Posted,
    S,
    actor,
    current_for_contact,
    get,
    publish_conversation,
)
from edudesk.conversations.messages import post_message
from edudesk.conversations.models import Conversation, SenderKind
from edudesk.conversations.states import ConversationState, check_transition
from edudesk.csat import service as csat_service
from edudesk.db import NotFoundError, utcnow

# Whether an agent has room is routing's knowledge (their maximum is routing's row). Presence, not routing's
# service: that one builds on this area's service; presence needs only our models and states, so no cycle.
from edudesk.routing import presence


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
    publish_conversation(session, conv, "conversation.handoff", reason=reason)


def leave_queue(session: Session, conv: Conversation) -> None:
    """The visitor stops waiting (a call-back instead, or the wait timed out): back to the bot."""
    if conv.state != S.queued:
        return
    _transition(session, conv, S.bot)
    publish_conversation(session, conv, "conversation.left_queue")


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
    if user.role == Role.agent and not presence.has_capacity(session, user):
        raise ConversationError("at_capacity", "您当前接待的会话已达上限，请先结束一些会话")
    _give_to(session, conv, user)
    audit_service.record(session, actor(user), "conversation.accept", "conversation", conv.id)
    return conv


def _give_to(session: Session, conv: Conversation, user: User, text: str | None = None) -> None:
    _transition(session, conv, S.assigned)
    conv.assignee_id = user.id
    conv.unread_count = 0
    post_message(session, conv, SenderKind.system, text or f"{user.display_name} 已接入，为您服务")
    publish_conversation(session, conv, "conversation.assigned", agent={"name": user.display_name})


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
        publish_conversation(session, conv, "conversation.assigned", agent={"name": target.display_name},
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
    publish_conversation(session, conv, "conversation.queued")


def release(session: Session, user: User, conversation_id: int) -> Conversation:
    conv = get(session, user.org_id, conversation_id, for_update=True)
    _require_staff_can_act(user, conv)
    if conv.state != S.assigned:
        raise ConversationError("not_assigned", "只有服务中的会话可以放回队列")
    _transition(session, conv, S.queued)
    post_message(session, conv, SenderKind.system, "正在为您转接其他老师，请稍候～")
    audit_service.record(session, actor(user), "conversation.release", "conversation", conv.id)
    publish_conversation(session, conv, "conversation.queued")
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
            publish_conversation(session, conv, "conversation.assigned", agent={"name": user.display_name})
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
    # The kind and scale let a channel without the survey form ask for the score as numbered lines.
    post_message(session, conv, SenderKind.system, "本次服务已结束，欢迎为我们的服务打分～",
                 extra={"kind": "csat_request", "scale": csat_service.get_settings(session, conv.org_id).scale})
    jobs.enqueue(
        session,
        CLOSE_RESOLVED_JOB,
        {"conversation_id": conv.id, "org_id": conv.org_id},
        org_id=conv.org_id,
        run_at=utcnow() + dt.timedelta(seconds=close_after_seconds),
    )
    audit_service.record(session, actor(user), "conversation.resolve", "conversation", conv.id)
    publish_conversation(session, conv, "conversation.resolved", csat_pending=True)
    return conv


def reopen_by_visitor(session: Session, conv: Conversation) -> None:
    """A visitor writing into a resolved conversation gets the same agent back (or the bot if none)."""
    if conv.state != S.resolved:
        return
    if conv.assignee_id is not None:
        _transition(session, conv, S.assigned)
    else:
        _transition(session, conv, S.bot)
    publish_conversation(session, conv, "conversation.reopened")


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
    publish_conversation(session, conv, "conversation.rated", score=score, scale=scale, comment=comment)
    return conv


def close_resolved_job(session: Session, payload: dict[str, Any]) -> None:
    """Closes a resolved conversation that nobody touched since; reopened ones are left alone."""
    conv = session.get(Conversation, int(payload["conversation_id"]))
    if conv is None or conv.org_id != int(payload["org_id"]) or conv.state != S.resolved:
        return
    _transition(session, conv, S.closed)
    publish_conversation(session, conv, "conversation.closed")
    session.commit()


def close_bot_conversation(session: Session, conv: Conversation) -> None:
    """The channel's session is over (a robot call hung up): a conversation only the bot had is closed, so the
    person's next message, on any channel, opens a new one instead of landing in the call's. One a human holds
    or is waiting for is left as it is."""
    if conv.state != S.bot:
        return
    _transition(session, conv, S.closed)
    publish_conversation(session, conv, "conversation.closed")


def mark_read(session: Session, user: User, conv: Conversation) -> None:
    if conv.assignee_id == user.id and conv.unread_count:
        conv.unread_count = 0
        publish_conversation(session, conv, "conversation.read")


