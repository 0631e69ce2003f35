"""Smart tickets (智能工单): everything that changes a ticket, with its comment, audit entry, SLA jobs and events.

Routing (off-hours handoffs, queue timeouts, "call me back"), the console and the REST API create tickets with
``create_ticket``; the inbound pipeline hands every stored visitor message to ``on_visitor_message``. Replies go
back to the visitor through their conversation (``delivery``); SLA clocks run on business hours (``sla``,
``timers``). See docs/tickets.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ScalarSelect, SQLColumnExpression, bindparam, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.models import Role
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.db import NotFoundError, in_constants, org_query, utcnow
from edudesk.leads import service as leads_service
from edudesk.routing import service as routing_service
from edudesk.tickets import core, delivery, fields, mentions, sla, timers
from edudesk.tickets.core import (
    Editor,
    TicketConflict,
    TicketError,
    TicketForbidden,
    can_edit,
    clean_text,
    comments,
    get,
)
from edudesk.tickets.models import (
    CommentKind,
    Ticket,
    TicketComment,
    TicketFieldDef,
    TicketPriority,
    TicketSource,
    TicketStatus,
)
from edudesk.tickets.privacy import (
    ERASED_SUBJECT,
    contacts_with_active_tickets,
    conversations_with_active_tickets,
    erase_for_contact,
    export_for_contact,
)
from edudesk.tickets.related import (
    LeadSummary,
    Transcript,
    can_see_phone,
    lead_summary,
    reply_deliveries,
    tickets_of_contact,
    transcripts,
)
from edudesk.tickets.states import ACTIVE, PRIORITY_LABELS, SOURCE_LABELS, STATUS_LABELS, check_transition

__all__ = [
    "ERASED_SUBJECT",
    "UNSET",
    "Editor",
    "LeadSummary",
    "TicketConflict",
    "TicketError",
    "TicketForbidden",
    "Transcript",
    "add_note",
    "add_reply",
    "can_edit",
    "can_see_phone",
    "comments",
    "contacts_with_active_tickets",
    "conversations_with_active_tickets",
    "create_ticket",
    "delete_ticket",
    "erase_for_contact",
    "export_for_contact",
    "field_defs",
    "get",
    "lead_summary",
    "on_visitor_message",
    "reply_deliveries",
    "set_status",
    "take",
    "tickets_of_contact",
    "transcripts",
    "update_ticket",
]

S = TicketStatus
REOPEN_NOTICE = "您的留言已转给老师（工单 #{id}），老师回复后会在这里通知您。"
# Sources whose subject a person typed (an agent, an integration): a bad one is refused. Tickets routing opens by
# itself get a shortened or default subject instead, so a visitor's long message never loses the ticket.
TYPED_SOURCES = (TicketSource.agent, TicketSource.api)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


_FIELD_NAMES = {"priority": "优先级", "status": "状态", "source": "来源"}


def _enum(kind: type[TicketPriority] | type[TicketStatus] | type[TicketSource], value: object, field: str,
          labels: dict[str, str]) -> Any:
    if isinstance(value, kind):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        choices = "、".join(labels.values())
        raise TicketError(f"bad_{field}", f"无效的{_FIELD_NAMES[field]}：{str(value)[:20]}（可选：{choices}）",
                          field) from None


def _subject(raw: str, source: TicketSource) -> str:
    subject = " ".join((raw or "").split())
    if source in TYPED_SOURCES:
        return clean_text(subject, field="subject", what="标题", limit=core.SUBJECT_MAX)
    if not subject:
        return SOURCE_LABELS[source]
    return subject if len(subject) <= core.SUBJECT_MAX else subject[:core.SUBJECT_MAX - 1] + "…"


def field_defs(session: Session, org_id: int) -> list[TicketFieldDef]:
    return list(session.scalars(org_query(TicketFieldDef, org_id)
                                .order_by(TicketFieldDef.position, TicketFieldDef.id)))


def _check_group(session: Session, org_id: int, group_id: int | None) -> int | None:
    if group_id is None:
        return None
    if group_id not in {g.id for g in routing_service.list_groups(session, org_id)}:
        raise NotFoundError("SkillGroup", group_id)
    return group_id


def _check_assignee(session: Session, org_id: int, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    user = auth_service.get_user(session, org_id, user_id)  # another org's user: NotFoundError
    if not user.is_active:
        raise TicketError("inactive_assignee", f"{user.display_name} 的账号已停用，不能分配工单", "assignee_id")
    return user.id


def _people(session: Session, org_id: int) -> list[mentions.Person]:
    return [mentions.Person(u.id, u.username, u.display_name)
            for u in auth_service.list_users(session, org_id) if u.is_active]


# --- creating ----------------------------------------------------------------------------------------------------

def create_ticket(
    session: Session,
    *,
    org_id: int,
    source: TicketSource,
    subject: str,
    contact_id: int | None,
    conversation_id: int | None,
    channel: str = "web",
    group_id: int | None = None,
    priority: TicketPriority | str = TicketPriority.normal,
    description: str = "",
    custom_fields: dict[str, Any] | None = None,
    actor: audit_service.Actor | None = None,
    assignee_id: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Opens a ticket (call inside the caller's transaction; nothing is committed here).

    Links the contact's lead, keeps ``description`` as the first comment (the visitor's words, or a note when a
    staff member creates it), applies the SLA policy and schedules its check, audits, and announces
    ``ticket.created`` to the agents' consoles and to subscribed webhooks. With a conversation, the ticket's
    contact and channel are the conversation's. ``now`` is for tests."""
    now = now or utcnow()
    source = _enum(TicketSource, source, "source", SOURCE_LABELS)
    priority = _enum(TicketPriority, priority, "priority", PRIORITY_LABELS)
    subject = _subject(subject, source)
    description = (description or "").strip()
    if len(description) > core.COMMENT_MAX:
        raise TicketError("too_long", f"描述不能超过 {core.COMMENT_MAX} 个字", "description")
    conv: Conversation | None = None
    if conversation_id is not None:
        conv = conversations_service.get(session, org_id, conversation_id)
        if contact_id is not None and contact_id != conv.contact_id:
            raise TicketError("contact_mismatch", "会话不属于这个访客", "conversation_id")
        contact_id, channel = conv.contact_id, conv.channel
    contact = contacts_service.get(session, org_id, contact_id) if contact_id is not None else None
    channel = (channel or "web").strip()[:32] or "web"
    group_id = _check_group(session, org_id, group_id)
    assignee_id = _check_assignee(session, org_id, assignee_id)
    values = fields.merge(field_defs(session, org_id), {}, custom_fields or {}) if custom_fields else {}
    lead = leads_service.lead_for_contact(session, org_id, contact.id) if contact is not None else None
    ticket = Ticket(org_id=org_id, subject=subject, status=S.open if assignee_id else S.new, priority=priority,
                    source=source, channel=channel, group_id=group_id, assignee_id=assignee_id,
                    contact_id=contact.id if contact else None, conversation_id=conv.id if conv else None,
                    lead_id=lead.id if lead else None, custom_fields=values, created_at=now, updated_at=now)
    session.add(ticket)
    session.flush()
    actor = actor or audit_service.Actor(org_id=org_id, label=f"system:{source.value}")
    staff = actor.user_id is not None
    if description:
        if staff:
            author = auth_service.get_user(session, org_id, actor.user_id)  # type: ignore[arg-type]
            _note(session, ticket, description, now, author_user_id=author.id, author_name=author.display_name)
        else:
            name = contacts_service.display_name(contact) if contact is not None else "访客"
            core.add_comment(session, ticket, CommentKind.visitor, description, now, author_name=name)
    timers.apply_policy(session, ticket, now)
    timers.touch(session, ticket, now)
    audit_service.record(session, actor, "ticket.create", "ticket", ticket.id, source=source.value,
                         subject=subject, assignee_id=assignee_id, group_id=group_id)
    core.publish(session, ticket, "ticket.created")
    core.emit_webhook(session, ticket, "ticket.created")
    return ticket


