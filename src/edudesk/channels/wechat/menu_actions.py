"""What a click on a custom-menu button (CLICK event, ``EventKey``) asks the bot to do.

The orchestrator stays channel-agnostic: a click becomes an ordinary inbound message whose ``payload`` is one the
bot already understands, and whose ``text`` is the button's name (what the transcript shows):

- FAQ entry → the entry's standard question (today's wording, else the one saved with the menu): the FAQ matcher
  answers it like a typed question;
- human → "转人工" (the hand-over words);
- fixed text → "inboxtext:<key>": the orchestrator answers with ``Inbox.state["replies"][key]``;
- bot script → "flow:<flow key>": the bot starts that script now, whatever its triggers.

The adapter's CLICK handler calls ``resolve_menu_click`` (or ``resolve_menu_payload``) and then
``inbound_service.receive(..., InboundMessage(text=click.label, payload=click.payload, ...))``. Keys are resolved
against the *published* menu, the one people see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from edudesk.bot.flow_host import FLOW_PAYLOAD
from edudesk.bot.rules import HANDOFF_BUTTON
from edudesk.channels.wechat import menu_editor
from edudesk.inbound.service import INBOX_TEXT_PREFIX
from edudesk.inboxes.models import Inbox
from edudesk.kb import service as kb_service

HUMAN_PAYLOAD = HANDOFF_BUTTON.payload  # "转人工"


@dataclass(frozen=True)
class MenuClick:
    payload: str
    label: str  # the button's name: the visitor's message as stored


def _button(inbox_state: Mapping[str, Any] | None, key: str) -> dict[str, Any] | None:
    return menu_editor.flatten(menu_editor.published_of(inbox_state)).get(key)


def payload_for_key(inbox_state: Mapping[str, Any] | None, key: str) -> str | None:
    """The payload of the published button ``key``; None for a key the published menu has no action for (a link,
    a stale key of an older menu)."""
    button = _button(inbox_state, key)
    if button is None:
        return None
    kind = button.get("kind")
    if kind == "faq" and button.get("question"):
        return str(button["question"])
    if kind == "human":
        return HUMAN_PAYLOAD
    if kind == "text" and button.get("text"):
        return f"{INBOX_TEXT_PREFIX}{key}"
    if kind == "flow" and button.get("flow"):
        return f"{FLOW_PAYLOAD}{button['flow']}"
    return None


def label_for_key(inbox_state: Mapping[str, Any] | None, key: str) -> str | None:
    button = _button(inbox_state, key)
    if button is None:
        return None
    return str(button.get("name") or "") or None


def resolve_menu_click(session: Session, inbox_id: int, key: str) -> MenuClick | None:
    """The payload and label of a click on the inbox's published menu; None when the key does nothing."""
    inbox = session.get(Inbox, inbox_id)
    if inbox is None or not key:
        return None
    payload = payload_for_key(inbox.state, key)
    if payload is None:
        return None
    button = _button(inbox.state, key) or {}
    if button.get("kind") == "faq":
        # The entry's wording today, so an edited standard question still matches exactly.
        entry_id = button.get("entry_id")
        card = kb_service.entry_card(session, inbox.org_id, entry_id) if isinstance(entry_id, int) else None
        if card is not None:
            payload = card.question
    return MenuClick(payload, label_for_key(inbox.state, key) or payload)


def resolve_menu_payload(session: Session, inbox_id: int, key: str) -> str | None:
    """The payload the adapter passes to ``receive`` for a CLICK on ``key`` (see ``resolve_menu_click``)."""
    click = resolve_menu_click(session, inbox_id, key)
    return click.payload if click is not None else None
