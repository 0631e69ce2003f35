"""Seeds for the campaign tests: a line, leads with phones, a campaign made through the service."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy.orm import Session

from edudesk.audit.service import Actor
from edudesk.contacts.models import Contact
from edudesk.leads.models import Lead, LeadStatus, LeadValue, ValueSource
from edudesk.localtime import LOCAL_TZ
from edudesk.voice.campaigns import service as campaigns_service
from edudesk.voice.campaigns.models import CallCampaign
from edudesk.voice.models import LineKind, VoiceLine

READY = SimpleNamespace(voice_asr="scripted")
NOT_READY = SimpleNamespace(voice_asr="none")
WINDOWS = "mon-fri 09:00-12:00, 14:00-20:30"


def local(day: str, clock: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LOCAL_TZ)


MONDAY_10 = local("2026-12-07", "10:00")
MONDAY_13 = local("2026-12-07", "13:00")
MONDAY_14 = local("2026-12-07", "14:00")


def phone(n: int) -> str:
    return f"+86138001{n:05d}"


def add_line(
    session: Session,
    org_id: int,
    *,
    numbers: tuple[str, ...] = ("+861085550001",),
    enabled: bool = True,
    max_concurrent: int = 10,
) -> VoiceLine:
    line = VoiceLine(
        org_id=org_id,
        name="外呼线路",
        kind=LineKind.websocket,
        caller_numbers=list(numbers),
        enabled=enabled,
        max_concurrent=max_concurrent,
    )
    session.add(line)
    session.flush()
    return line


def add_lead(
    session: Session,
    org_id: int,
    number: str | None,
    *,
    grade: str = "",
    status: LeadStatus = LeadStatus.new,
    name: str = "家长",
) -> Lead:
    contact = Contact(org_id=org_id, name=name, phone=number)
    session.add(contact)
    session.flush()
    lead = Lead(
        org_id=org_id,
        contact_id=contact.id,
        phone_e164=number,
        has_contact=number is not None,
        status=status,
        source_channel="web",
    )
    session.add(lead)
    session.flush()
    if grade:
        session.add(
            LeadValue(
                org_id=org_id, lead_id=lead.id, key="grade", value=grade, value_text=grade, source=ValueSource.agent
            )
        )
    if number:
        session.add(
            LeadValue(
                org_id=org_id,
                lead_id=lead.id,
                key="phone",
                value=number[3:],
                value_text=number[3:],
                source=ValueSource.visitor,
            )
        )
    session.flush()
    return lead


def make_campaign(
    session: Session,
    org_id: int,
    line_id: int,
    *,
    start_at: dt.datetime | None = MONDAY_10,
    settings: object = READY,
    **fields: object,
) -> CallCampaign:
    values: dict[str, object] = {
        "name": "秋季回访",
        "line_id": str(line_id),
        "windows": WINDOWS,
        "max_concurrent": "5",
        "retry_minutes": "30",
    }
    values.update(fields)
    data = campaigns_service.CampaignInput(**values)  # type: ignore[arg-type]
    actor = Actor(org_id, label="test")
    campaign = campaigns_service.create(session, actor, data)
    if start_at is not None:
        campaigns_service.start(session, actor, campaign.id, settings, now=start_at)
    session.flush()
    return campaign
