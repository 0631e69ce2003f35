"""Privacy for tickets: a contact's tickets for export, erasure, and what the retention purge must keep.

Called by ``privacy.service`` through ``tickets_service`` (re-exported there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.orm import Session

from edudesk.tickets.models import Ticket, TicketComment, TicketStatus
from edudesk.tickets.states import ACTIVE

S = TicketStatus

ERASED_SUBJECT = "（个人信息已删除）"


def _of_person(org_id: int, contact_id: int, lead_ids: list[int]) -> ColumnElement[bool]:
    return (Ticket.org_id == org_id) & ((Ticket.contact_id == contact_id) | Ticket.lead_id.in_(lead_ids or [-1]))


def export_for_contact(session: Session, org_id: int, contact_id: int, lead_ids: list[int]) -> list[dict[str, Any]]:
    """The person's tickets with every comment (staff notes included, marked by kind)."""
    out = []
    for t in session.scalars(select(Ticket).where(_of_person(org_id, contact_id, lead_ids)).order_by(Ticket.id)):
        comments = session.scalars(select(TicketComment).where(TicketComment.org_id == org_id,
                                                               TicketComment.ticket_id == t.id)
                                   .order_by(TicketComment.id))
        out.append({"id": t.id, "subject": t.subject, "status": t.status.value, "priority": t.priority.value,
                    "source": t.source.value, "channel": t.channel, "custom_fields": t.custom_fields,
                    "created_at": t.created_at.isoformat(),
                    "closed_at": t.closed_at.isoformat() if t.closed_at else None,
                    "comments": [{"kind": c.kind.value, "author_name": c.author_name, "text": c.text,
                                  "created_at": c.created_at.isoformat()} for c in comments]})
    return out


def erase_for_contact(session: Session, org_id: int, contact_id: int, lead_ids: list[int],
                      now: dt.datetime) -> tuple[list[int], int]:
    """Deletes the person's ticket comments and custom fields and replaces the subject; the ticket row stays
    (status, priority, group, SLA times: the SLA reports count it) and an unfinished one is closed. Pending SLA
    jobs find ``updated_at`` changed and do nothing. Returns the ticket ids and the comments deleted."""
    tickets = list(session.scalars(select(Ticket).where(_of_person(org_id, contact_id, lead_ids))))
    ids = [t.id for t in tickets]
    if not ids:
        return [], 0
    gone = session.execute(delete(TicketComment).where(TicketComment.org_id == org_id,
                                                       TicketComment.ticket_id.in_(ids)))
    for t in tickets:
        t.subject, t.custom_fields, t.updated_at = ERASED_SUBJECT, {}, now
        if t.status != S.closed:
            t.status, t.closed_at = S.closed, now
    return ids, int(gone.rowcount or 0)  # type: ignore[attr-defined]


def conversations_with_active_tickets(org_id: int) -> Select[Any]:
    return select(Ticket.conversation_id).where(Ticket.org_id == org_id, Ticket.status.in_(ACTIVE),
                                                Ticket.conversation_id.is_not(None))


def contacts_with_active_tickets(org_id: int) -> Select[Any]:
    return select(Ticket.contact_id).where(Ticket.org_id == org_id, Ticket.status.in_(ACTIVE),
                                           Ticket.contact_id.is_not(None))
