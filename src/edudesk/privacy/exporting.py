"""Exporting one person's data: a zip with ``data.json`` (everything held on them) and their attachments.

The audit entry is written and committed by the caller before the first byte leaves: an export that fails
half-way is still on record. It holds who, when, which contact and counts, never the data itself.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import IO, Any

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

FORMAT_VERSION = 1
_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def _zip_name(att_id: int, original: str) -> str:
    """``attachments/12-作业.png``: the visitor's file name, stripped of path tricks and odd characters."""
    clean = _UNSAFE.sub("_", Path(original.replace("\\", "/")).name).strip("._")[:80]
    return f"attachments/{att_id}-{clean or 'file'}"


def collect(session: Session, registry: PrivacyRegistry, org_id: int, contact_id: int
            ) -> tuple[dict[str, Any], list[tuple[str, Path]]]:
    """Everything held on the contact (NotFound for another org's), and the files to put beside it."""
    contact = contacts_service.export_contact(session, org_id, contact_id)
    lead = leads_service.export_for_contact(session, org_id, contact_id)
    lead_ids = leads_service.lead_ids_of_contact(session, org_id, contact_id)
    conversations = conversations_service.export_for_contact(session, org_id, contact_id)
    conv_ids = [c["id"] for c in conversations]
    tickets = tickets_service.export_for_contact(session, org_id, contact_id, lead_ids)
    attachments, wanted = [], []
    for att in conversations_service.attachments_of_contact(session, org_id, contact_id):
        path = files.attachment_path(registry.upload_dir, org_id, att.storage_key)
        present = path is not None and path.is_file()
        name = _zip_name(att.id, att.original_name) if present else None
        attachments.append({"id": att.id, "content_type": att.content_type, "size": att.size,
                            "original_name": att.original_name, "created_at": att.created_at.isoformat(),
                            "file": name, "missing": not present})
        if present and path is not None and name is not None:
            wanted.append((name, path))
    targets = {"contact": [contact_id], "lead": lead_ids, "ticket": [t["id"] for t in tickets],
               "conversation": conv_ids}
    audit = [{"action": e.action, "actor": e.actor_label, "target_type": e.target_type, "target_id": e.target_id,
              "detail": e.detail, "created_at": e.created_at.isoformat()}
             for e in audit_service.entries_about(session, org_id, targets)]
    data: dict[str, Any] = {
        "format": "edudesk.contact_export", "version": FORMAT_VERSION, "exported_at": utcnow().isoformat(),
        "contact": contact, "lead": lead, "conversations": conversations, "attachments": attachments,
        "tickets": tickets, "trial_bookings": trials_service.export_for_leads(session, org_id, lead_ids),
        "csat": [{"conversation_id": c["id"], **c["csat"]} for c in conversations if c["csat"]],
        "unanswered_questions": kb_service.misses_of_conversations(session, org_id, conv_ids),
        "bot_memory": bot_service.states_of_conversations(session, org_id, conv_ids),
        "lead_form_submissions": leadforms_service.export_for_contact(session, org_id, contact_id),
        "webhook_events": webhooks_service.events_of_subjects(
            session, org_id, [f"lead:{i}" for i in lead_ids] + [f"ticket:{t['id']}" for t in tickets]
            + [f"conversation:{i}" for i in conv_ids] + [f"contact:{contact_id}"]),
        "audit": audit,
    }
    for holder in registry.holders:
        data[holder.name], extra = holder.export(session, org_id, contact_id)
        wanted += extra
    return data, wanted


def counts_of(data: dict[str, Any]) -> dict[str, int]:
    """What the audit entry records about an export: how many of each, never the values."""
    return {k: len(v) for k, v in data.items() if isinstance(v, list)}


def write_zip(target: IO[bytes], data: dict[str, Any], wanted: list[tuple[str, Path]]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        for name, path in wanted:
            try:
                zf.write(path, name)
            except FileNotFoundError:
                # Purged between collecting and writing: say so rather than fail the whole export.
                zf.writestr(name + ".missing.txt", "文件已被删除（保留期限到期）")