# --- changing ----------------------------------------------------------------------------------------------------

def _locked(session: Session, editor: Editor, ticket_id: int) -> Ticket:
    ticket = get(session, editor.org_id, ticket_id, for_update=True)
    if ticket.status == S.closed:
        raise TicketConflict("closed", "工单已关闭，不能再修改")
    return ticket


def _move(session: Session, ticket: Ticket, target: TicketStatus, now: dt.datetime, by: str) -> None:
    """One status move with its clock effects: pauses start and end, solving settles and schedules the auto-close."""
    current = ticket.status
    check_transition(current, target)
    if target in (S.solved, S.closed) and current not in (S.solved,):
        missing = fields.missing_required(field_defs(session, ticket.org_id), ticket.custom_fields or {})
        if missing:
            labels = "、".join(d.label for d in missing)
            raise TicketError("required_fields", f"解决工单前请先填写：{labels}", f"custom_fields.{missing[0].key}")
    if current == S.pending:
        timers.resume(session, ticket, ticket.pending_since, now)
        ticket.pending_since = None
    if current == S.solved and target == S.open:
        timers.resume(session, ticket, ticket.solved_at, now)
        ticket.solved_at = None
    ticket.status = target
    if target == S.pending:
        ticket.pending_since = now
    elif target == S.solved:
        ticket.solved_at = now
        sla.settle_resolution(ticket, now)
        timers.schedule_auto_close(session, ticket)
    elif target == S.closed:
        ticket.closed_at = now
        if current != S.solved:
            sla.settle_resolution(ticket, now)
    core.add_comment(session, ticket, CommentKind.system,
                     f"状态：{STATUS_LABELS[current]} → {STATUS_LABELS[target]}（{by}）", now, author_name="系统")


