"""Stored business hours: the org's, and a skill group's own when it has them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.hours.models import BusinessHoursRecord
from edudesk.hours.schedule import BusinessHours
from edudesk.orgs.models import Org


def record_for(session: Session, org_id: int, group_id: int | None = None) -> BusinessHoursRecord | None:
    """The stored row of the org (``group_id`` None) or of one group, enabled or not."""
    term = BusinessHoursRecord.group_id.is_(None) if group_id is None else BusinessHoursRecord.group_id == group_id
    return session.scalars(select(BusinessHoursRecord).where(BusinessHoursRecord.org_id == org_id, term)
                           .order_by(BusinessHoursRecord.id).limit(1)).first()


def effective_record(session: Session, org_id: int, group_id: int | None = None) -> BusinessHoursRecord | None:
    """The hours that apply: the group's own when enabled, else the org's when enabled, else none (always open)."""
    if group_id is not None:
        own = record_for(session, org_id, group_id)
        if own is not None and own.enabled:
            return own
    org_record = record_for(session, org_id)
    return org_record if org_record is not None and org_record.enabled else None


def schedule_for(session: Session, org_id: int, group_id: int | None = None) -> BusinessHours:
    record = effective_record(session, org_id, group_id)
    if record is None:
        org = session.get(Org, org_id)
        return BusinessHours.always_open(org.timezone if org is not None else "Asia/Shanghai")
    return BusinessHours.from_dict(record.spec)


def closed_message_for(session: Session, org_id: int, group_id: int | None = None) -> str:
    record = effective_record(session, org_id, group_id)
    return record.closed_message if record is not None else ""
