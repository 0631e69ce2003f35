"""Privacy for conversations: a contact's transcripts for export, erasure and the retention purge.

Called by ``privacy.service`` through ``conversations_service`` (re-exported there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, Select, delete, select, update
from sqlalchemy.orm import Session

from edudesk.conversations.base import S
from edudesk.conversations.base import publish_conversation as _publish_conversation
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind

# Purging a transcript keeps the conversation and message rows (sender, times, channel, CSAT score: what reports
# count) and removes their content: texts, buttons, the visitor's name, page addresses, CSAT comment, tags and
# attachments. A conversation a person still works on (queued, assigned, resolved) is never purged.

LIVE_STATES = (S.queued, S.assigned, S.resolved)


def conversation_ids_of_contact(session: Session, org_id: int, contact_id: int) -> list[int]:
    return list(session.scalars(select(Conversation.id).where(
        Conversation.org_id == org_id, Conversation.contact_id == contact_id).order_by(Conversation.id)))


def attachments_of_contact(session: Session, org_id: int, contact_id: int) -> list[Attachment]:
    """The contact's uploads and every attachment shown in their conversations."""
    in_convs = select(Message.attachment_id).where(
        Message.org_id == org_id, Message.attachment_id.is_not(None),
        Message.conversation_id.in_(select(Conversation.id).where(Conversation.org_id == org_id,
                                                                  Conversation.contact_id == contact_id)))
    return list(session.scalars(select(Attachment).where(
        Attachment.org_id == org_id, (Attachment.contact_id == contact_id) | Attachment.id.in_(in_convs))
        .order_by(Attachment.id)))


def export_for_contact(session: Session, org_id: int, contact_id: int) -> list[dict[str, Any]]:
    """Every conversation of the contact with its whole transcript (internal staff notes included, marked: they
    are data about the person too) and its satisfaction rating."""
    out = []
    for conv in session.scalars(select(Conversation).where(Conversation.org_id == org_id,
                                                           Conversation.contact_id == contact_id)
                                .order_by(Conversation.id)):
        msgs = session.scalars(select(Message).where(Message.org_id == org_id, Message.conversation_id == conv.id)
                               .order_by(Message.id))
        out.append({
            "id": conv.id, "channel": conv.channel, "state": conv.state.value, "page_url": conv.page_url,
            "page_title": conv.page_title, "referrer": conv.referrer, "tags": conv.tags,
            "created_at": conv.created_at.isoformat(),
            "closed_at": conv.closed_at.isoformat() if conv.closed_at else None,
            "content_purged_at": conv.content_purged_at.isoformat() if conv.content_purged_at else None,
            "csat": {"score": conv.csat_score, "scale": conv.csat_scale, "comment": conv.csat_comment}
            if conv.csat_score is not None else None,
            "messages": [{"id": m.id, "sender": m.sender.value, "sender_name": m.sender_name, "text": m.text,
                          "internal": m.internal, "attachment_id": m.attachment_id, "extra": m.extra,
                          "created_at": m.created_at.isoformat()} for m in msgs],
        })
    return out


def delete_attachments(session: Session, org_id: int, attachment_ids: list[int]) -> list[tuple[int, str]]:
    """Deletes the attachment rows (messages lose the link) and returns (org_id, storage_key) of each, for the
    caller to delete the files."""
    if not attachment_ids:
        return []
    rows = list(session.execute(select(Attachment.id, Attachment.storage_key).where(
        Attachment.org_id == org_id, Attachment.id.in_(attachment_ids))))
    ids = [r.id for r in rows]
    if ids:
        session.execute(update(Message).where(Message.org_id == org_id, Message.attachment_id.in_(ids))
                        .values(attachment_id=None), execution_options={"synchronize_session": False})
        session.execute(delete(Attachment).where(Attachment.org_id == org_id, Attachment.id.in_(ids)))
    return [(org_id, r.storage_key) for r in rows]


@dataclass(frozen=True)
class Stripped:
    conversations: int
    messages: int
    files: list[tuple[int, str]]


def strip_content(session: Session, org_id: int, conversation_ids: list[int], now: dt.datetime) -> Stripped:
    """Removes the content of these conversations (see the block comment); an open one is closed first, so the
    visitor's next message opens a new conversation rather than continuing an emptied one."""
    convs = list(session.scalars(select(Conversation).where(Conversation.org_id == org_id,
                                                            Conversation.id.in_(conversation_ids))))
    ids = [c.id for c in convs]
    if not ids:
        return Stripped(0, 0, [])
    att_ids = list(session.scalars(select(Message.attachment_id).where(
        Message.org_id == org_id, Message.conversation_id.in_(ids), Message.attachment_id.is_not(None))))
    files = delete_attachments(session, org_id, [a for a in att_ids if a is not None])
    blanked = session.execute(update(Message).where(Message.org_id == org_id, Message.conversation_id.in_(ids))
                              .values(text="", extra={}, client_id=None),
                              execution_options={"synchronize_session": False})
    session.execute(update(Message).where(Message.org_id == org_id, Message.conversation_id.in_(ids),
                                          Message.sender == SenderKind.visitor).values(sender_name=""),
                    execution_options={"synchronize_session": False})
    for conv in convs:
        if conv.state != S.closed:
            conv.state = S.closed
            conv.closed_at = now
            _publish_conversation(session, conv, "conversation.closed")
        conv.last_message_text, conv.csat_comment, conv.tags = "", None, []
        conv.page_url = conv.page_title = conv.referrer = None
        conv.content_purged_at = now
    return Stripped(len(ids), int(blanked.rowcount or 0), files)  # type: ignore[attr-defined]


def purgeable_conversation_ids(session: Session, org_id: int, before: dt.datetime, limit: int,
                               keep: ScalarSelect[Any] | Select[Any]) -> list[int]:
    """Closed conversations, and bot-only ones the visitor left (nobody serves them), whose last message is
    older than ``before``, not purged yet and not in ``keep`` (the ids of conversations with an open ticket)."""
    return list(session.scalars(select(Conversation.id).where(
        Conversation.org_id == org_id, Conversation.state.in_((S.closed, S.bot)),
        Conversation.last_message_at < before, Conversation.content_purged_at.is_(None),
        Conversation.id.not_in(keep)).order_by(Conversation.id).limit(limit)))


def purgeable_attachment_ids(session: Session, org_id: int, before: dt.datetime, limit: int) -> list[int]:
    """Attachments uploaded before ``before`` that are not shown in a conversation someone still works on."""
    live = select(Message.attachment_id).join(Conversation, Conversation.id == Message.conversation_id).where(
        Message.org_id == org_id, Message.attachment_id.is_not(None), Conversation.state.in_(LIVE_STATES))
    return list(session.scalars(select(Attachment.id).where(
        Attachment.org_id == org_id, Attachment.created_at < before, Attachment.id.not_in(live))
        .order_by(Attachment.id).limit(limit)))


def contacts_in_conversation_since(org_id: int, since: dt.datetime) -> Select[Any]:
    """Contacts with a conversation someone works on, or any message since ``since``."""
    return select(Conversation.contact_id).where(
        Conversation.org_id == org_id,
        Conversation.state.in_(LIVE_STATES) | (Conversation.last_message_at >= since))