def update_ticket(session: Session, editor: Editor, ticket_id: int, *, status: Any = UNSET, priority: Any = UNSET,
                  group_id: Any = UNSET, assignee_id: Any = UNSET, custom_fields: dict[str, Any] | None = None,
                  subject: Any = UNSET, now: dt.datetime | None = None) -> Ticket:
    """The header of a ticket: any of status, priority, group, assignee, subject and custom fields, in one change
    (one audit entry, one ``ticket.updated``). Agents change their own and unassigned tickets, and assign only to
    themselves; supervisors, admins and integrations change anything. Field values are applied before the status,
    so filling the required fields and solving can be one submit."""
    now = now or utcnow()
    ticket = _locked(session, editor, ticket_id)
    core.require_edit(editor, ticket)
    changes: dict[str, list[Any]] = {}
    if subject is not UNSET:
        new_subject = clean_text(str(subject or ""), field="subject", what="标题", limit=core.SUBJECT_MAX)
        new_subject = " ".join(new_subject.split())
        if new_subject != ticket.subject:
            changes["subject"] = [ticket.subject, new_subject]
            ticket.subject = new_subject
    if custom_fields:
        merged = fields.merge(field_defs(session, ticket.org_id), ticket.custom_fields or {}, custom_fields)
        if merged != (ticket.custom_fields or {}):
            changes["custom_fields"] = [dict(ticket.custom_fields or {}), merged]
            ticket.custom_fields = merged
    recompute = False
    if priority is not UNSET and priority is not None:
        new_priority = _enum(TicketPriority, priority, "priority", PRIORITY_LABELS)
        if new_priority != ticket.priority:
            changes["priority"] = [ticket.priority.value, new_priority.value]
            ticket.priority = new_priority
            recompute = True
    if group_id is not UNSET:
        new_group = _check_group(session, ticket.org_id, group_id)
        if new_group != ticket.group_id:
            changes["group_id"] = [ticket.group_id, new_group]
            ticket.group_id = new_group
            recompute = True
    if assignee_id is not UNSET:
        new_assignee = _check_assignee(session, ticket.org_id, assignee_id)
        if new_assignee != ticket.assignee_id:
            if not editor.supervises and new_assignee not in (None, editor.user_id):
                raise TicketForbidden("assign_others", "客服只能把工单分配给自己，分配给他人请联系主管", "assignee_id")
            changes["assignee_id"] = [ticket.assignee_id, new_assignee]
            ticket.assignee_id = new_assignee
            audit_service.record(session, editor.actor, "ticket.assign", "ticket", ticket.id,
                                 previous=changes["assignee_id"][0], assignee_id=new_assignee)
            if new_assignee is not None and ticket.status == S.new and status in (UNSET, None):
                status = S.open
    if recompute:
        timers.apply_policy(session, ticket, now, recompute=True)
    if status is not UNSET and status is not None:
        target = _enum(TicketStatus, status, "status", STATUS_LABELS)
        if target != ticket.status:
            changes["status"] = [ticket.status.value, target.value]
            _move(session, ticket, target, now, editor.name)
    if not changes:
        return ticket
    timers.touch(session, ticket, now)
    audit_service.record(session, editor.actor, "ticket.update", "ticket", ticket.id,
                         **{k: v for k, v in changes.items() if k != "custom_fields"},
                         **({"custom_fields": sorted(custom_fields or {})} if "custom_fields" in changes else {}))
    core.publish(session, ticket, "ticket.updated", changes=changes, by=editor.name)
    if "assignee_id" in changes:
        core.publish(session, ticket, "ticket.assigned", assignee_id=ticket.assignee_id, by=editor.name)
    if "status" in changes:
        core.emit_webhook(session, ticket, "ticket.status_changed", previous_status=changes["status"][0])
    return ticket


