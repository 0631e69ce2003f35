"""What happens when the bot hands a conversation to humans: route it, and queue it, or — off hours — tell the
visitor when humans are back and keep their question as a ticket. Also the two ways out of the queue that do not
end with an agent: the visitor asks to be called back, or the wait runs past the group's timeout.

Visitor-facing text is natural Chinese and part of the transcript.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import events, jobs
from edudesk.bot import service as bot_service
from edudesk.bot.engine import Button
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import utcnow
from edudesk.hours import service as hours_service
from edudesk.leads import service as leads_service
from edudesk.routing import dispatch, rules
from edudesk.routing import service as routing_service
from edudesk.routing.models import DEFAULT_QUEUE_TIMEOUT_MINUTES, SkillGroup
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import Ticket, TicketPriority, TicketSource

S = ConversationState
QUEUE_TIMEOUT_JOB = "routing.queue_timeout"
CALLBACK_PAYLOAD = "callback"
CALLBACK_BUTTON = Button("留下电话，老师回电", CALLBACK_PAYLOAD)
WAITING_HINT = "等待期间可以继续向我提问，也可以登记回电。"


@dataclass(frozen=True)
class Outcome:
    queued: bool
    off_hours: bool = False
    ticket_id: int | None = None
    assigned_to: int | None = None


def facts_for(session: Session, conv: Conversation, contact: Contact | None = None) -> rules.RoutingFacts:
    contact = contact or session.get(Contact, conv.contact_id)
    lead = leads_service.lead_for_contact(session, conv.org_id, conv.contact_id)
    return rules.RoutingFacts(
        channel=conv.channel, page_url=conv.page_url or "", page_title=conv.page_title or "",
        button=conv.menu_choice,
        faq_categories=tuple(bot_service.conversation_categories(session, conv.org_id, conv.id)),
        contact_tags=frozenset(contact.tags or []) if contact else frozenset(),
        vip=bool(contact.vip) if contact else False, lead_grade=lead.level if lead else None)


def route(session: Session, conv: Conversation, contact: Contact | None = None) -> rules.Decision:
    decision = rules.decide(routing_service.rules_for_routing(session, conv.org_id), facts_for(session, conv, contact))
    conv.group_id, conv.priority, conv.senior_first = decision.group_id, decision.priority, decision.senior_first
    return decision


def _transcript_excerpt(session: Session, conv: Conversation, limit: int = 5) -> str:
    texts = session.scalars(select(Message.text).where(
        Message.conversation_id == conv.id, Message.sender == SenderKind.visitor, Message.org_id == conv.org_id)
        .order_by(Message.id.desc()).limit(limit)).all()
    return "\n".join(reversed([t for t in texts if t]))


def _subject(prefix: str, session: Session, conv: Conversation) -> str:
    """The visitor's latest real question ("孩子初二物理跟不上"), not the "转人工" that ended the bot's part."""
    recent = session.scalars(select(Message.text).where(
        Message.conversation_id == conv.id, Message.sender == SenderKind.visitor, Message.org_id == conv.org_id,
        Message.text != "").order_by(Message.id.desc()).limit(10)).all()
    asking = [t for t in recent if not any(k in t for k in DEFAULT_HANDOFF_KEYWORDS)]
    best = asking[0] if asking else (recent[0] if recent else "访客留言")
    return f"{prefix}：{best[:60]}"


def _ticket(session: Session, conv: Conversation, source: TicketSource, prefix: str) -> Ticket:
    priority = TicketPriority.high if conv.priority >= rules.A_GRADE_PRIORITY else TicketPriority.normal
    return tickets_service.create_ticket(
        session, org_id=conv.org_id, source=source, subject=_subject(prefix, session, conv),
        contact_id=conv.contact_id, conversation_id=conv.id, channel=conv.channel, group_id=conv.group_id,
        priority=priority, description=_transcript_excerpt(session, conv))


def hand_over(session: Session, conv: Conversation, reason: str, *, agents_online: bool = True,
              contact: Contact | None = None, now: dt.datetime | None = None) -> Outcome:
    """The bot asks for a human: decide the group and priority, then queue (and assign at once when someone is
    free) or, off hours, answer with the next opening time and keep the question as a ticket."""
    if conv.state in (S.queued, S.assigned):
        return Outcome(queued=conv.state == S.queued)
    now = now or utcnow()
    route(session, conv, contact)
    closed = hours_service.off_hours_text(session, conv.org_id, conv.group_id, now)
    if closed is not None:
        ticket = _ticket(session, conv, TicketSource.off_hours, "非工作时间留言")
        text = f"{closed}（已为您登记留言，工单 #{ticket.id}）"
        conv.handoff_reason = reason[:64]
        conversations_service.post_message(session, conv, SenderKind.system, text,
                                           extra={"kind": "off_hours", "ticket_id": ticket.id})
        return Outcome(queued=False, off_hours=True, ticket_id=ticket.id)
    conversations_service.handoff(session, conv, reason, agents_online=agents_online, announce=False)
    assigned = dispatch.dispatch(session, conv.org_id, group_ids={conv.group_id})
    mine = next((a for a in assigned if a.conversation_id == conv.id), None)
    if mine is not None:  # the visitor sees "王老师 已接入" and nothing about queues
        return Outcome(queued=False, assigned_to=mine.user_id)
    status = dispatch.queue_status(session, conv)
    text = (f"正在为您转接人工客服。{status['text']}{WAITING_HINT}" if agents_online
            else f"{conversations_service.NOBODY_ONLINE_TEXT}{WAITING_HINT}")
    conversations_service.post_message(session, conv, SenderKind.system, text,
                                       buttons=[CALLBACK_BUTTON.as_dict()], extra={"kind": "queue"})
    events.record(session, events.DomainEvent(type="queue.position", org_id=conv.org_id, data=status,
                                              topics=(conversations_service.contact_topic(conv.contact_id),)))
    group = session.get(SkillGroup, conv.group_id) if conv.group_id is not None else None
    timeout = group.queue_timeout_minutes if group is not None else DEFAULT_QUEUE_TIMEOUT_MINUTES
    if timeout:
        jobs.enqueue(session, QUEUE_TIMEOUT_JOB,
                     {"org_id": conv.org_id, "conversation_id": conv.id, "queued_at": conv.queued_at.isoformat()
                      if conv.queued_at else None}, org_id=conv.org_id, run_at=now + dt.timedelta(minutes=timeout))
    return Outcome(queued=True)


def while_queued(session: Session, conv: Conversation, *, payload: str | None) -> bool:
    """A visitor message while waiting. Returns True when it was the call-back request (handled here); otherwise
    the bot answers as usual and the visitor keeps their place."""
    if payload != CALLBACK_PAYLOAD or conv.state != S.queued:
        return False
    ticket = _ticket(session, conv, TicketSource.callback, "请求回电")
    conversations_service.leave_queue(session, conv)
    lead = leads_service.lead_for_contact(session, conv.org_id, conv.contact_id)
    has_phone = bool(lead and leads_service.known_values(session, conv.org_id, conv.contact_id).get("phone"))
    text = (f"好的，已为您登记回电（工单 #{ticket.id}），老师会尽快给您打电话。" if has_phone else
            f"好的，已为您登记回电（工单 #{ticket.id}）。请留下您的手机号，老师会尽快给您打电话。")
    conversations_service.post_message(session, conv, SenderKind.system, text,
                                       extra={"kind": "callback", "ticket_id": ticket.id})
    dispatch.announce_positions(session, conv.org_id, {conv.group_id})
    return True


def queue_timeout_job(session: Session, payload: dict[str, Any]) -> None:
    """The wait ran past the group's limit: a ticket instead of an endless wait. A conversation that was assigned,
    left the queue or was queued again since (another ``queued_at``) is left alone."""
    conv = session.get(Conversation, int(payload["conversation_id"]))
    if conv is None or conv.org_id != int(payload["org_id"]) or conv.state != S.queued:
        return
    if (conv.queued_at.isoformat() if conv.queued_at else None) != payload.get("queued_at"):
        return
    ticket = _ticket(session, conv, TicketSource.queue_timeout, "排队超时")
    conversations_service.leave_queue(session, conv)
    conversations_service.post_message(
        session, conv, SenderKind.system,
        f"抱歉让您久等了，老师们暂时都在忙。您的问题已转为工单 #{ticket.id}，老师会尽快回复您；"
        "回复会显示在这里，也可以留下手机号由老师回电。", extra={"kind": "queue_timeout", "ticket_id": ticket.id})
    dispatch.announce_positions(session, conv.org_id, {conv.group_id})
    session.commit()
