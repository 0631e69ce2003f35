"""Replies reach the visitor the way they came: as an agent message in the contact's conversation on the ticket's
channel.

No channel is imported here: posting into the conversation publishes ``message.created`` on the contact's topic,
so a widget visitor sees the reply at once (or on their next visit, in the history) and every other channel's
adapter sends it as it sends any agent message.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.tickets.core import TicketError
from edudesk.tickets.models import Ticket


def conversation_for_reply(session: Session, ticket: Ticket) -> Conversation:
    """The contact's open conversation on the ticket's channel; a new one (without the bot's welcome) if none."""
    if ticket.contact_id is None:
        raise TicketError("no_contact", "这张工单没有关联访客，无法回复；请改写内部备注", "kind")
    current = conversations_service.current_for_contact(session, ticket.org_id, ticket.contact_id)
    if current is not None and current.channel == ticket.channel:
        return current
    contact = contacts_service.get(session, ticket.org_id, ticket.contact_id)
    # The new conversation goes out through the account the visitor last wrote through (their WeChat Official
    # Account), and keeps the time of their last message, which opens or closes the channel's reply window.
    previous = conversations_service.latest_on_channel(session, ticket.org_id, ticket.contact_id, ticket.channel)
    conv = conversations_service.open_conversation(session, contact, ticket.channel,
                                                   inbox_id=previous.inbox_id if previous else None)
    if previous is not None:
        conv.last_visitor_message_at = previous.last_visitor_message_at
    return conv


def deliver(session: Session, ticket: Ticket, text: str, *, sender_name: str, sender_user_id: int | None
            ) -> Message:
    """Posts the reply into the conversation and makes it the ticket's conversation; returns the message."""
    conv = conversation_for_reply(session, ticket)
    posted = conversations_service.post_message(session, conv, SenderKind.agent, text, sender_name=sender_name,
                                                sender_user_id=sender_user_id, extra={"ticket_id": ticket.id})
    ticket.conversation_id = conv.id
    return posted.message
