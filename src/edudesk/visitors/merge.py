"""Two contacts that are one person (a web visitor and a WeChat follower who gave the same phone number) become
one: the contact the person is using now carries on and takes the other's identities, trail, conversations and
tags. Audited; the other contact stays as an empty row pointing to it, so nothing that refers to it is lost."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.leads import service as leads_service
from edudesk.visitors import rules
from edudesk.visitors.models import Visit


def merge_contacts(session: Session, actor: audit_service.Actor, keep_id: int, gone_id: int, *,
                   reason: str) -> dict[str, object]:
    """Moves everything of contact ``gone_id`` onto ``keep_id`` (same org) and records it in the audit log."""
    org_id = actor.org_id
    keep = contacts_service.get(session, org_id, keep_id)
    gone = contacts_service.get(session, org_id, gone_id)
    identities = contacts_service.merge_into(session, keep, gone)
    conversations = conversations_service.move_contact(session, org_id, gone.id, keep.id)
    visits = session.execute(update(Visit).where(Visit.org_id == org_id, Visit.contact_id == gone.id)
                             .values(contact_id=keep.id).execution_options(synchronize_session=False))
    theirs = rules.state_of(session, org_id, gone.id)
    if theirs is not None:
        mine = rules.state_of(session, org_id, keep.id)
        if mine is None:
            theirs.contact_id = keep.id
        else:
            mine.rule_tags = {**(theirs.rule_tags or {}), **(mine.rule_tags or {})}
            session.delete(theirs)
    session.flush()
    detail: dict[str, object] = {"merged": gone.id, "reason": reason, "identities": identities,
                                 "conversations": conversations, "visits": int(visits.rowcount or 0)}  # type: ignore[attr-defined]
    audit_service.record(session, actor, "contact.merge", "contact", keep.id, **detail)
    rules.trail_changed(session, org_id, [keep.id])
    return detail


def merge_on_phone(session: Session, org_id: int, contact_id: int) -> list[int]:
    """After the contact's lead was merged with another lead on the same phone number (or WeChat ID): every other
    contact of those leads is merged into ``contact_id``, the one talking now. Returns the contacts merged away."""
    lead = leads_service.lead_for_contact(session, org_id, contact_id)
    if lead is None:
        return []
    others = {lead.contact_id, *leads_service.contacts_merged_into(session, org_id, lead.id)} - {contact_id}
    merged = []
    for other in sorted(others):
        if (contacts_service.get(session, org_id, other).attributes or {}).get(contacts_service.MERGED_INTO):
            continue  # merged away already
        merge_contacts(session, audit_service.Actor(org_id, label="system"), contact_id, other,
                       reason="same_phone_or_wechat")
        merged.append(other)
    return merged
