"""A contact's conversations as the contact page's timeline shows them: one row each with its channel, state,
the visitor's first words, the agent and the rating — read in one query however many there are, so the page's
query count does not grow with a contact's history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.auth.models import User
from edudesk.conversations.base import OPEN_STATES
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState


@dataclass(frozen=True)
class ConversationItem:
    id: int
    channel: str
    state: ConversationState
    created_at: dt.datetime
    last_message_at: dt.datetime
    first_text: str  # the visitor's first message ("" when they never wrote, or the transcript was purged)
    agent_name: str | None
    csat_score: int | None
    csat_scale: int | None


def conversations_of_contact(session: Session, org_id: int, contact_id: int, *, limit: int = 50
                             ) -> list[ConversationItem]:
    """The contact's conversations on every channel, newest first, at most ``limit``."""
    first = (select(Message.text).where(Message.conversation_id == Conversation.id, Message.org_id == org_id,
                                        Message.sender == SenderKind.visitor, Message.internal.is_(False))
             .order_by(Message.id).limit(1).correlate(Conversation).scalar_subquery())
    agent = (select(User.display_name).where(User.id == Conversation.assignee_id, User.org_id == org_id)
             .correlate(Conversation).scalar_subquery())
    rows = session.execute(
        select(Conversation.id, Conversation.channel, Conversation.state, Conversation.created_at,
               Conversation.last_message_at, first.label("first_text"), agent.label("agent_name"),
               Conversation.csat_score, Conversation.csat_scale)
        .where(Conversation.org_id == org_id, Conversation.contact_id == contact_id)
        .order_by(Conversation.created_at.desc(), Conversation.id.desc()).limit(limit))
    return [ConversationItem(r.id, r.channel, r.state, r.created_at, r.last_message_at, r.first_text or "",
                             r.agent_name, r.csat_score, r.csat_scale) for r in rows]


def served_by(session: Session, user: User, contact_id: int) -> Conversation | None:
    """The contact's open conversation that ``user`` is serving, if any: on pages about the person (not one
    conversation) an agent sees the number while they serve any of the person's conversations."""
    return session.scalars(select(Conversation).where(
        Conversation.org_id == user.org_id, Conversation.contact_id == contact_id,
        Conversation.assignee_id == user.id, Conversation.state.in_(OPEN_STATES))
        .order_by(Conversation.id.desc()).limit(1)).first()
