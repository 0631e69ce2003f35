"""The data flow of one visitor message: contact → conversation → stored message → bot or human.

This is the one place that ties the areas together for an inbound message; channels call it with a normalised
``InboundMessage`` and get back what was stored, so retries are harmless (idempotent on the client message id).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from edudesk.bot import service as bot_service
from edudesk.bot.faq import LEAVE_CONTACT_BUTTON
from edudesk.bot.models import BotConversationState
from edudesk.bot.rules import HANDOFF_BUTTON
from edudesk.bot.runtime import BotRuntime, OrgBot
from edudesk.campaigns import service as campaigns_service
from edudesk.channels import choices
from edudesk.channels.base import BUTTONS, InboundMessage, identity_kind
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Attachment, Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import in_constants, utcnow
from edudesk.errors import DomainError
from edudesk.foreground import FOREGROUND
from edudesk.inboxes import service as inboxes_service
from edudesk.kb import service as kb_service
from edudesk.leads import service as leads_service
from edudesk.llm import hook as llm_hook
from edudesk.llm.client import LlmClient
from edudesk.nlp.extract import extract
from edudesk.outbound import render
from edudesk.privacy import files
from edudesk.routing import dispatch, handover
from edudesk.tickets import service as tickets_service
from edudesk.visitors import service as visitors_service

BOT_NAME = "智能助手"
# Buttons whose payload starts with this are the widget's or a script's menu choices (routing rules match them).
MENU_PREFIX = "menu:"
# A fixed reply of the connected account the message came through: "inboxtext:<key>" is answered with
# ``Inbox.state["replies"][key]`` (a WeChat custom-menu button that replies a text; any channel's menu may use it).
INBOX_TEXT_PREFIX = "inboxtext:"
SORRY_TEXT = "抱歉没能帮到您😔 您可以换个说法再问问，也可以转人工，或留下联系方式由老师联系您。"


class InboundError(DomainError):
    pass


@dataclass
class InboundResult:
    conversation: Conversation
    message: Message
    created: bool
    replies: list[Message] = field(default_factory=list)


# How far back the visitor rate limit counts.
RATE_WINDOW_SECONDS = 60

# Everything a returning visitor's message starts from, in one statement instead of four (each statement saved is a
# database round trip on PostgreSQL): the contact by its channel identity, its open conversation (the newest), the
# bot's state of that conversation, a message already stored under this client id (a resend), the visitor's
# messages in the rate-limit window and the contact's open ticket.
# Every step is keyed so that no plan can scan an org: the identity first, as a scalar subquery (one probe of its
# unique index, which starts with org_id), then the contact by primary key and its conversations by contact. With
# org_id also on the contact and conversation, PostgreSQL with statistics older than a new org's contacts (no
# ANALYZE since they arrived) walked every contact of the org by ix_contacts_org_id and ran the open-conversation
# subquery for each through ix_conversations_org_state: 200 probes per turn in the benchmark, 6.7 ms instead of
# 0.1 ms. Org isolation holds through the identity, and turn_rows() refuses a row of another org all the same.
_LATEST_OPEN = aliased(Conversation)
_CONTACT_OF_IDENTITY = (
    select(ContactIdentity.contact_id)
    .where(ContactIdentity.org_id == bindparam("org_id"), ContactIdentity.channel == bindparam("channel"),
           ContactIdentity.external_id == bindparam("external_id"))
    .scalar_subquery()
)
_TURN_ROWS = (
    select(Contact, Conversation, BotConversationState,
           *conversations_service.visitor_check_columns(Contact.id, Conversation.id),
           tickets_service.active_ticket_id_of(Contact.id))
    .select_from(Contact)
    .outerjoin(Conversation, Conversation.id == (
        select(_LATEST_OPEN.id)
        .where(_LATEST_OPEN.contact_id == Contact.id,
               in_constants(_LATEST_OPEN.state, conversations_service.OPEN_STATES))
        .order_by(_LATEST_OPEN.id.desc())
        .limit(1)
        .correlate_except(_LATEST_OPEN)
        .scalar_subquery()))
    .outerjoin(BotConversationState, (BotConversationState.conversation_id == Conversation.id)
               & (BotConversationState.org_id == bindparam("org_id")))
    .where(Contact.id == _CONTACT_OF_IDENTITY)
)

# The same checks for a contact the caller already has (or one created by this message): one more statement.
_CHECKS = conversations_service.VISITOR_CHECKS.add_columns(tickets_service.ACTIVE_TICKET_ID)


@dataclass(frozen=True)
class TurnRows:
    """What a visitor message starts from."""

    contact: Contact
    conversation: Conversation
    bot_state: bot_service.KnownState | None  # None: not known (the bot reads it)
    existing: Message | None  # already stored under this client id: a resend
    recent: int  # the visitor's messages in the conversation during the rate-limit window
    active_ticket_id: int | None


def _open(session: Session, contact: Contact, msg: InboundMessage, org_bot: OrgBot, welcome: str | None = None
          ) -> Conversation:
    return conversations_service.open_conversation(
        session, contact, msg.channel, welcome=welcome or org_bot.welcome_text, page_url=msg.page_url,
        page_title=msg.page_title, referrer=msg.referrer, inbox_id=msg.inbox_id,
    )


def _opened(session: Session, contact: Contact, msg: InboundMessage, org_bot: OrgBot
            ) -> tuple[Conversation, bot_service.KnownState]:
    """A new conversation, and the bot's state of it, known without a read: it has none yet."""
    conv = _open(session, contact, msg, org_bot)
    return conv, bot_service.KnownState(conv.id, None)


