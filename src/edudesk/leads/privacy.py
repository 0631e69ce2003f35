"""Privacy for leads: a contact's lead card for export, erasure and the retention purge of unconverted leads.

Called by ``privacy.service`` through ``leads_service`` (re-exported there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from edudesk.leads.base import lead_for_contact, lead_payload
from edudesk.leads.models import Lead, LeadNote, LeadStatus, LeadValue

# "Unconverted": the pipeline never reached a trial or enrolment (new, contacted or lost with no trial booking).

UNCONVERTED = (LeadStatus.new, LeadStatus.contacted, LeadStatus.lost)


def export_for_contact(session: Session, org_id: int, contact_id: int) -> dict[str, Any] | None:
    """The contact's lead card: status, grade, every value with its source and evidence, and the notes."""
    lead = lead_for_contact(session, org_id, contact_id)
    if lead is None:
        return None
    notes = session.scalars(select(LeadNote).where(LeadNote.org_id == org_id, LeadNote.lead_id == lead.id)
                            .order_by(LeadNote.id))
    return {**lead_payload(session, lead), "level": lead.level, "score": lead.score,
            "score_reasons": lead.score_reasons, "merged_into_id": lead.merged_into_id,
            "notes": [{"id": n.id, "author": n.author, "text": n.text, "created_at": n.created_at.isoformat(),
                       "remind_at": n.remind_at.isoformat() if n.remind_at else None} for n in notes]}


def lead_ids_of_contact(session: Session, org_id: int, contact_id: int) -> list[int]:
    return list(session.scalars(select(Lead.id).where(Lead.org_id == org_id, Lead.contact_id == contact_id)))


def erase_for_contact(session: Session, org_id: int, contact_id: int, now: dt.datetime) -> tuple[list[int], int]:
    """Deletes the card's values and notes and blanks the lead's phone and landing page; the lead row stays with
    its status, grade letter, channel and times (the funnel and capture-rate reports count it). Returns the lead
    ids and the number of values and notes deleted."""
    ids = lead_ids_of_contact(session, org_id, contact_id)
    if not ids:
        return [], 0
    values = session.execute(delete(LeadValue).where(LeadValue.org_id == org_id, LeadValue.lead_id.in_(ids)))
    notes = session.execute(delete(LeadNote).where(LeadNote.org_id == org_id, LeadNote.lead_id.in_(ids)))
    session.execute(update(Lead).where(Lead.org_id == org_id, Lead.id.in_(ids)).values(
        phone_e164=None, landing_page=None, score_reasons=[], updated_at=now),
        execution_options={"synchronize_session": "fetch"})
    return ids, int(values.rowcount or 0) + int(notes.rowcount or 0)  # type: ignore[attr-defined]


def stale_unconverted(session: Session, org_id: int, before: dt.datetime, limit: int, *,
                      keep_contacts: list[Select[Any]], keep_leads: Select[Any]) -> list[Lead]:
    """Unconverted leads untouched since ``before`` (no update, no note, no reminder after it), not merged into
    another lead, whose contact is not in any of ``keep_contacts`` and whose id is not in ``keep_leads``."""
    recent_notes = select(LeadNote.lead_id).where(
        LeadNote.org_id == org_id, (LeadNote.created_at >= before) | (LeadNote.remind_at >= before))
    stmt = (select(Lead)
            .where(Lead.org_id == org_id, Lead.status.in_(UNCONVERTED), Lead.merged_into_id.is_(None),
                   Lead.updated_at < before, Lead.id.not_in(recent_notes), Lead.id.not_in(keep_leads))
            .order_by(Lead.id).limit(limit))
    for keep in keep_contacts:
        stmt = stmt.where(Lead.contact_id.not_in(keep))
    return list(session.scalars(stmt))


def contacts_merged_into(session: Session, org_id: int, lead_id: int) -> list[int]:
    """Contacts whose lead was merged into this one: the same person on another channel."""
    return list(session.scalars(select(Lead.contact_id).where(Lead.org_id == org_id,
                                                              Lead.merged_into_id == lead_id)))
