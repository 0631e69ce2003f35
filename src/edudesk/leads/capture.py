"""Capturing what visitors say about themselves into the lead card.

Capture runs on every visitor message (``inbound.service``), not only inside a bot script: parents give their
number or their child's grade whenever they feel like it. The rules of who wins a field:
- a value an agent typed is never overwritten by extraction (the agent talked to the parent);
- a visitor who restates a field (a new number, "其实是四年级") replaces what they said before;
- subjects accumulate (数学, then 英语 → both).
Each value keeps the words it came from and the message, so the card can say where it came from. When a new phone
or WeChat ID is already on an older lead, the two leads are one person and are merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.db import org_query, utcnow
from edudesk.leads import grading
from edudesk.leads.base import (
    BUILTIN_FIELDS,
    CONTACT_KEYS,
    FROM_EXTRACTION,
    SPAN_OF,
    contact_signals,
    display_value,
    lead_for_contact,
    lead_payload,
    rescore,
    values_of,
)
from edudesk.leads.models import (
    Lead,
    LeadValue,
    ValueSource,
)
from edudesk.nlp.extract import Extraction
from edudesk.webhooks import service as webhooks_service


@dataclass
class Capture:
    lead: Lead | None
    created: bool = False
    changed: list[str] = field(default_factory=list)
    # (key, label, value as shown) of the changed fields, for the bot's "已为您记下…".
    facts: tuple[tuple[str, str, str], ...] = ()


def _wanted(extraction: Extraction, text: str) -> list[tuple[str, Any, str]]:
    """(card key, value, evidence: the visitor's own words) for every field the message states."""

    def words(name: str) -> str:
        span = extraction.span(name)
        return text[span.start:span.end] if span is not None else ""

    out: list[tuple[str, Any, str]] = []
    for key, attr in FROM_EXTRACTION:
        value = getattr(extraction, attr)
        if value is not None and value != "":
            out.append((key, value, words(SPAN_OF.get(key, attr))))
    if extraction.subjects:
        out.append(("subject", list(extraction.subjects), words("subject")))
    return out


def capture(session: Session, contact: Contact, text: str, *, extraction: Extraction, channel: str,
            conversation_id: int | None, message_id: int | None, page_url: str | None = None) -> Capture:
    """Writes what one visitor message (``text``) says into the contact's lead card, creating the lead on the
    first fact it states, and notes intent signals (asked the price, wants to enrol…) for the lead's grade."""
    new_signals = grading.signals_in(text) - set(contact_signals(contact))
    if new_signals:
        contact.attributes = {**(contact.attributes or {}),
                              "signals": sorted({*contact_signals(contact), *new_signals})}
    result = record_values(session, contact, _wanted(extraction, text), source=ValueSource.visitor, channel=channel,
                           conversation_id=conversation_id, message_id=message_id, page_url=page_url,
                           phone_e164=extraction.phone_e164)
    if new_signals and not result.changed:
        lead = result.lead or lead_for_contact(session, contact.org_id, contact.id)
        if lead is not None:
            rescore(session, lead, contact)
    return result


def record_values(session: Session, contact: Contact, wanted: list[tuple[str, Any, str]], *, source: ValueSource,
                  channel: str, conversation_id: int | None, message_id: int | None, page_url: str | None = None,
                  phone_e164: str | None = None) -> Capture:
    """Writes (key, value, the visitor's words) onto the card: from extraction or from a bot script's answers."""
    if not wanted:
        return Capture(None)
    org_id = contact.org_id
    lead = lead_for_contact(session, org_id, contact.id)
    created = lead is None
    if lead is None:
        touch = first_touch(contact)
        lead = Lead(org_id=org_id, contact_id=contact.id, source_channel=channel, landing_page=page_url,
                    first_conversation_id=conversation_id, campaign=touch.get("campaign") or None,
                    attribution=touch)
        session.add(lead)
        session.flush()
    current = {} if created else values_of(session, lead)
    now = utcnow()
    changed: list[str] = []
    for key, value, evidence in wanted:
        old = current.get(key)
        if old is not None and old.source == ValueSource.agent and source != ValueSource.agent:
            continue  # what staff (or the CRM through the API) entered is not overwritten by the bot
        if key == "subject" and old is not None and isinstance(value, list):
            value = list(dict.fromkeys([*(old.value if isinstance(old.value, list) else [old.value]), *value]))
        if old is not None and old.value == value:
            continue
        if old is None:
            old = LeadValue(org_id=org_id, lead_id=lead.id, key=key)
            session.add(old)
            current[key] = old
        old.value, old.source, old.user_id = value, source, None
        old.value_text = display_value(value)[:500]
        old.evidence = evidence[:200]
        old.message_id, old.conversation_id, old.updated_at = message_id, conversation_id, now
        changed.append(key)
    if not changed:
        return Capture(lead, created)
    if "phone" in changed:
        lead.phone_e164 = phone_e164 or _e164(str(current["phone"].value))
    if CONTACT_KEYS & set(changed):
        merged = _merge_duplicate(session, lead, current)
        if merged is not None:
            lead, current = merged, values_of(session, merged)
    if CONTACT_KEYS & set(changed) and not lead.has_contact:
        lead.has_contact, lead.contact_captured_at = True, now
    lead.updated_at = now
    rescore(session, lead, contact, {k: v.value for k, v in current.items()})
    stated = {k: v for k, v, _ in wanted if k in changed}
    _sync_contact(session, contact, stated)
    events.record(session, events.DomainEvent(
        type="lead.updated", org_id=org_id,
        data={"lead_id": lead.id, "contact_id": contact.id, "conversation_id": conversation_id,
              "fields": changed, "created": created},
        topics=(conversations_service.agents_topic(org_id),),
    ))
    webhooks_service.emit_if_subscribed(
        session, org_id, "lead.created" if created else "lead.updated", f"lead:{lead.id}",
        lambda: lead_payload(session, lead, changed=changed))
    labels = {key: label for key, label, _, _ in BUILTIN_FIELDS}
    facts = tuple((k, labels.get(k, k), display_value(stated[k])) for k in changed)
    return Capture(lead, created, changed, facts)


def _merge_duplicate(session: Session, lead: Lead, values: dict[str, LeadValue]) -> Lead | None:
    """The same parent often comes back on another channel or a new device: when this lead's phone or WeChat is
    already on an older lead, the two are one person. The older lead carries on with every value it lacked; this
    one points to it. Returns the lead that carries on (None: no duplicate)."""
    session.flush()
    other = None
    if lead.phone_e164:
        other = session.scalars(org_query(Lead, lead.org_id).where(
            Lead.phone_e164 == lead.phone_e164, Lead.id != lead.id, Lead.merged_into_id.is_(None))
            .order_by(Lead.id)).first()
    wechat = values.get("wechat")
    if other is None and wechat is not None and wechat.value_text:
        same = select(LeadValue.lead_id).where(LeadValue.org_id == lead.org_id, LeadValue.key == "wechat",
                                               LeadValue.value_text == wechat.value_text)
        other = session.scalars(org_query(Lead, lead.org_id).where(
            Lead.id.in_(same), Lead.id != lead.id, Lead.merged_into_id.is_(None)).order_by(Lead.id)).first()
    if other is None:
        return None
    primary, duplicate = (other, lead) if other.id < lead.id else (lead, other)
    kept = values_of(session, primary)
    moved = []
    for key, value in values_of(session, duplicate).items():
        if key not in kept:
            session.add(LeadValue(org_id=primary.org_id, lead_id=primary.id, key=key, value=value.value,
                                  value_text=value.value_text, source=value.source, evidence=value.evidence,
                                  message_id=value.message_id, conversation_id=value.conversation_id,
                                  user_id=value.user_id, updated_at=value.updated_at))
            moved.append(key)
    duplicate.merged_into_id = primary.id
    primary.phone_e164 = primary.phone_e164 or duplicate.phone_e164
    primary.has_contact = primary.has_contact or duplicate.has_contact
    primary.owner_id = primary.owner_id or duplicate.owner_id
    primary.updated_at = utcnow()
    session.flush()
    audit_service.record(session, audit_service.Actor(primary.org_id, label="system"), "lead.merge", "lead",
                         primary.id, merged=duplicate.id, moved=moved)
    return primary


def _e164(phone: str) -> str | None:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "+86" + digits if len(digits) == 11 and digits.startswith("1") else None


def _sync_contact(session: Session, contact: Contact, values: dict[str, Any]) -> None:
    """The contact's own name/phone/WeChat fill in from the card when still empty (never overwritten here)."""
    updates: dict[str, str] = {}
    if values.get("name") and not contact.name:
        updates["name"] = str(values["name"])
    if values.get("phone") and not contact.phone:
        updates["phone"] = str(values["phone"])
    if values.get("wechat") and not contact.wechat_id:
        updates["wechat_id"] = str(values["wechat"])
    if updates:
        contacts_service.update_details(session, contact, **updates)


FIRST_TOUCH = "first_touch"


def first_touch(contact: Contact) -> dict[str, Any]:
    touch = (contact.attributes or {}).get(FIRST_TOUCH)
    return dict(touch) if isinstance(touch, dict) else {}


def note_touch(session: Session, contact: Contact, *, campaign: str | None, attribution: dict[str, str]) -> None:
    """Records where the person came from (a QR code's scene, an ad's utm_campaign) the first time it is known:
    on the contact for a lead created later, and on the lead when there is one without a campaign yet. Later
    touches do not overwrite the first one, which is what the campaign report credits."""
    touch = {k[:40]: str(v)[:200] for k, v in attribution.items() if v}
    if campaign:
        touch["campaign"] = campaign[:100]
    if not touch:
        return
    known = first_touch(contact)
    if not known:
        contact.attributes = {**(contact.attributes or {}), FIRST_TOUCH: touch}
        known = touch
    lead = lead_for_contact(session, contact.org_id, contact.id)
    if lead is not None and not lead.campaign and known.get("campaign"):
        lead.campaign = known["campaign"]
        lead.attribution = {**known, **(lead.attribution or {})}