def turn_rows(session: Session, msg: InboundMessage, org_bot: OrgBot, contact: Contact | None) -> TurnRows:
    """The contact (created on its first message), its open conversation (opened when there is none, except for a
    resend) and the checks of this message — one statement for a returning visitor."""
    if contact is None:
        row = session.execute(_TURN_ROWS, {
            "org_id": msg.org_id, "channel": identity_kind(msg.channel, msg.inbox_id),
            "external_id": msg.external_user_id,
            "client_id": msg.client_message_id,
            "since": conversations_service.rate_window_start(RATE_WINDOW_SECONDS),
        }).first()
        if row is not None:
            found, current, state, existing_id, recent, ticket_id = row
            if found.org_id != msg.org_id or (current is not None and current.org_id != msg.org_id):
                raise RuntimeError(f"contact identity {msg.channel}:{msg.external_user_id} of org {msg.org_id} "
                                   f"points at contact {found.id} of another org")
            existing = conversations_service.message_in_org(session, msg.org_id, existing_id)
            if existing is not None:  # answered from what is stored: no conversation is opened for a resend
                conv = current or conversations_service.get(session, msg.org_id, existing.conversation_id)
                return TurnRows(found, conv, None, existing, 0, ticket_id)
            if current is None:
                return TurnRows(found, *_opened(session, found, msg, org_bot), None, 0, ticket_id)
            return TurnRows(found, current, bot_service.KnownState(current.id, state), None, int(recent or 0),
                            ticket_id)
        contact = contacts_service.find_or_create(session, msg.org_id, identity_kind(msg.channel, msg.inbox_id),
                                                  msg.external_user_id, page_url=msg.page_url,
                                                  aliases=msg.aliases)
    conv = conversations_service.current_for_contact(session, msg.org_id, contact.id)
    known: bot_service.KnownState | None = None
    if conv is None:
        conv, known = _opened(session, contact, msg, org_bot)
    extra: list[Any] = []
    existing, recent = conversations_service.visitor_checks(session, conv, msg.client_message_id,
                                                            RATE_WINDOW_SECONDS, statement=_CHECKS, extra=extra)
    return TurnRows(contact, conv, known, existing, recent, extra[0])


