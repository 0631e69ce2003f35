"""The audit log: every administrative change, export and deletion leaves an entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_, select
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


def latest_about(session: Session, org_id: int, target_type: str, target_id: object, *,
                 actions: tuple[str, ...], limit: int = 50) -> list[AuditEntry]:
    """The newest entries of the given actions about one record (a lead's status changes for its history)."""
    stmt = org_query(AuditEntry, org_id).where(
        AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id),
        AuditEntry.action.in_(actions)).order_by(AuditEntry.id.desc()).limit(limit)
    return list(session.scalars(stmt))



# --- privacy: export and erasure (called by privacy.service) ----------------------------------------------------
# Entries about an erased person stay (who did what, when: the accountability the law asks for); the free text in
# their details goes. Machine tokens (statuses, sources, action names) are kept, anything else becomes "[已删除]".

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.:-")
REDACTED = "[已删除]"


def _about(org_id: int, targets: dict[str, list[int]]) -> list[Any]:
    terms = [(AuditEntry.target_type == kind) & AuditEntry.target_id.in_([str(i) for i in ids])
             for kind, ids in targets.items() if ids]
    return [AuditEntry.org_id == org_id, or_(*terms)] if terms else [false()]


def entries_about(session: Session, org_id: int, targets: dict[str, list[int]]) -> list[AuditEntry]:
    """Entries whose target is one of ``targets`` ({"contact": [3], "lead": [7], …})."""
    return list(session.scalars(select(AuditEntry).where(*_about(org_id, targets)).order_by(AuditEntry.id)))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= 40 and set(value) <= _TOKEN_CHARS else REDACTED
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def scrub_entries_about(session: Session, org_id: int, targets: dict[str, list[int]]) -> int:
    """Removes free text from the details of the entries about these targets; returns how many changed."""
    changed = 0
    for entry in entries_about(session, org_id, targets):
        cleaned = _scrub(entry.detail)
        if cleaned != entry.detail:
            entry.detail = cleaned
            changed += 1
    return changed
