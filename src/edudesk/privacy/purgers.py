"""The built-in purgers: transcripts, attachments and unconverted leads past the org's retention period.

The exact rules (docs/privacy.md, "The purge job"):
- conversations: closed ones, and bot-only ones the visitor left (nobody ever served them), whose last message is
  older than the period, and that no unfinished ticket delivers into. Their content goes (``strip_content``); the
  rows stay for reports. Queued, assigned and resolved conversations are never touched.
- attachments: uploaded before the period, unless shown in a conversation someone still works on; rows and files.
- leads: never reached a trial or enrolment (new, contacted, lost; no trial booking ever), not merged into
  another lead, no update, note or reminder within the period, contact not seen within it, no conversation
  someone works on or with a message within it, no unfinished ticket. The whole person is erased (as on request,
  reason "retention"), with the contacts whose leads were merged into the lead (the same person elsewhere).
- visitor_trail: visits last seen before the org's trail retention (visitor settings, default 90 days), with
  their page views; the period is the visitors area's own (``retention_days``), not a column of the policy.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.db import utcnow
from edudesk.kb import service as kb_service
from edudesk.leads import service as leads_service
from edudesk.privacy import erasure, files
from edudesk.privacy.registry import Batch, PrivacyRegistry
from edudesk.tickets import service as tickets_service
from edudesk.trials import service as trials_service
from edudesk.visitors import service as visitors_service


class ConversationPurger:
    kind = "conversations"

    def __init__(self, registry: PrivacyRegistry) -> None:
        self.registry = registry

    def purge_batch(self, session: Session, org_id: int, before: dt.datetime, limit: int) -> Batch:
        ids = conversations_service.purgeable_conversation_ids(
            session, org_id, before, limit, tickets_service.conversations_with_active_tickets(org_id))
        if not ids:
            return Batch(0)
        stripped = conversations_service.strip_content(session, org_id, ids, utcnow())
        detail = {"messages": stripped.messages, "attachments": len(stripped.files),
                  "kb_misses": kb_service.forget_conversations(session, org_id, ids),
                  "bot_states": bot_service.forget_conversations(session, org_id, ids)}
        return Batch(len(ids), files.paths_of(self.registry.upload_dir, stripped.files), detail)


class AttachmentPurger:
    kind = "attachments"

    def __init__(self, registry: PrivacyRegistry) -> None:
        self.registry = registry

    def purge_batch(self, session: Session, org_id: int, before: dt.datetime, limit: int) -> Batch:
        ids = conversations_service.purgeable_attachment_ids(session, org_id, before, limit)
        stored = conversations_service.delete_attachments(session, org_id, ids)
        return Batch(len(stored), files.paths_of(self.registry.upload_dir, stored))


class LeadPurger:
    kind = "leads"

    def __init__(self, registry: PrivacyRegistry) -> None:
        self.registry = registry

    def purge_batch(self, session: Session, org_id: int, before: dt.datetime, limit: int) -> Batch:
        keep_contacts = [contacts_service.contacts_active_since(org_id, before),
                         conversations_service.contacts_in_conversation_since(org_id, before),
                         tickets_service.contacts_with_active_tickets(org_id)]
        # A whole person per lead is heavier than a row: a tenth of the batch size per transaction.
        leads = leads_service.stale_unconverted(session, org_id, before, max(1, limit // 10),
                                                keep_contacts=keep_contacts,
                                                keep_leads=trials_service.leads_with_bookings(org_id))
        actor = Actor(org_id, label="retention")
        contacts = 0
        for lead in leads:
            for contact_id in [lead.contact_id, *leads_service.contacts_merged_into(session, org_id, lead.id)]:
                erasure.erase_contact(session, self.registry, actor, contact_id, reason="retention")
                contacts += 1
        return Batch(len(leads), [], {"contacts": contacts})


class TrailPurger:
    """Visits (with their page views) last seen before the org's trail retention (visitor settings, default 90
    days), whatever the org's other retention periods say."""

    kind = "visitor_trail"

    def retention_days(self, session: Session, org_id: int) -> int | None:
        return visitors_service.settings_of(session, org_id).retention_days

    def purge_batch(self, session: Session, org_id: int, before: dt.datetime, limit: int) -> Batch:
        visits, views = visitors_service.purge_before(session, org_id, before, limit)
        return Batch(visits, [], {"page_views": views})


class ClassificationHolder:
    """What the classification rules remember about a person (each tag a rule set, with its reason, which may quote
    their search keyword): in their export, gone with their erasure. The tags themselves are the contact's."""

    name = "visitor_classification"

    def export(self, session: Session, org_id: int, contact_id: int) -> tuple[Any, list[tuple[str, Path]]]:
        return visitors_service.export_classification(session, org_id, contact_id), []

    def erase(self, session: Session, org_id: int, contact_id: int, now: dt.datetime) -> Batch:
        return Batch(visitors_service.erase_classification(session, org_id, contact_id))


class InvitationHolder:
    """The invitations shown to a person (the page they were on, the text): in their export; emptied by their
    erasure, the rows kept for the rules' counts."""

    name = "visitor_invitations"

    def export(self, session: Session, org_id: int, contact_id: int) -> tuple[Any, list[tuple[str, Path]]]:
        return visitors_service.export_invitations(session, org_id, contact_id), []

    def erase(self, session: Session, org_id: int, contact_id: int, now: dt.datetime) -> Batch:
        return Batch(visitors_service.erase_invitations(session, org_id, contact_id))


class TrailHolder:
    """A person's browsing trail in their export, and gone with their erasure."""

    name = "visitor_trail"

    def export(self, session: Session, org_id: int, contact_id: int) -> tuple[Any, list[tuple[str, Path]]]:
        return visitors_service.export_contact(session, org_id, contact_id), []

    def erase(self, session: Session, org_id: int, contact_id: int, now: dt.datetime) -> Batch:
        visits, views = visitors_service.erase_contact(session, org_id, contact_id)
        return Batch(visits, [], {"page_views": views})