@FOREGROUND.marks  # background jobs step aside while a visitor waits (foreground.py)
def receive(
    session: Session,
    msg: InboundMessage,
    *,
    agents_online: bool | Callable[[], bool],
    max_chars: int = 2000,
    max_per_minute: int = 60,
    contact: Contact | None = None,
    bots: BotRuntime | None = None,
    name_model: bool = False,
    upload_dir: Path | None = None,
    llm: LlmClient | None = None,
    frames: llm_hook.Frames | None = None,
) -> InboundResult:
    text = msg.text.strip()
    if not text and msg.attachment_id is None and msg.media is None:
        raise InboundError("empty_message", "消息不能为空", "text")
    if len(text) > max_chars:
        raise InboundError("too_long", f"消息不能超过 {max_chars} 个字", "text")
    org_bot = bots.get(session, msg.org_id) if bots is not None else bot_service.load_org_bot(session, msg.org_id)
    started = utcnow()
    rows = turn_rows(session, msg, org_bot, contact)
    contact, conv = rows.contact, rows.conversation
    if rows.existing is not None:  # a retry is answered before it is counted
        return InboundResult(conv, rows.existing, created=False)
    if rows.recent >= max_per_minute:
        raise InboundError("rate_limited", "发送太频繁了，请稍后再试")
    attachment: Attachment | None = None
    if msg.media is not None:
        attachment = _store_media(session, contact, msg, upload_dir)
    elif msg.attachment_id is not None:
        try:
            attachment = conversations_service.visitor_attachment(session, msg.org_id, contact.id,
                                                                  msg.attachment_id)
        except LookupError:
            raise InboundError("bad_attachment", "图片不存在或已失效", "attachment_id") from None
    new_contact = _created_since(contact, started)
    contacts_service.touch(session, contact, page_url=msg.page_url)
    if msg.campaign or msg.attribution:
        leads_service.note_touch(session, contact, campaign=msg.campaign, attribution=msg.attribution)
    if msg.campaign and new_contact:
        # A person who writes first (no arrival event before it) arrived through the campaign with this message.
        # Later messages carrying the campaign are not arrivals: the campaign counts people, not messages.
        campaigns_service.record_touch(session, msg.org_id, msg.inbox_id, msg.campaign, new_contact=True,
                                       channel=msg.channel)
    if msg.payload is None and text and BUTTONS not in msg.capabilities:
        # A channel without buttons offered the choices as numbered lines: "1" (or the label) is that choice.
        picked = choices.pick(text, render.offered(conversations_service.last_offer(session, conv),
                                                   msg.capabilities))
        if picked is not None:
            msg = replace(msg, payload=picked["payload"])
    if msg.payload and msg.payload.startswith(render.CSAT_PREFIX) and conv.state == ConversationState.resolved:
        return _rated(session, conv, contact, msg, text)
    if msg.payload and msg.payload.startswith(MENU_PREFIX):
        conv.menu_choice = msg.payload[:64]  # a routing fact: "menu:售后" sends the hand-over to after-sales
    conversations_service.reopen_by_visitor(session, conv)
    # Abuse is masked before anyone sees it; the bot still gets the original to answer it calmly.
    stored_text = org_bot.engine.sensitive.apply(text).text
    posted = conversations_service.post_message(
        session, conv, SenderKind.visitor, stored_text, sender_name=contacts_service.display_name(contact),
        client_id=msg.client_message_id, attachment=attachment, client_id_checked=True,
    )
    result = InboundResult(conv, posted.message, created=True)
    # A visitor with an open ticket: their words join it (and reopen it when it was waiting on them).
    tickets_service.on_visitor_message(session, conv, posted.message, active_ticket_id=rows.active_ticket_id)
    fixed = _fixed_reply(session, msg)
    if fixed is not None:
        # The account's own canned answer to a menu button: given whoever holds the conversation, as the
        # platform's menu would, and the bot is not asked.
        answer = conversations_service.post_message(session, conv, SenderKind.bot, fixed, sender_name=BOT_NAME,
                                                    extra={"kind": "inbox_text"})
        result.replies.append(answer.message)
        return result
    if msg.payload and msg.payload.startswith(INBOX_TEXT_PREFIX):
        msg = replace(msg, payload=None)  # no such fixed text (any more): the bot reads the words instead
    facts: tuple[tuple[str, str, str], ...] = ()
    extraction = extract(text, use_model=name_model, lexicon=org_bot.lexicon) if text else None
    signals_before = set(leads_service.contact_signals(contact))
    if extraction is not None:
        # Opportunistic extraction: parents give a number or a grade whenever they like, not only when a bot script
        # asks, so every visitor message that states a fact updates the lead card (no statement when none does).
        # No autoflush: the conversation's new preview goes out with the bot reply's changes, in one UPDATE.
        with session.no_autoflush:
            captured = leads_service.capture(session, contact, text, extraction=extraction, channel=msg.channel,
                                             conversation_id=conv.id, message_id=posted.message.id,
                                             page_url=conv.page_url)
        facts = captured.facts
        gave_contact = bool(leads_service.CONTACT_KEYS & set(captured.changed))
        signals_after = set(leads_service.contact_signals(contact))
        if gave_contact or signals_after != signals_before:
            # The profile changed (a signal, or a number that may make two contacts one person): merge and
            # classify again (debounced, in a job; skipped when no rule reads the new signals).
            visitors_service.conversation_changed(session, msg.org_id, contact.id, merged_lead=gave_contact,
                                                  new_signals=signals_after - signals_before)
    if conv.state == ConversationState.queued and handover.while_queued(session, conv, payload=msg.payload):
        return result
    if conv.state in (ConversationState.bot, ConversationState.queued) and text:
        # The bot's reads need not flush the conversation's new preview: the bot's reply changes it again, and both
        # changes then go out as one UPDATE at commit (one statement less per turn). Only when nothing else is
        # pending, so whatever the bot reads (its state, the lead card) still sees every earlier write of the turn.
        # The visitor's message is already stored: ``post_message`` INSERTs at once.
        known_bot = rows.bot_state.state if rows.bot_state is not None else None
        categories_before = list(known_bot.categories or []) if known_bot is not None else []
        with session.no_autoflush if _only_pending(session, conv) else contextlib.nullcontext():
            decision = bot_service.respond(session, org_bot, conv.id, msg.payload or text,
                                           message_id=posted.message.id,
                                           page_title=msg.page_title or conv.page_title, facts=facts,
                                           contact=contact, extraction=extraction, channel=msg.channel,
                                           known_state=rows.bot_state)
        if llm is not None and msg.payload is None:
            # Not answered confidently: the org's documents may answer it (docs/llm.md); on any failure the
            # bot's own reply stands. ``frames`` streams the checked sentences to the widget.
            decision = llm_hook.grounded_turn(session, llm, msg.org_id, conv.id, text, decision,
                                              sensitive=org_bot.engine.sensitive, frames=frames,
                                              client_id=msg.client_message_id)
        if decision.category and decision.category not in categories_before:
            # A new FAQ category for this conversation: "asked about …" may hold now (classified in a job, unless
            # no rule reads the categories answered).
            answered = {decision.category, *(c for _, c in decision.more_answers if c)}
            visitors_service.trail_changed(session, msg.org_id, [contact.id],
                                           changed={"faq": frozenset(answered - set(categories_before))})
        for reply in decision.replies:
            bot_msg = conversations_service.post_message(
                session, conv, SenderKind.bot, reply.text, sender_name=BOT_NAME,
                buttons=[b.as_dict() for b in reply.buttons] or None, extra=reply.extra or None,
            )
            result.replies.append(bot_msg.message)
        if decision.handoff and conv.state == ConversationState.queued:
            # Asking for a human again while waiting: where they stand, not a second hand-over.
            status = dispatch.queue_status(session, conv)
            conversations_service.post_message(session, conv, SenderKind.system, str(status["text"]),
                                               extra={"kind": "queue"})
        elif decision.handoff:
            # Presence may cost Redis round trips: ask only when a hand-over actually happens.
            online = agents_online() if callable(agents_online) else agents_online
            handover.hand_over(session, conv, decision.handoff_reason or "bot", agents_online=online,
                               contact=contact)
    return result