def set_status(session: Session, editor: Editor, ticket_id: int, status: TicketStatus | str, *,
               now: dt.datetime | None = None) -> Ticket:
    return update_ticket(session, editor, ticket_id, status=status, now=now)


def take(session: Session, editor: Editor, ticket_id: int, *, now: dt.datetime | None = None) -> Ticket:
    """An agent takes an unassigned ticket (a supervisor may take any)."""
    if editor.user_id is None:
        raise TicketError("no_user", "只有员工账号可以认领工单")
    return update_ticket(session, editor, ticket_id, assignee_id=editor.user_id, now=now)


def delete_ticket(session: Session, editor: Editor, ticket_id: int) -> None:
    """Admins delete spam or test tickets (with their comments); the audit log keeps what was deleted."""
    if editor.role != Role.admin and editor.user_id is not None:
        raise TicketForbidden("admin_only", "只有管理员可以删除工单")
    ticket = get(session, editor.org_id, ticket_id, for_update=True)
    audit_service.record(session, editor.actor, "ticket.delete", "ticket", ticket.id, subject=ticket.subject,
                         status=ticket.status.value, contact_id=ticket.contact_id)
    core.publish(session, ticket, "ticket.deleted")
    session.delete(ticket)
    session.flush()


# --- comments ----------------------------------------------------------------------------------------------------

def add_reply(session: Session, editor: Editor, ticket_id: int, text: str, *, status: Any = None,
              now: dt.datetime | None = None) -> TicketComment:
    """A reply to the visitor, delivered into their conversation on the ticket's channel. The first one meets the
    first-response target. An unassigned ticket becomes the replier's; a new one becomes open unless ``status``
    (pending: waiting for the visitor, solved) says otherwise."""
    now = now or utcnow()
    text = clean_text(text, what="回复")
    ticket = _locked(session, editor, ticket_id)
    core.require_edit(editor, ticket)
    target = _enum(TicketStatus, status, "status", STATUS_LABELS) if status not in (None, "") else None
    message = delivery.deliver(session, ticket, text, sender_name=editor.name, sender_user_id=editor.user_id)
    comment = core.add_comment(session, ticket, CommentKind.reply, text, now, author_user_id=editor.user_id,
                               author_name=editor.name, message_id=message.id)
    sla.settle_first_response(ticket, now)
    changes: dict[str, list[Any]] = {}
    if ticket.assignee_id is None and editor.user_id is not None:
        changes["assignee_id"] = [None, editor.user_id]
        ticket.assignee_id = editor.user_id
        audit_service.record(session, editor.actor, "ticket.assign", "ticket", ticket.id, previous=None,
                             assignee_id=editor.user_id)
    if target is None and ticket.status == S.new:
        target = S.open
    if target is not None and target != ticket.status:
        changes["status"] = [ticket.status.value, target.value]
        _move(session, ticket, target, now, editor.name)
    timers.touch(session, ticket, now)
    core.publish_comment(session, ticket, comment)
    if changes:
        core.publish(session, ticket, "ticket.updated", changes=changes, by=editor.name)
    if "status" in changes:
        core.emit_webhook(session, ticket, "ticket.status_changed", previous_status=changes["status"][0])
    return comment


def _note(session: Session, ticket: Ticket, text: str, now: dt.datetime, *, author_user_id: int | None,
          author_name: str) -> TicketComment:
    mentioned = [i for i in mentions.find(text, _people(session, ticket.org_id)) if i != author_user_id]
    comment = core.add_comment(session, ticket, CommentKind.note, text, now, author_user_id=author_user_id,
                               author_name=author_name, mentions=mentioned)
    if mentioned:
        core.publish(session, ticket, "ticket.mention", user_ids=mentioned, comment_id=comment.id,
                     by=author_name, text=text[:200])
    return comment


