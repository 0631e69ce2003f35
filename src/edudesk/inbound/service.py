"""The data flow of one visitor message: contact → conversation → stored message → bot or human.

This is the one place that ties the areas together for an inbound message; channels call it with a normalised
``InboundMessage`` and get back what was stored, so retries are harmless (idempotent on the client message id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from edudesk.bot import service as bot_service
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.errors import DomainError

BOT_NAME = "智能助手"


class InboundError(DomainError):
    pass


@dataclass
class InboundResult:
    conversation: Conversation
    message: Message
    created: bool
    replies: list[Message] = field(default_factory=list)


def ensure_conversation(session: Session, contact: Contact, msg: InboundMessage) -> Conversation:
    conv = conversations_service.current_for_contact(session, msg.org_id, contact.id)
    if conv is not None:
        return conv
    welcome = bot_service.get_settings(session, msg.org_id).welcome_text
    return conversations_service.open_conversation(
        session, contact, msg.channel, welcome=welcome, page_url=msg.page_url, page_title=msg.page_title,
        referrer=msg.referrer,
    )


def receive(
    session: Session,
    msg: InboundMessage,
    *,
    agents_online: bool | Callable[[], bool],
    max_chars: int = 2000,
    max_per_minute: int = 60,
    contact: Contact | None = None,
) -> InboundResult:
    text = msg.text.strip()
    if not text and msg.attachment_id is None:
        raise InboundError("empty_message", "消息不能为空", "text")
    if len(text) > max_chars:
        raise InboundError("too_long", f"消息不能超过 {max_chars} 个字", "text")
    if contact is None:
        contact = contacts_service.find_or_create(session, msg.org_id, msg.channel, msg.external_user_id,
                                                  page_url=msg.page_url)
    conv = ensure_conversation(session, contact, msg)
    if msg.client_message_id is not None:
        existing = conversations_service.find_by_client_id(session, conv, msg.client_message_id)
        if existing is not None:
            return InboundResult(conv, existing, created=False)
    if conversations_service.recent_visitor_messages(session, conv, 60) >= max_per_minute:
        raise InboundError("rate_limited", "发送太频繁了，请稍后再试")
    attachment: Attachment | None = None
    if msg.attachment_id is not None:
        try:
            attachment = conversations_service.visitor_attachment(session, msg.org_id, contact.id,
                                                                  msg.attachment_id)
        except LookupError:
            raise InboundError("bad_attachment", "图片不存在或已失效", "attachment_id") from None
    contacts_service.touch(session, contact, page_url=msg.page_url)
    conversations_service.reopen_by_visitor(session, conv)
    posted = conversations_service.post_message(
        session, conv, SenderKind.visitor, text, sender_name=contacts_service.display_name(contact),
        client_id=msg.client_message_id, attachment=attachment, client_id_checked=True,
    )
    result = InboundResult(conv, posted.message, created=True)
    if conv.state == ConversationState.bot and text:
        decision = bot_service.respond(session, msg.org_id, conv.id, text)
        for reply in decision.replies:
            bot_msg = conversations_service.post_message(
                session, conv, SenderKind.bot, reply.text, sender_name=BOT_NAME,
                buttons=[b.as_dict() for b in reply.buttons] or None,
            )
            result.replies.append(bot_msg.message)
        if decision.handoff:
            # Presence may cost Redis round trips: ask only when a hand-over actually happens.
            online = agents_online() if callable(agents_online) else agents_online
            conversations_service.handoff(session, conv, decision.handoff_reason or "bot", agents_online=online)
    return result
