"""What every ticket module shares: errors, who is acting, loading in the org, comments and domain events.

Kept below ``service``/``timers``/``delivery`` so that those can use each other's building blocks without import
cycles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.auth.models import Role, User
from edudesk.conversations import service as conversations_service
from edudesk.db import get_in_org, org_query
from edudesk.errors import DomainError
from edudesk.tickets.models import CommentKind, Ticket, TicketComment
from edudesk.tickets.schemas import comment_to_dict, ticket_to_dict
from edudesk.webhooks import service as webhooks_service

SUBJECT_MAX = 200
COMMENT_MAX = 5000


class TicketError(DomainError):
    status_code = 422


class TicketForbidden(TicketError):
    status_code = 403


class TicketConflict(TicketError):
    status_code = 409


@dataclass(frozen=True)
class Editor:
    """Who changes a ticket: a signed-in staff member (with their role) or an integration/system actor, which acts
    with a supervisor's rights (an API token is created by an admin for exactly that)."""

    actor: audit_service.Actor
    user_id: int | None = None
    role: Role | None = None
    name: str = "系统"

    @classmethod
    def of_user(cls, user: User, ip: str | None = None) -> Editor:
        return cls(audit_service.Actor(org_id=user.org_id, user_id=user.id, label=user.username, ip=ip),
                   user.id, user.role, user.display_name)

    @classmethod
    def system(cls, actor: audit_service.Actor, name: str = "系统") -> Editor:
        return cls(actor, None, None, name)

    @property
    def org_id(self) -> int:
        return self.actor.org_id

    @property
    def is_staff(self) -> bool:
        return self.user_id is not None

    @property
    def supervises(self) -> bool:
        return self.role in (Role.admin, Role.supervisor) or self.user_id is None


def can_edit(editor: Editor, ticket: Ticket) -> bool:
    """Agents work on their own tickets and on unassigned ones (taking them); supervisors and admins on all."""
    return editor.supervises or ticket.assignee_id in (None, editor.user_id)


def require_edit(editor: Editor, ticket: Ticket) -> None:
    if not can_edit(editor, ticket):
        raise TicketForbidden("not_yours", "这张工单由其他同事负责，只有负责人或主管可以修改")


def get(session: Session, org_id: int, ticket_id: int, *, for_update: bool = False) -> Ticket:
    return get_in_org(session, Ticket, ticket_id, org_id, for_update=for_update)


def clean_text(text: str, *, field: str = "text", what: str = "内容", limit: int = COMMENT_MAX) -> str:
    text = (text or "").strip()
    if not text:
        raise TicketError("empty", f"{what}不能为空", field)
    if len(text) > limit:
        raise TicketError("too_long", f"{what}不能超过 {limit} 个字", field)
    return text


def add_comment(session: Session, ticket: Ticket, kind: CommentKind, text: str, now: dt.datetime, *,
                author_user_id: int | None = None, author_name: str = "", mentions: Sequence[int] = (),
                message_id: int | None = None) -> TicketComment:
    comment = TicketComment(org_id=ticket.org_id, ticket_id=ticket.id, kind=kind, text=text,
                            author_user_id=author_user_id, author_name=author_name[:100], mentions=list(mentions),
                            message_id=message_id, created_at=now)
    session.add(comment)
    session.flush()
    return comment


def comments(session: Session, org_id: int, ticket_id: int, *, include_internal: bool = True
             ) -> list[TicketComment]:
    stmt = org_query(TicketComment, org_id).where(TicketComment.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(TicketComment.kind.in_((CommentKind.reply, CommentKind.visitor)))
    return list(session.scalars(stmt.order_by(TicketComment.id)))


def publish(session: Session, ticket: Ticket, event_type: str, **extra: Any) -> None:
    """A domain event for the agents' consoles (after commit); never on a visitor's topic."""
    events.record(session, events.DomainEvent(
        type=event_type, org_id=ticket.org_id, data={"ticket": ticket_to_dict(ticket), **extra},
        topics=(conversations_service.agents_topic(ticket.org_id),),
    ))


def publish_comment(session: Session, ticket: Ticket, comment: TicketComment) -> None:
    publish(session, ticket, "ticket.commented", comment=comment_to_dict(comment))


def emit_webhook(session: Session, ticket: Ticket, event_type: str, **extra: Any) -> None:
    """A signed webhook in the same transaction, only when an endpoint of the org subscribes (one read otherwise).
    ``subject_key`` ``ticket:<id>`` keeps one ticket's events in order for each endpoint."""
    webhooks_service.emit_if_subscribed(session, ticket.org_id, event_type, f"ticket:{ticket.id}",
                                        lambda: {**ticket_to_dict(ticket), **extra})