def add_note(session: Session, editor: Editor, ticket_id: int, text: str, *, now: dt.datetime | None = None
             ) -> TicketComment:
    """An internal note, which any staff member may leave on any open ticket of the org (a colleague's hint
    is welcome on a ticket that is not theirs). ``@username`` or ``@显示名`` tells that person at once
    (``ticket.mention``) and lists the ticket under 提到我的."""
    now = now or utcnow()
    text = clean_text(text, what="备注")
    ticket = _locked(session, editor, ticket_id)
    comment = _note(session, ticket, text, now, author_user_id=editor.user_id, author_name=editor.name)
    timers.touch(session, ticket, now)
    core.publish_comment(session, ticket, comment)
    return comment


# --- the visitor writes again ------------------------------------------------------------------------------------

# Read for every stored visitor message, so built once. No org term: a contact id belongs to one org (the caller's
# conversation), and with ``org_id = ?`` SQLite, which keeps no statistics, may prefer ix_tickets_org_status and
# walk the org's open tickets instead of the contact's few; the org is checked on the row found.
_ACTIVE_FOR_CONTACT = (
    select(Ticket)
    .where(Ticket.contact_id == bindparam("contact_id"), Ticket.status.in_(ACTIVE))
    .order_by(Ticket.id.desc())
    .limit(1)
)


# The id of that ticket as a scalar subquery on the same ``contact_id`` parameter, for the inbound pipeline to fold
# into the checks it already runs for every visitor message (no statement of its own when there is no ticket).
def active_ticket_id_of(contact_id: SQLColumnExpression[int]) -> ScalarSelect[Any]:
    """That ticket's id for ``contact_id``: a parameter, or the contact column of an enclosing query."""
    return (
        select(Ticket.id)
        .where(Ticket.contact_id == contact_id, in_constants(Ticket.status, ACTIVE))
        .order_by(Ticket.id.desc())
        .limit(1)
        .correlate_except(Ticket)
        .scalar_subquery()
    )


ACTIVE_TICKET_ID = active_ticket_id_of(bindparam("contact_id"))


def on_visitor_message(session: Session, conv: Conversation, message: Message, *,
                       active_ticket_id: int | _Unset | None = UNSET) -> Ticket | None:
    """Adds a stored visitor message to the contact's most recent ticket that is not closed, if any.

    A pending or solved ticket reopens (its resolution clock resumes) and the visitor is told once that their
    message went to the teacher. Costs one indexed SELECT (and no flush) when the contact has no such ticket, and
    none when the caller already read ``ACTIVE_TICKET_ID`` (``active_ticket_id``)."""
    if message.sender != SenderKind.visitor:
        return None
    if active_ticket_id is None:
        return None
    with session.no_autoflush:
        if isinstance(active_ticket_id, int):
            ticket = session.get(Ticket, active_ticket_id)
        else:
            ticket = session.scalars(_ACTIVE_FOR_CONTACT, {"contact_id": conv.contact_id}).first()
    if ticket is None or ticket.org_id != conv.org_id:
        return None
    if message.created_at <= ticket.created_at:
        # The message the ticket was just opened from (routing may run before this hook in the same turn): it is
        # the ticket's description already, not a follow-up.
        return ticket
    seen = session.scalars(org_query(TicketComment, ticket.org_id).where(
        TicketComment.ticket_id == ticket.id, TicketComment.message_id == message.id).limit(1)).first()
    if seen is not None:
        return ticket
    now = utcnow()
    text = message.text or ("[图片]" if message.attachment_id else "")
    comment = core.add_comment(session, ticket, CommentKind.visitor, text or "（空消息）", now,
                               author_name=message.sender_name or "访客", message_id=message.id)
    if ticket.channel == conv.channel:
        ticket.conversation_id = conv.id
    previous = ticket.status
    if previous in (S.pending, S.solved):
        _move(session, ticket, S.open, now, "访客回复")
        conversations_service.post_message(session, conv, SenderKind.system, REOPEN_NOTICE.format(id=ticket.id),
                                           extra={"ticket_id": ticket.id})
    timers.touch(session, ticket, now)
    core.publish_comment(session, ticket, comment)
    if previous != ticket.status:
        core.publish(session, ticket, "ticket.updated", changes={"status": [previous.value, ticket.status.value]},
                     by="访客", reopened=True)
        core.emit_webhook(session, ticket, "ticket.status_changed", previous_status=previous.value)
    return ticket
