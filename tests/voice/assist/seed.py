"""Calls to assist: an agent's call in progress with a contact and its lead, or a robot call."""

from __future__ import annotations

from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.leads.models import Lead
from edudesk.voice import service as voice_service
from edudesk.voice.models import Call, CallMode, CallState


def call_in_progress(
    database: Database,
    org_id: int,
    *,
    agent_id: int | None,
    phone: str = "+8613800138000",
    mode: CallMode = CallMode.agent,
    with_lead: bool = True,
) -> Call:
    with database.session() as session:
        contact = Contact(org_id=org_id, name="张妈妈", phone=phone)
        session.add(contact)
        session.flush()
        if with_lead:
            session.add(Lead(org_id=org_id, contact_id=contact.id, phone_e164=phone, has_contact=True))
        call = voice_service.place_call(
            session,
            voice_service.CallRequest(
                org_id=org_id, phone_e164=phone, line_id=None, mode=mode, agent_id=agent_id, contact_id=contact.id
            ),
        )
        voice_service.set_state(session, call, CallState.dialing)
        voice_service.set_state(session, call, CallState.in_progress)
        session.commit()
        session.expunge(call)
    return call


def end(database: Database, call: Call) -> None:
    with database.session() as session:
        row = session.get(Call, call.id)
        assert row is not None
        voice_service.end_call(session, row, CallState.completed, outcome=None, hangup_by="customer")
        session.commit()
