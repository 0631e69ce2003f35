"""The audit log: every administrative change, export and deletion leaves an entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from edudesk.audit.models import AuditEntry
from edudesk.db import org_query


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or the system (CLI, jobs) with a label."""

    org_id: int
    user_id: int | None = None
    label: str = "system"
    ip: str | None = None


def record(
    session: Session, actor: Actor, action: str, target_type: str, target_id: object, **detail: Any
) -> AuditEntry:
    entry = AuditEntry(
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail,
        ip=actor.ip,
    )
    session.add(entry)
    return entry


def recent(session: Session, org_id: int, limit: int = 100) -> list[AuditEntry]:
    stmt = org_query(AuditEntry, org_id).order_by(AuditEntry.id.desc()).limit(limit)
    return list(session.scalars(stmt))

