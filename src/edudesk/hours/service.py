"""Stored business hours: the org's, and a skill group's own when it has them; saving them from the admin page,
and what the bot says while nobody is at work.

An org without a record, or with its record disabled, is always open. A skill group's own record, when enabled,
replaces the org's for that group's conversations; disabled, the group follows the org.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.db import get_in_org, utcnow
from edudesk.hours.models import BusinessHoursRecord
from edudesk.hours.schedule import BusinessHours, HoursError
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org
from edudesk.routing.models import SkillGroup

DEFAULT_CLOSED_MESSAGE = ("现在是非工作时间，人工客服将于{next_open}上线。您可以先留言或留下联系方式，"
                          "老师上班后会第一时间联系您。")
NEXT_OPEN_PLACEHOLDER = "{next_open}"
# Announced when saved hours change: the bot runs its off-hours script by them, so every instance rebuilds the org's
# bot (bot.runtime watches this event, as it watches kb.changed; hours know nothing of the bot).
HOURS_CHANGED = "hours.changed"
# When nothing opens within the schedule's horizon there is no time to name.
NEVER_OPENS = "工作时间"
MAX_CLOSED_MESSAGE = 500


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


def groups(session: Session, org_id: int) -> list[SkillGroup]:
    """The org's skill groups, by name: each may have its own hours."""
    return list(session.scalars(select(SkillGroup).where(SkillGroup.org_id == org_id).order_by(SkillGroup.name,
                                                                                                 SkillGroup.id)))


def group_in_org(session: Session, org_id: int, group_id: int) -> SkillGroup:
    """The group, or ``NotFoundError`` when it is not one of this org's (another org's group looks missing)."""
    return get_in_org(session, SkillGroup, group_id, org_id)


def _clean_closed_message(raw: str) -> str:
    text = (raw or "").strip().replace("\r\n", "\n")
    if len(text) > MAX_CLOSED_MESSAGE:
        raise HoursError("too_long", f"下班提示不能超过 {MAX_CLOSED_MESSAGE} 个字（现在 {len(text)} 个字）",
                         "closed_message")
    return text


def save(session: Session, actor: audit_service.Actor, *, group_id: int | None, spec: dict[str, Any],
         enabled: bool, closed_message: str) -> BusinessHoursRecord:
    """Stores the org's hours (``group_id`` None) or one group's own hours, validated by ``BusinessHours.from_dict``
    (an ``HoursError`` names the field at fault), audited, and tells every instance to rebuild the org's bot, which
    caches the schedule."""
    if group_id is not None:
        group_in_org(session, actor.org_id, group_id)
    hours = BusinessHours.from_dict(spec)
    message = _clean_closed_message(closed_message)
    record = record_for(session, actor.org_id, group_id)
    created = record is None
    if record is None:
        record = BusinessHoursRecord(org_id=actor.org_id, group_id=group_id)
        session.add(record)
    record.spec = hours.to_dict()
    record.enabled = bool(enabled)
    record.closed_message = message
    record.updated_at = utcnow()
    session.flush()
    audit_service.record(session, actor, "business_hours.create" if created else "business_hours.update",
                         "business_hours", record.id, group_id=group_id, enabled=record.enabled,
                         timezone=hours.timezone, holidays=len(hours.holidays), workdays=len(hours.workdays))
    events.record(session, events.DomainEvent(HOURS_CHANGED, actor.org_id, {"group_id": group_id}))
    # Instances that miss the event (no Redis; the CLI in another process) notice the version instead.
    orgs_service.bump_bot_version(session, actor.org_id)
    return record


def describe_next(hours: BusinessHours, now: dt.datetime) -> str | None:
    """None when open at ``now``; else when humans are back, as a visitor reads it ("明天 08:30")."""
    if hours.is_open(now):
        return None
    upcoming = hours.next_open(now)
    return hours.describe_next_open(upcoming, now=now) if upcoming is not None else NEVER_OPENS


def closed_text(message: str, next_open: str) -> str:
    """The closed message with ``{next_open}`` filled in (plain replacement: other braces stay as typed)."""
    return (message or DEFAULT_CLOSED_MESSAGE).replace(NEXT_OPEN_PLACEHOLDER, next_open)


def off_hours_text(session: Session, org_id: int, group_id: int | None, now: dt.datetime) -> str | None:
    """What the bot says when a visitor asks for a human at ``now``: None while the hours that apply (the group's
    own, else the org's) are open; else the custom closed message or the standard one, with the next opening."""
    when = describe_next(schedule_for(session, org_id, group_id), now)
    if when is None:
        return None
    return closed_text(closed_message_for(session, org_id, group_id), when)


@dataclass(frozen=True)
class HoursStatus:
    """The admin page's "现在：…" line for one scope."""

    is_open: bool
    next_open: str | None  # "明天 08:30" when closed

    @property
    def text(self) -> str:
        return "现在：营业中" if self.is_open else f"现在：已下班，下次上线 {self.next_open}"


def status(session: Session, org_id: int, group_id: int | None, now: dt.datetime) -> HoursStatus:
    when = describe_next(schedule_for(session, org_id, group_id), now)
    return HoursStatus(is_open=when is None, next_open=when)
