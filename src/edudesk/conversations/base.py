"""What every conversation change shares: the area's error, the org-scoped lookups, the event topics and the
``conversation.*`` event with its summary. The service, message and transition modules build on this one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.conversations.models import Conversation, Message
from edudesk.conversations.schemas import conversation_summary
from edudesk.conversations.states import ConversationState
from edudesk.db import get_in_org, in_constants, org_query
from edudesk.errors import DomainError
from edudesk.events import agents_topic, contact_topic

S = ConversationState
CLOSE_RESOLVED_JOB = "conversations.close_resolved"
OPEN_STATES = (S.bot, S.queued, S.assigned, S.resolved)


class ConversationError(DomainError):
    pass


@dataclass
class Posted:
    message: Message
    created: bool


def get(session: Session, org_id: int, conversation_id: int, *, for_update: bool = False) -> Conversation:
    return get_in_org(session, Conversation, conversation_id, org_id, for_update=for_update)


# Read on every visitor message: built once, with the org and the contact as parameters.
_CURRENT_FOR_CONTACT = (
    org_query(Conversation, bindparam("org_id"))  # type: ignore[arg-type]
    .where(Conversation.contact_id == bindparam("contact_id"), in_constants(Conversation.state, OPEN_STATES))
    .order_by(Conversation.id.desc())
    .limit(1)
)


def current_for_contact(session: Session, org_id: int, contact_id: int) -> Conversation | None:
    """The contact's open conversation, if any (closed ones stay in history)."""
    return session.scalars(_CURRENT_FOR_CONTACT, {"org_id": org_id, "contact_id": contact_id}).first()



def can_see_phone(user: User, conv: Conversation | None) -> bool:
    """Supervisors see numbers; an agent sees them only for conversations they are serving (the lead card, the
    contact card, the 访客 panel and the contact page all ask this)."""
    if user.role in (Role.admin, Role.supervisor):
        return True
    return conv is not None and conv.assignee_id == user.id


def latest_on_channel(session: Session, org_id: int, contact_id: int, channel: str) -> Conversation | None:
    """The contact's most recent conversation on a channel, whatever its state."""
    return session.scalars(
        select(Conversation).where(Conversation.org_id == org_id, Conversation.contact_id == contact_id,
                                   Conversation.channel == channel)
        .order_by(Conversation.id.desc()).limit(1)).first()


def summary(session: Session, conv: Conversation) -> dict[str, Any]:
    contact = contacts_service.get(session, conv.org_id, conv.contact_id)
    assignee = auth_service.get_user(session, conv.org_id, conv.assignee_id) if conv.assignee_id else None
    return conversation_summary(conv, contacts_service.display_name(contact),
                                assignee.display_name if assignee else None)


def publish_conversation(session: Session, conv: Conversation, event_type: str, **extra: Any) -> None:
    events.record(
        session,
        events.DomainEvent(
            type=event_type,
            org_id=conv.org_id,
            data={"conversation": summary(session, conv), **extra},
            topics=(contact_topic(conv.contact_id), agents_topic(conv.org_id)),
        ),
    )



def actor(user: User) -> audit_service.Actor:
    return audit_service.Actor(org_id=user.org_id, user_id=user.id, label=user.username)


