"""Plain-dict views of conversations and messages, shared by the API, the WebSockets and the events."""

from __future__ import annotations

from typing import Any

from edudesk.conversations.models import Attachment, Conversation, Message
from edudesk.conversations.states import STATE_LABELS


def attachment_url(att: Attachment) -> str:
    # The storage key is a long random token, so the URL itself is the capability (like a signed URL).
    return f"/api/v1/attachments/{att.id}/{att.storage_key}"


def attachment_to_dict(att: Attachment | None) -> dict[str, Any] | None:
    if att is None:
        return None
    return {
        "id": att.id,
        "url": attachment_url(att),
        "content_type": att.content_type,
        "size": att.size,
        "name": att.original_name,
    }


def message_to_dict(msg: Message, att: Attachment | None = None) -> dict[str, Any]:
    extra = msg.extra or {}
    out = {
        "id": msg.id,
        "conversation_id": msg.conversation_id,
        "client_id": msg.client_id,
        "sender": msg.sender.value,
        "sender_name": msg.sender_name,
        "text": msg.text,
        "attachment": attachment_to_dict(att),
        "buttons": list(extra.get("buttons", [])),
        "created_at": msg.created_at.isoformat(),
    }
    if msg.internal:
        out["internal"] = True
    # Bot replies carry their kind (answer, suggest, fallback…), answer pictures and the 解决了吗 👍/👎 state.
    # ``delivery``: how the message went out through the visitor's channel (retrying, failed, sent by template).
    # A generated answer (kind "llm", docs/llm.md) names the passages it cited (``sources``) and, when it was
    # streamed to the widget, the stream it replaces (``stream_id``).
    for key in ("kind", "images", "feedback", "helpful", "delivery", "sources", "stream_id"):
        if key in extra:
            out[key] = extra[key]
    return out


def conversation_summary(conv: Conversation, contact_name: str, assignee_name: str | None = None
                         ) -> dict[str, Any]:
    return {
        "id": conv.id,
        "state": conv.state.value,
        "state_label": STATE_LABELS[conv.state],
        "assignee_id": conv.assignee_id,
        "assignee_name": assignee_name,
        "contact_id": conv.contact_id,
        "contact_name": contact_name,
        "channel": conv.channel,
        "last_text": conv.last_message_text,
        "last_message_at": conv.last_message_at.isoformat(),
        "unread": conv.unread_count,
        "csat_score": conv.csat_score,
        "group_id": conv.group_id,
        "priority": conv.priority,
        "tags": list(conv.tags or []),
    }
