"""Privacy orchestration: the registry, one person's export and erasure, and the audit of full phone numbers.

Areas hold their own rows and expose small export/erase/purge functions in their ``service`` modules; this module
puts them together (``exporting``, ``erasure``, ``purgers``). Views, the CLI and other areas call only this.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.leads import service as leads_service
from edudesk.privacy import erasure, exporting, purgers
from edudesk.privacy.erasure import ErasureReport
from edudesk.privacy.registry import PrivacyRegistry

__all__ = ["ErasureReport", "PrivacyRegistry", "make_registry"]
PHONE_ACTION = "phone.view"


def make_registry(upload_dir: Path, batch_size: int = 200) -> PrivacyRegistry:
    """The registry with the built-in purgers; areas added later register theirs on it in the app factory."""
    registry = PrivacyRegistry(upload_dir, batch_size)
    registry.register_purger(purgers.ConversationPurger(registry))
    registry.register_purger(purgers.AttachmentPurger(registry))
    registry.register_purger(purgers.LeadPurger(registry))
    registry.register_purger(purgers.TrailPurger())
    registry.register_holder(purgers.TrailHolder())
    registry.register_holder(purgers.ClassificationHolder())
    registry.register_holder(purgers.InvitationHolder())
    return registry


def registry_of(conn: HTTPConnection) -> PrivacyRegistry:
    return conn.app.state.privacy  # type: ignore[no-any-return]


# --- one person ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContactSummary:
    """What the confirmation page shows to name the person (phone masked: no need to see it to erase it)."""

    id: int
    display_name: str
    phone_masked: str
    wechat: str
    conversations: int
    lead_id: int | None
    erased: bool
    same_person: list[int]


def contact_summary(session: Session, org_id: int, contact_id: int) -> ContactSummary:
    contact = contacts_service.get(session, org_id, contact_id)
    lead = leads_service.lead_for_contact(session, org_id, contact_id)
    same: list[int] = []
    if lead is not None:
        same = [c for c in leads_service.contacts_merged_into(session, org_id, lead.id) if c != contact_id]
        if lead.merged_into_id is not None:
            primary = leads_service.get_lead(session, org_id, lead.merged_into_id)
            same.append(primary.contact_id)
    return ContactSummary(contact.id, contacts_service.display_name(contact),
                          contacts_service.mask_phone(contact.phone) or "", contact.wechat_id or "",
                          len(conversations_service.conversation_ids_of_contact(session, org_id, contact_id)),
                          lead.id if lead else None, contact.erased_at is not None, sorted(set(same)))


@dataclass(frozen=True)
class PreparedExport:
    contact_id: int
    data: dict[str, Any]
    files: list[tuple[str, Path]]


def prepare_export(session: Session, registry: PrivacyRegistry, actor: audit_service.Actor,
                   contact_id: int) -> PreparedExport:
    """Collects the person's data and records the export (counts only); commit before writing it out."""
    data, wanted = exporting.collect(session, registry, actor.org_id, contact_id)
    audit_service.record(session, actor, "privacy.export", "contact", contact_id, files=len(wanted),
                         **exporting.counts_of(data))
    return PreparedExport(contact_id, data, wanted)


def write_export(target: IO[bytes], export: PreparedExport) -> None:
    exporting.write_zip(target, export.data, export.files)


def erase_contact(session: Session, registry: PrivacyRegistry, actor: audit_service.Actor,
                  contact_id: int) -> ErasureReport:
    """Erases the person on request (see ``privacy.erasure``); the caller commits."""
    return erasure.erase_contact(session, registry, actor, contact_id, reason="request")


# --- full phone numbers -----------------------------------------------------------------------------------------

class PhoneAccessAudit:
    """Remembers, per process, which (actor, place, contacts) was audited when, so the same view refreshed within
    the window writes nothing. The trade-off: a second look within the window by the same person at the same
    contacts in the same place is not a new entry (the first one already says they saw it). Memory is bounded:
    entries older than the window are dropped when the map grows."""

    MAX_KEYS = 50_000

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._seen: dict[tuple[Any, ...], float] = {}
        self._lock = threading.Lock()

    def due(self, key: tuple[Any, ...]) -> bool:
        if self.window <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.window:
                return False
            if len(self._seen) >= self.MAX_KEYS:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.window}
                if len(self._seen) >= self.MAX_KEYS:
                    self._seen.clear()
            self._seen[key] = now
            return True


def phone_seen(conn: HTTPConnection | None, session: Session, actor: audit_service.Actor, where: str,
               contact_ids: Iterable[int]) -> bool:
    """Audits that ``actor`` was shown the full phone numbers of these contacts in ``where`` (one entry per
    response, listing the contacts; nothing when the list is empty). Added to the caller's transaction: the
    caller commits. Returns whether an entry was written."""
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return False
    throttle: PhoneAccessAudit | None = getattr(conn.app.state, "phone_audit", None) if conn is not None else None
    key = (actor.org_id, actor.user_id, actor.label, where, tuple(ids))
    if throttle is not None and not throttle.due(key):
        return False
    audit_service.record(session, actor, PHONE_ACTION, "contact", ids[0] if len(ids) == 1 else "many",
                         where=where, contact_ids=ids)
    return True
