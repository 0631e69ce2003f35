"""An org's visitor settings: whether the trail is recorded at all, and how many days it is kept.

Without a saved row the trail is on and kept 90 days (issue 13: the default retention of minors' browsing data).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import utcnow
from edudesk.errors import DomainError
from edudesk.visitors.models import VisitorSettings

DEFAULT_RETENTION_DAYS = 90
# A week at least (a typo must not wipe the trail of the current campaign), two years at most.
MIN_DAYS, MAX_DAYS = 7, 730


class SettingsError(DomainError):
    pass


@dataclass(frozen=True)
class TrailSettings:
    trail_enabled: bool
    retention_days: int
    saved: bool


def _row(session: Session, org_id: int) -> VisitorSettings | None:
    return session.scalars(select(VisitorSettings).where(VisitorSettings.org_id == org_id)).first()


def settings_of(session: Session, org_id: int) -> TrailSettings:
    row = _row(session, org_id)
    if row is None:
        return TrailSettings(True, DEFAULT_RETENTION_DAYS, saved=False)
    return TrailSettings(row.trail_enabled, row.retention_days, saved=True)


def parse_days(raw: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 4 or not MIN_DAYS <= int(text) <= MAX_DAYS:
        raise SettingsError("bad_days", f"保留天数须是 {MIN_DAYS}–{MAX_DAYS} 之间的整数", "retention_days")
    return int(text)


def save(session: Session, actor: audit_service.Actor, *, trail_enabled: bool, retention_days: int) -> TrailSettings:
    """Stores the org's settings, audited with before and after (the beacon route sees them within seconds)."""
    if not MIN_DAYS <= retention_days <= MAX_DAYS:
        raise SettingsError("bad_days", f"保留天数须是 {MIN_DAYS}–{MAX_DAYS} 之间的整数", "retention_days")
    before = settings_of(session, actor.org_id)
    row = _row(session, actor.org_id)
    if row is None:
        row = VisitorSettings(org_id=actor.org_id)
        session.add(row)
    row.trail_enabled, row.retention_days = trail_enabled, retention_days
    row.updated_at, row.updated_by = utcnow(), actor.label[:200]
    audit_service.record(session, actor, "visitors.settings", "org", actor.org_id,
                         before={"trail_enabled": before.trail_enabled, "retention_days": before.retention_days},
                         after={"trail_enabled": trail_enabled, "retention_days": retention_days})
    return TrailSettings(trail_enabled, retention_days, saved=True)
