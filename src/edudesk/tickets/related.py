"""What the ticket page shows beside the timeline: the conversations the ticket came from and went into, the
contact's lead card (read-only), whether the viewer may see the phone number, and whether each reply reached the
visitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.leads import service as leads_service
from edudesk.tickets.core import Editor
from edudesk.tickets.models import CommentKind, Ticket, TicketComment


@dataclass(frozen=True)
class Transcript:
    conversation: Conversation
    messages: list[dict[str, Any]]


def transcripts(session: Session, org_id: int, ticket: Ticket, *, limit: int = 3) -> list[Transcript]:
    """The conversation the ticket came from and the ones its replies went into since (staff view, with notes),
    oldest first, at most ``limit``."""
    if ticket.contact_id is None:
        return []
    history = conversations_service.history_for_contact(session, org_id, ticket.contact_id, limit=50)
    before = [c.id for c in history if c.created_at <= ticket.created_at]
    source_id = max(before) if before else None
    chosen = [c for c in history
              if c.id == source_id or c.id == ticket.conversation_id
              or (c.channel == ticket.channel and c.id > (source_id or 0) and c.created_at >= ticket.created_at)]
    chosen = sorted(chosen, key=lambda c: c.id)[-limit:]
    return [Transcript(c, conversations_service.messages_as_dicts(session, org_id, c.id)) for c in chosen]


def reply_deliveries(session: Session, org_id: int, comments: list[TicketComment]) -> dict[int, dict[str, Any]]:
    """Per reply comment, how its message's delivery through the visitor's channel went (retrying, failed with
    the reason, sent as a template message): the page shows a reply that never reached the visitor beside it."""
    by_message = {c.message_id: c.id for c in comments if c.kind == CommentKind.reply and c.message_id is not None}
    states = conversations_service.delivery_states(session, org_id, list(by_message))
    return {by_message[msg_id]: state for msg_id, state in states.items()}


@dataclass(frozen=True)
class LeadSummary:
    lead_id: int
    fields: list[leads_service.CardField]
    grade: leads_service.CardGrade | None


def lead_summary(session: Session, org_id: int, ticket: Ticket, *, show_phone: bool) -> LeadSummary | None:
    """The contact's lead card, read-only (phone masked unless ``show_phone``); None without a lead."""
    if ticket.contact_id is None:
        return None
    lead = leads_service.lead_for_contact(session, org_id, ticket.contact_id)
    card = leads_service.card(session, org_id, ticket.contact_id, show_phone=show_phone)
    if lead is None or card is None:
        return None
    return LeadSummary(lead.id, [f for f in card if f.value],
                       leads_service.card_grade(session, org_id, ticket.contact_id))


def can_see_phone(editor: Editor, ticket: Ticket) -> bool:
    """Like the console: supervisors see numbers; an agent sees the number of a ticket they are responsible for
    (a "call me back" ticket is no use to its assignee without it), not of anyone else's."""
    return editor.supervises or (ticket.assignee_id is not None and ticket.assignee_id == editor.user_id)


def tickets_of_contact(session: Session, org_id: int, contact_id: int, *, limit: int = 50) -> list[Ticket]:
    """The contact's tickets, newest first, at most ``limit`` (the contact page's timeline)."""
    return list(session.scalars(
        select(Ticket).where(Ticket.org_id == org_id, Ticket.contact_id == contact_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))
