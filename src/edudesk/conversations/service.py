"""Conversations and messages: every state change, with its system message, audit entry, jobs and events.

Visitor-facing text lives here too (system messages are part of the transcript), in natural Chinese.

This module is the area's one public entry point (other areas call ``conversations_service.X``); the work is
split by purpose into ``base`` (errors, lookups, events), ``messages`` (storing and reading messages and
attachments) and ``transitions`` (the state machine's changes), whose public names are re-exported here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations.base import (
    CLOSE_RESOLVED_JOB,
    OPEN_STATES,
    ConversationError,
    Posted,
    S,
    actor,
    can_see_phone,
    current_for_contact,
    get,
    latest_on_channel,
    publish_conversation,
    summary,
)
from edudesk.conversations.contact_rows import ConversationItem, conversations_of_contact, served_by
from edudesk.conversations.messages import (
    DELIVER_JOB,
    DELIVERY_GRACE_KEY,
    NOTE_MAX_CHARS,
    QUEUED_DELIVERIES_KEY,
    VISITOR_CHECKS,
    add_attachment,
    contact_message,
    delivery_states,
    find_attachment,
    find_by_client_id,
    get_attachment,
    last_offer,
    mark_delivery,
    message_in_org,
    messages,
    messages_as_dicts,
    post_internal_note,
    post_message,
    post_system_note,
    rate_window_start,
    transcript_of_contact,
    update_message_extra,
    visitor_attachment,
    visitor_check_columns,
    visitor_checks,
    visitor_has_written,
    visitor_question_before,
)
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.conversations.privacy import (
    Stripped,
    attachments_of_contact,
    contacts_in_conversation_since,
    conversation_ids_of_contact,
    delete_attachments,
    export_for_contact,
    purgeable_attachment_ids,
    purgeable_conversation_ids,
    strip_content,
)
from edudesk.conversations.transitions import (
    HANDOFF_TEXT,
    NOBODY_ONLINE_TEXT,
    accept,
    assign_automatically,
    close_bot_conversation,
    close_resolved_job,
    handoff,
    leave_queue,
    mark_read,
    rate,
    reassign,
    release,
    reopen_by_visitor,
    requeue,
    resolve,
    send_agent_message,
)
from edudesk.db import org_query
from edudesk.events import agents_topic, contact_topic

__all__ = [
    "CLOSE_RESOLVED_JOB",
    "DELIVERY_GRACE_KEY",
    "DELIVER_JOB",
    "HANDOFF_TEXT",
    "MAX_TAGS",
    "NOBODY_ONLINE_TEXT",
    "NOTE_MAX_CHARS",
    "OPEN_STATES",
    "QUEUED_DELIVERIES_KEY",
    "TAG_MAX_CHARS",
    "VISITOR_CHECKS",
    "ConsoleRow",
    "ConversationError",
    "ConversationItem",
    "Posted",
    "SenderKind",
    "Stripped",
    "accept",
    "add_attachment",
    "agents_topic",
    "assign_automatically",
    "attachments_of_contact",
    "can_see_phone",
    "clean_tags",
    "close_bot_conversation",
    "close_resolved_job",
    "contact_message",
    "contact_topic",
    "contacts_in_conversation_since",
    "conversation_ids_of_contact",
    "conversations_of_contact",
    "current_for_contact",
    "delete_attachments",
    "delivery_states",
    "export_for_contact",
    "find_attachment",
    "find_by_client_id",
    "get",
    "get_attachment",
    "handoff",
    "history_for_contact",
    "last_offer",
    "latest_on_channel",
    "leave_queue",
    "list_for_console",
    "mark_delivery",
    "mark_read",
    "message_in_org",
    "messages",
    "messages_as_dicts",
    "open_conversation",
    "post_internal_note",
    "post_message",
    "post_system_note",
    "purgeable_attachment_ids",
    "purgeable_conversation_ids",
    "rate",
    "rate_window_start",
    "reassign",
    "release",
    "reopen_by_visitor",
    "requeue",
    "resolve",
    "send_agent_message",
    "served_by",
    "set_tags",
    "starts_of",
    "strip_content",
    "summary",
    "transcript_of_contact",
    "update_message_extra",
    "visitor_attachment",
    "visitor_check_columns",
    "visitor_checks",
    "visitor_conversations",
    "visitor_has_written",
    "visitor_question_before",
]

def open_conversation(
    session: Session,
    contact: Contact,
    channel: str,
    *,
    welcome: str | None = None,
    page_url: str | None = None,
    page_title: str | None = None,
    referrer: str | None = None,
    inbox_id: int | None = None,
) -> Conversation:
    conv = Conversation(
        org_id=contact.org_id,
        contact_id=contact.id,
        channel=channel,
        inbox_id=inbox_id,
        state=S.bot,
        page_url=(page_url or None) and page_url[:1000],
        page_title=(page_title or None) and page_title[:300],
        referrer=(referrer or None) and referrer[:1000],
    )
    session.add(conv)
    session.flush()
    publish_conversation(session, conv, "conversation.created")
    if welcome:
        post_message(session, conv, SenderKind.bot, welcome, sender_name="智能助手")
    return conv


TAG_MAX_CHARS = 20
MAX_TAGS = 10


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
        audit_service.record(session, actor(user), "conversation.tags", "conversation", conv.id, tags=cleaned)
        publish_conversation(session, conv, "conversation.updated")
    return conv


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


def starts_of(session: Session, org_id: int, ids: Sequence[int]) -> dict[int, tuple[int, dt.datetime]]:
    """Conversation id → (contact id, started): where a report finds the visit a conversation began in."""
    found: dict[int, tuple[int, dt.datetime]] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 1000):
        for conv_id, contact_id, created in session.execute(
                select(Conversation.id, Conversation.contact_id, Conversation.created_at).where(
                    Conversation.org_id == org_id, Conversation.id.in_(unique[start:start + 1000]))):
            found[conv_id] = (contact_id, created)
    return found


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


# --- what the visitor profile reads, and merging contacts (called by visitors.service) --------------------------

def visitor_texts(session: Session, org_id: int, contact_id: int, *, limit: int = 20) -> list[str]:
    """What the person wrote (newest first), across their conversations: the profile's "questions asked"."""
    rows = session.scalars(
        select(Message.text).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.org_id == org_id, Conversation.org_id == org_id, Conversation.contact_id == contact_id,
               Message.sender == SenderKind.visitor, Message.text != "")
        .order_by(Message.id.desc()).limit(limit))
    return list(rows)


def move_contact(session: Session, org_id: int, from_contact_id: int, to_contact_id: int) -> int:
    """Every conversation of one contact now belongs to another (two contacts were one person). Returns how many."""
    convs = list(session.scalars(org_query(Conversation, org_id).where(Conversation.contact_id == from_contact_id)))
    for conv in convs:
        conv.contact_id = to_contact_id
    session.execute(update(Attachment).where(Attachment.org_id == org_id, Attachment.contact_id == from_contact_id)
                    .values(contact_id=to_contact_id).execution_options(synchronize_session=False))
    session.flush()
    return len(convs)