def _created_since(contact: Contact, started: dt.datetime) -> bool:
    """Whether the contact was created by this call: its first sight (set when its row was inserted) is not
    before the call began. No query: an existing contact's first sight is long past."""
    return contact.first_seen_at is not None and contact.first_seen_at >= started


def _fixed_reply(session: Session, msg: InboundMessage) -> str | None:
    """The account's fixed text for an "inboxtext:<key>" payload; None for any other message (or an unknown key,
    which the bot then treats as the words the visitor sent)."""
    if not msg.payload or not msg.payload.startswith(INBOX_TEXT_PREFIX) or msg.inbox_id is None:
        return None
    inbox = inboxes_service.get(session, msg.org_id, msg.inbox_id)
    replies = (inbox.state or {}).get("replies")
    text = replies.get(msg.payload[len(INBOX_TEXT_PREFIX):]) if isinstance(replies, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def _rated(session: Session, conv: Conversation, contact: Contact, msg: InboundMessage, text: str
           ) -> InboundResult:
    """The visitor's score, typed as a number on a channel that cannot show the survey form: their message is
    kept in the transcript, then the conversation is rated (and closed) as the widget's form would."""
    posted = conversations_service.post_message(
        session, conv, SenderKind.visitor, text, sender_name=contacts_service.display_name(contact),
        client_id=msg.client_message_id, client_id_checked=True)
    score = int((msg.payload or "")[len(render.CSAT_PREFIX):])
    conversations_service.rate(session, msg.org_id, contact.id, score, None)
    return InboundResult(conv, posted.message, created=True)


def _store_media(session: Session, contact: Contact, msg: InboundMessage, upload_dir: Path | None) -> Attachment:
    """Keeps a file the channel delivered (a WeChat image or voice note) under the upload folder, by a random key."""
    media = msg.media
    assert media is not None
    if upload_dir is None:
        raise InboundError("no_storage", "未配置附件存储目录", "media")
    key = secrets.token_urlsafe(24)
    path = files.attachment_path(upload_dir, msg.org_id, key)
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(media.content)
    return conversations_service.add_attachment(session, msg.org_id, contact.id, storage_key=key,
                                                content_type=media.content_type[:64], size=len(media.content),
                                                name=media.filename or "file")


def visitor_arrived(session: Session, msg: InboundMessage, *, bots: BotRuntime, welcome: str | None = None,
                    greet: bool = True) -> list[Message]:
    """A visitor arrived on a channel without writing yet (followed the Official Account, scanned a QR code, opened
    a 微信客服 link): their contact and where they came from are recorded, and they are greeted once — the org's
    welcome (or the connected account's own ``welcome``) in a new conversation, then the script that greets on
    opening, if any. An arrival while a conversation is open greets nobody again, nor one the channel does not let
    us greet (``greet=False``: 微信客服 without a welcome code); their first message opens the conversation."""
    started = utcnow()
    contact = contacts_service.find_or_create(session, msg.org_id, identity_kind(msg.channel, msg.inbox_id),
                                              msg.external_user_id, aliases=msg.aliases)
    new_contact = _created_since(contact, started)
    contacts_service.touch(session, contact)
    if msg.campaign or msg.attribution:
        leads_service.note_touch(session, contact, campaign=msg.campaign, attribution=msg.attribution)
    if msg.campaign:
        # Every arrival through a campaign counts (the adapter calls this once per subscribe / SCAN /
        # enter_session, resends filtered by their receipts); a new contact also counts as one it brought.
        campaigns_service.record_touch(session, msg.org_id, msg.inbox_id, msg.campaign, new_contact=new_contact,
                                       channel=msg.channel)
    current = conversations_service.current_for_contact(session, msg.org_id, contact.id)
    if not greet:
        return []
    if current is not None:
        # A follow or scan is an interaction: the platform's reply window opens again (WeChat: 48 hours).
        current.last_visitor_message_at = utcnow()
        return []
    org_bot = bots.get(session, msg.org_id)
    conv = _open(session, contact, msg, org_bot, welcome)
    conv.last_visitor_message_at = utcnow()
    decision = bot_service.on_widget_opened(session, org_bot, conv.id, contact, channel=msg.channel) \
        if bot_service.opens_with_script(org_bot) else None
    return [conversations_service.post_message(
        session, conv, SenderKind.bot, reply.text, sender_name=BOT_NAME,
        buttons=[b.as_dict() for b in reply.buttons] or None, extra=reply.extra or None).message
        for reply in (decision.replies if decision is not None else ())]


def widget_opened(session: Session, org_id: int, contact: Contact, channel: str, *, bots: BotRuntime,
                  page_url: str | None = None, page_title: str | None = None) -> list[Message]:
    """The visitor opened the chat window. When the org has a script that greets on opening (or runs off hours),
    it starts now, in the visitor's conversation (opened for it if needed), once: a running or finished script is
    not started again, and a conversation the visitor already wrote in is left to the message triggers."""
    org_bot = bots.get(session, org_id)
    if not bot_service.opens_with_script(org_bot):
        return []
    conv = conversations_service.current_for_contact(session, org_id, contact.id)
    if conv is not None and (conv.state != ConversationState.bot
                             or conversations_service.visitor_has_written(session, conv)):
        return []
    if conv is None:
        # No stored welcome: the widget already shows it (with the hot questions) above the script's greeting.
        conv = conversations_service.open_conversation(session, contact, channel, page_url=page_url,
                                                       page_title=page_title)
    decision = bot_service.on_widget_opened(session, org_bot, conv.id, contact, channel=channel)
    if decision is None:
        return []
    return [conversations_service.post_message(
        session, conv, SenderKind.bot, reply.text, sender_name=BOT_NAME,
        buttons=[b.as_dict() for b in reply.buttons] or None, extra=reply.extra or None).message
        for reply in decision.replies]


def _only_pending(session: Session, row: object) -> bool:
    """Whether ``row`` is the only object of the session with changes not yet flushed."""
    return not session.new and not session.deleted and all(obj is row for obj in session.dirty)


def feedback(session: Session, org_id: int, contact_id: int, message_id: int, helpful: bool) -> None:
    """The visitor's 解决了吗 👍/👎 on a bot answer. A 👎 is logged as a miss for the knowledge base and, while
    the bot still owns the conversation, offers the ways on (ask again, a human, leave details)."""
    msg = conversations_service.contact_message(session, org_id, contact_id, message_id)
    extra = msg.extra or {}
    entry_id = extra.get("kb_entry_id")
    if msg.sender != SenderKind.bot or not extra.get("feedback") or not isinstance(entry_id, int):
        raise InboundError("not_votable", "这条消息不能评价", "message_id")
    previous = extra.get("helpful")
    if previous is helpful:
        return
    # A reply answering several questions (``bot.multi``) gets one vote, as the widget shows one: it is stored on
    # its first entry, and a 👎 logs a miss for each answer with the part of the message it answered, since which
    # answer failed is not known (an editor confirms or fixes each pairing; taking the 👎 back removes them all).
    answers = [a for a in extra.get("answers") or () if isinstance(a, dict) and isinstance(a.get("kb_entry_id"), int)]
    question = str(answers[0].get("asked") or "") if answers else ""
    question = question or conversations_service.visitor_question_before(session, msg)
    kb_service.record_feedback(session, org_id, message_id=msg.id, entry_id=entry_id, helpful=helpful,
                               query=question, conversation_id=msg.conversation_id)
    if not helpful:
        for answer in answers[1:]:
            kb_service.record_downvote(session, org_id, message_id=msg.id, entry_id=answer["kb_entry_id"],
                                       query=str(answer.get("asked") or ""), conversation_id=msg.conversation_id)
    conversations_service.update_message_extra(session, msg, helpful=helpful)
    conv = conversations_service.get(session, org_id, msg.conversation_id)
    if not helpful and conv.state == ConversationState.bot:
        conversations_service.post_message(
            session, conv, SenderKind.bot, SORRY_TEXT, sender_name=BOT_NAME,
            buttons=[HANDOFF_BUTTON.as_dict(), LEAVE_CONTACT_BUTTON.as_dict()], extra={"kind": "sorry"},
        )
