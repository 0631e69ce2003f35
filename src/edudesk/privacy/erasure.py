"""Erasing one person: every area deletes or anonymises what it holds on the contact, in one transaction.

What stays is a skeleton without content, for reports of past months (see docs/privacy.md, "What erasure keeps"):
the contact row emptied (访客<id>), conversation and message rows without text (sender and times: response times
and the capture rate), the lead row without values (status, grade letter, channel: the funnel), ticket rows
without subject or comments (SLA), trial bookings without the child's name (attendance), CSAT scores without
comments, and audit entries with their free text removed (accountability). Nothing is refused: an open
conversation or ticket is closed, a future trial seat cancelled, and the report says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.bot import service as bot_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.db import utcnow
from edudesk.kb import service as kb_service
from edudesk.leadforms import service as leadforms_service
from edudesk.leads import service as leads_service
from edudesk.privacy import files
from edudesk.privacy.registry import PrivacyRegistry
from edudesk.tickets import service as tickets_service
from edudesk.trials import service as trials_service
from edudesk.webhooks import service as webhooks_service

ERASED_EVENT = "contact.erased"


@dataclass
class ErasureReport:
    contact_id: int
    lead_ids: list[int]
    ticket_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def erase_contact(session: Session, registry: PrivacyRegistry, actor: audit_service.Actor, contact_id: int, *,
                  reason: str = "request", now: dt.datetime | None = None) -> ErasureReport:
    """Erases the contact of ``actor``'s org (another org's contact is NotFound) and deletes the files.

    Files go before the caller commits: if the commit then fails, the rows stay and a second erasure finishes
    the job (missing files count as deleted), whereas files deleted after a commit could be left behind for ever
    by a crash in between. The audit entry names who, when and which contact, with counts: never the data."""
    now = now or utcnow()
    org_id = actor.org_id
    contacts_service.get(session, org_id, contact_id)  # NotFound for another org's contact
    conv_ids = conversations_service.conversation_ids_of_contact(session, org_id, contact_id)
    lead_ids = leads_service.lead_ids_of_contact(session, org_id, contact_id)
    attachments = conversations_service.attachments_of_contact(session, org_id, contact_id)
    stored = conversations_service.delete_attachments(session, org_id, [a.id for a in attachments])
    stripped = conversations_service.strip_content(session, org_id, conv_ids, now)
    counts = {"attachments": len(stored), "conversations": stripped.conversations, "messages": stripped.messages,
              "kb_misses": kb_service.forget_conversations(session, org_id, conv_ids),
              "bot_states": bot_service.forget_conversations(session, org_id, conv_ids),
              "trial_bookings": trials_service.erase_for_leads(session, org_id, lead_ids, now)}
    ticket_ids, counts["ticket_comments"] = tickets_service.erase_for_contact(session, org_id, contact_id, lead_ids,
                                                                               now)
    counts["tickets"] = len(ticket_ids)
    counts["lead_form_submissions"] = leadforms_service.erase_for_contact(session, org_id, contact_id, now)
    _, counts["lead_values_and_notes"] = leads_service.erase_for_contact(session, org_id, contact_id, now)
    counts["identities"] = contacts_service.erase_contact(session, org_id, contact_id, now)
    paths = files.paths_of(registry.upload_dir, stored + stripped.files)
    for holder in registry.holders:
        batch = holder.erase(session, org_id, contact_id, now)
        counts[holder.name] = batch.count
        paths += batch.files
    subjects = ([f"lead:{i}" for i in lead_ids] + [f"ticket:{i}" for i in ticket_ids]
                + [f"conversation:{i}" for i in conv_ids] + [f"contact:{contact_id}"])
    counts["webhook_events"], counts["webhook_deliveries_stopped"] = webhooks_service.forget_subjects(
        session, org_id, subjects)
    counts["audit_entries_scrubbed"] = audit_service.scrub_entries_about(
        session, org_id, {"contact": [contact_id], "lead": lead_ids, "ticket": ticket_ids, "conversation": conv_ids})
    webhooks_service.emit_if_subscribed(session, org_id, ERASED_EVENT, f"contact:{contact_id}", lambda: {
        "contact_id": contact_id, "lead_ids": lead_ids, "ticket_ids": ticket_ids, "conversation_ids": conv_ids,
        "reason": reason, "erased_at": now.isoformat()})
    counts["files"] = files.remove(paths)
    audit_service.record(session, actor, "privacy.erase", "contact", contact_id, reason=reason, **counts)
    return ErasureReport(contact_id, lead_ids, ticket_ids, counts, paths)
