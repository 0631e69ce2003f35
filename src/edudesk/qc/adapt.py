"""A stored chat conversation as the inspector's transcript.

Internal notes are left out (the visitor never saw them); system notices stay as system turns (rules skip them).
``human_start`` is the assignment time when it precedes the agent's first reply, else the time it joined the queue
(an agent who replies before their assignment was re-stamped — a reopen, a transfer — is measured from the queue),
else unknown. The visitor's contact counts as known when the contact record has a phone or WeChat ID: then the
school has a way to call back, whatever this conversation said. Waiting time counts business seconds of the
conversation's group's opening hours when a rule asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.hours import service as hours_service
from edudesk.qc.turns import SecondsBetween, Speaker, Transcript, Turn

SPEAKERS = {SenderKind.visitor: Speaker.customer, SenderKind.agent: Speaker.agent, SenderKind.bot: Speaker.bot,
            SenderKind.system: Speaker.system}


@dataclass(frozen=True)
class Adapted:
    transcript: Transcript
    agent_id: int | None


def transcript_of(session: Session, conv: Conversation, business_seconds: SecondsBetween | None = None) -> Adapted:
    """``business_seconds``: the caller's measure of open time for this conversation's group (the inspector passes
    a lazy, cached one); by default the group's schedule is read here."""
    rows = session.execute(
        select(Message.id, Message.sender, Message.text, Message.created_at, Message.sender_user_id)
        .where(Message.org_id == conv.org_id, Message.conversation_id == conv.id, Message.internal.is_(False))
        .order_by(Message.id)).all()
    turns = tuple(Turn(SPEAKERS[r.sender], r.text or "", r.created_at, r.id) for r in rows)
    agent_senders = [r.sender_user_id for r in rows if r.sender == SenderKind.agent and r.sender_user_id]
    agent_id = conv.assignee_id or (agent_senders[-1] if agent_senders else None)
    first_agent = next((t.at for t in turns if t.speaker == Speaker.agent), None)
    human_start = None
    for candidate in (conv.assigned_at, conv.queued_at):
        if candidate is not None and (first_agent is None or candidate <= first_agent):
            human_start = candidate
            break
    contact = session.execute(select(Contact.phone, Contact.wechat_id).where(
        Contact.org_id == conv.org_id, Contact.id == conv.contact_id)).first()
    known = bool(contact and (contact.phone or contact.wechat_id))
    if business_seconds is None:
        business_seconds = hours_service.schedule_for(session, conv.org_id, conv.group_id).business_seconds_between
    return Adapted(Transcript(turns, human_start=human_start, contact_known=known,
                              business_seconds=business_seconds), agent_id)
