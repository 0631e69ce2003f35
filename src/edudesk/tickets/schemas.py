"""Plain-dict views of tickets and comments, shared by the REST API, the domain events and the webhooks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from edudesk.tickets import sla
from edudesk.tickets.models import Ticket, TicketComment
from edudesk.tickets.states import PRIORITY_LABELS, STATUS_LABELS


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_to_dict(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "status_label": STATUS_LABELS[ticket.status],
        "priority": ticket.priority.value,
        "priority_label": PRIORITY_LABELS[ticket.priority],
        "source": ticket.source.value,
        "channel": ticket.channel,
        "group_id": ticket.group_id,
        "assignee_id": ticket.assignee_id,
        "contact_id": ticket.contact_id,
        "conversation_id": ticket.conversation_id,
        "lead_id": ticket.lead_id,
        "custom_fields": dict(ticket.custom_fields or {}),
        "sla": {
            "policy_id": ticket.sla_policy_id,
            "state": sla.state(ticket),
            "first_response_due_at": _iso(ticket.first_response_due_at),
            "first_responded_at": _iso(ticket.first_responded_at),
            "first_response_breached_at": _iso(ticket.first_response_breached_at),
            "resolution_due_at": _iso(ticket.resolution_due_at),
            "resolution_breached_at": _iso(ticket.resolution_breached_at),
            "paused": ticket.pending_since is not None,
        },
        "solved_at": _iso(ticket.solved_at),
        "closed_at": _iso(ticket.closed_at),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


def comment_to_dict(comment: TicketComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "ticket_id": comment.ticket_id,
        "kind": comment.kind.value,
        "author_user_id": comment.author_user_id,
        "author_name": comment.author_name,
        "text": comment.text,
        "mentions": list(comment.mentions or []),
        "message_id": comment.message_id,
        "created_at": _iso(comment.created_at),
    }
