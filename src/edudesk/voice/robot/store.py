"""The call robot's database side: each function is one transaction, run in a worker thread by the dialogue
(``asyncio.to_thread``) so the event loop carrying the audio never waits on the database.

A robot call is a conversation on the ``phone`` channel: the callee's recognised words go through the same
inbound turn as a chat message (``inbound.service.receive``: flow engine, FAQ matcher, field extraction, lead
grading, hand-over rules), and the bot's replies are spoken instead of sent. Answers the robot settles itself
(别再打了, 打错了, a time for the callback…) are stored on the conversation as the callee's message and the
robot's line, with the same opportunistic extraction into the lead card, but without a bot turn (the FAQ has
nothing to say to "明天下午三点").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from edudesk.bot import service as bot_service
from edudesk.bot.flows.answers import looks_like_question
from edudesk.channels.base import VOICE, InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.errors import DomainError
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.nlp.extract import extract
from edudesk.voice import service as voice_service
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.models import Call, CallOutcome, CallState, Speaker, VoiceSettings

PHONE_CHANNEL = "phone"
BOT_NAME = inbound_service.BOT_NAME
# The flow a robot call runs when the call names none and the org has one with this key (the phone template).
DEFAULT_FLOW_KEY = "phone_call"
# Said when the org has no call flow: the FAQ still answers, and the robot asks for a callback time.
NO_FLOW_GREETING = "您好，我是课程顾问智能助手，打扰您一分钟。请问您最近有给孩子报课程的打算吗？"
CAPABILITIES = frozenset({VOICE})


@dataclass
class CallStart:
    call_id: int
    org_id: int
    public_id: str
    phone_e164: str
    contact_id: int
    conversation_id: int
    notice: str
    greeting: list[str]
    flow_key: str | None


@dataclass
class TurnResult:
    replies: list[str]
    # The flow reached an end step this turn (its last line may ask for a callback time); a hand-over happened.
    flow_ended: bool = False
    ends_with_question: bool = False
    transfer: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def _call(session: Any, start: CallStart) -> Call:
    return voice_service.get_call(session, start.org_id, start.call_id)


def begin(services: VoiceServices, live: LiveCall) -> CallStart:
    """The call is answered: its contact (the lead's, or one found or made by the number), a new ``phone``
    conversation, the org's notice and the flow's greeting (the flow starts now, by its key)."""
    with services.db.session() as session:
        call = voice_service.get_call(session, live.org_id, live.call_id)
        if call.state in (CallState.queued, CallState.dialing, CallState.ringing):
            voice_service.set_state(session, call, CallState.in_progress)
        notice = session.scalar(select(VoiceSettings.robot_notice).where(VoiceSettings.org_id == call.org_id)) or ""
        if call.contact_id is not None:
            contact = contacts_service.get(session, call.org_id, call.contact_id)
        else:
            contact = contacts_service.find_or_create(session, call.org_id, PHONE_CHANNEL, call.phone_e164)
        org_bot = (
            services.bots.get(session, call.org_id)
            if services.bots is not None
            else bot_service.load_org_bot(session, call.org_id)
        )
        # A new conversation of its own: the newest open one is where this call's words go (inbound.receive
        # with ``contact=``), never into a chat the parent has open on the website.
        conv = conversations_service.open_conversation(session, contact, PHONE_CHANNEL)
        call.contact_id, call.conversation_id = contact.id, conv.id
        enabled = {f.key for f in org_bot.flows if f.enabled}
        key = call.flow_key if call.flow_key in enabled else (DEFAULT_FLOW_KEY if DEFAULT_FLOW_KEY in enabled else None)
        greeting: list[str] = []
        if key is not None:
            decision = bot_service.respond(
                session, org_bot, conv.id, f"flow:{key}", contact=contact, channel=PHONE_CHANNEL
            )
            greeting = [r.text for r in decision.replies]
        else:
            greeting = [NO_FLOW_GREETING]
        for text in greeting:
            conversations_service.post_message(session, conv, SenderKind.bot, text, sender_name=BOT_NAME)
        start = CallStart(
            call.id, call.org_id, call.public_id, call.phone_e164, contact.id, conv.id, notice.strip(), greeting, key
        )
        session.commit()
    return start


def customer_turn(
    services: VoiceServices,
    start: CallStart,
    text: str,
    *,
    payload: str | None,
    seq: int,
    start_ms: int,
    end_ms: int,
    confidence: float | None,
    intent: str | None,
) -> TurnResult:
    """One recognised answer as an inbound message of the call's conversation, and the bot's replies to it."""
    with services.db.session() as session:
        call = _call(session, start)
        voice_service.add_turn(
            session,
            call,
            Speaker.customer,
            text,
            start_ms=start_ms,
            end_ms=end_ms,
            confidence=confidence,
            intent=intent,
        )
        contact = contacts_service.get(session, start.org_id, start.contact_id)
        max_chars = int(getattr(services.settings, "max_message_chars", 2000))
        msg = InboundMessage(
            org_id=start.org_id,
            channel=PHONE_CHANNEL,
            external_user_id=start.phone_e164,
            client_message_id=f"call:{start.public_id}:{seq}",
            text=text[:max_chars],
            payload=payload,
            capabilities=CAPABILITIES,
        )
        try:
            result = inbound_service.receive(
                session,
                msg,
                agents_online=False,
                contact=contact,
                bots=services.bots,
                max_chars=max_chars,
                max_per_minute=1000,
            )
        except DomainError:
            session.rollback()
            return TurnResult([])
        replies = [m.text for m in result.replies]
        extras = [m.extra or {} for m in result.replies]
        ended = any(e.get("kind") == "flow" and e.get("step_kind") == "end" for e in extras)
        transfer = result.conversation.state != ConversationState.bot
        session.commit()
    return TurnResult(
        replies,
        flow_ended=ended,
        ends_with_question=bool(replies) and looks_like_question(replies[-1]),
        transfer=transfer,
    )


def settled_turn(
    services: VoiceServices,
    start: CallStart,
    text: str,
    reply: str,
    *,
    seq: int,
    start_ms: int,
    end_ms: int,
    confidence: float | None,
    intent: str | None,
) -> None:
    """An answer the robot settles itself: the callee's words (with extraction into the lead card) and the
    robot's line, on the transcript and the conversation."""
    with services.db.session() as session:
        call = _call(session, start)
        voice_service.add_turn(
            session,
            call,
            Speaker.customer,
            text,
            start_ms=start_ms,
            end_ms=end_ms,
            confidence=confidence,
            intent=intent,
        )
        conv = conversations_service.get(session, start.org_id, start.conversation_id)
        contact = contacts_service.get(session, start.org_id, start.contact_id)
        posted = conversations_service.post_message(
            session,
            conv,
            SenderKind.visitor,
            text[:2000],
            sender_name=contacts_service.display_name(contact),
            client_id=f"call:{start.public_id}:{seq}",
        )
        if posted.created and text.strip():
            leads_service.capture(
                session,
                contact,
                text,
                extraction=extract(text, use_model=False),
                channel=PHONE_CHANNEL,
                conversation_id=conv.id,
                message_id=posted.message.id,
            )
        if reply:
            conversations_service.post_message(session, conv, SenderKind.bot, reply, sender_name=BOT_NAME)
        session.commit()


def bot_turns(services: VoiceServices, start: CallStart, said: list[tuple[Speaker, str, int, int]]) -> None:
    """What our side said, with when (ms from the answer), once it has been played (or cut by a barge-in)."""
    with services.db.session() as session:
        call = _call(session, start)
        for speaker, text, start_ms, end_ms in said:
            voice_service.add_turn(session, call, speaker, text, start_ms=start_ms, end_ms=end_ms)
        session.commit()


def mark_transfer(services: VoiceServices, start: CallStart, meta: dict[str, Any]) -> None:
    """The callee asked for a person: the runtime bridges an agent (the call stays in progress)."""
    with services.db.session() as session:
        call = _call(session, start)
        call.meta = {**(call.meta or {}), **meta, "transfer_requested": True}
        session.commit()


def finish(
    services: VoiceServices,
    start: CallStart | None,
    live: LiveCall,
    *,
    state: CallState,
    outcome: CallOutcome | None,
    reason: str,
    hangup_by: str,
    callback_at: dt.datetime | None = None,
    meta: dict[str, Any] | None = None,
    talk_seconds: float = 0.0,
) -> None:
    """The end of the call: outcome, reason (``别再打了…`` puts the number on the do-not-call list, by the
    campaigns' job) and the robot's notes in ``meta``."""
    with services.db.session() as session:
        call = voice_service.get_call(session, live.org_id, live.call_id)
        if meta:
            call.meta = {**(call.meta or {}), **meta}
        if talk_seconds:
            call.talk_seconds = round(talk_seconds, 2)
        voice_service.end_call(
            session, call, state, outcome=outcome, reason=reason, hangup_by=hangup_by, callback_at=callback_at
        )
        session.commit()
