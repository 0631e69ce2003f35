"""The one event every knowledge-base change announces, so each instance rebuilds that org's FAQ matcher."""

from __future__ import annotations

from sqlalchemy.orm import Session

from edudesk import events
from edudesk.events import DomainEvent
from edudesk.orgs import service as orgs_service

KB_CHANGED = "kb.changed"


def record_change(session: Session, org_id: int, reason: str) -> None:
    """Records ``kb.changed`` once per transaction and reason: a 20,000-row import must not trigger 20,000
    re-indexes, and the matcher only needs to know *that* the org's knowledge base changed."""
    event = DomainEvent(KB_CHANGED, org_id, {"reason": reason})
    if event not in session.info.get(events.PENDING_KEY, ()):
        events.record(session, event)
        # Instances that miss the event (no Redis; a CLI import in another process) notice the version instead.
        orgs_service.bump_bot_version(session, org_id)
