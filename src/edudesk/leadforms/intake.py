"""Taking a submission: the lead is found or created exactly as a chat's is, and the submission is kept.

The order matters and is what a chat does:
1. The honeypot (a field people never see) filled: answered as accepted, nothing stored, a log line — a bot that
   learns it was caught only tries harder.
2. The idempotency key the form made when it was drawn, seen before on this form: the first answer again, nothing
   written (a double tap, a retry after a lost answer).
3. The values, checked against the form's fields (``leadforms.values``); the phone normalised as the bot does.
4. The person: the org's lead with this phone (a chat that already collected it — leads' duplicate detection by
   ``phone_e164``) and its contact; otherwise the contact known by the form identity (a keyed digest of the
   number) or a new one.
5. Where they came from first (``leads_service.note_touch``: utm_campaign as the campaign, UTM and click ids,
   the form and the page; the arrival counted for the campaign by ``campaigns_service.record_touch``), then the
   values through ``leads_service.record_values`` with source "form" and channel "form" — the same code a chat's
   captured values go through, so the same merge rules, grading and webhooks (lead.created / lead.updated)
   follow.
6. The submission row — or, when the same phone was submitted on this form in the last minutes, that row updated
   (one parent correcting a field is one submission, and one in the 套电率).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.campaigns import service as campaigns_service
from edudesk.contacts import service as contacts_service
from edudesk.db import utcnow
from edudesk.leadforms import values
from edudesk.leadforms.models import LeadForm, LeadFormSubmission
from edudesk.leadforms.rules import CardField
from edudesk.leadforms.schemas import ATTRIBUTION_KEYS, SubmissionIn
from edudesk.leads import service as leads_service

log = structlog.get_logger(__name__)

FORM_CHANNEL = "form"
# A second submission of the same phone on the same form within this time updates the first.
DEDUPE_WINDOW = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class RequestMeta:
    """What the edge knows of the caller. The address is kept only as a keyed digest."""

    ip: str | None
    user_agent: str
    secret_key: str

    def digest(self, purpose: str, value: str) -> str:
        key = hashlib.blake2b(f"edudesk-leadforms:{purpose}:{self.secret_key}".encode(), digest_size=32).digest()
        return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Outcome:
    kind: str  # accepted | merged (same phone, minutes ago) | repeated (same key) | ignored (honeypot)
    message: str
    submission_id: int | None = None
    lead_id: int | None = None
    lead_created: bool = False


def _attribution(data: SubmissionIn) -> dict[str, str]:
    out = {}
    for key in ATTRIBUTION_KEYS:
        value = getattr(data.attribution, key)
        if value and value.strip():
            out[key] = value.strip()
    return out


def _contact(session: Session, org_id: int, phone_e164: str, meta: RequestMeta, page_url: str | None
             ) -> tuple[Any, bool]:
    """The person behind the number — the lead a chat (or an earlier form) already has, else the form identity
    — and whether they are new to the org."""
    identity = (FORM_CHANNEL, meta.digest("phone", phone_e164))
    lead = leads_service.lead_by_phone(session, org_id, phone_e164)
    if lead is not None:
        contact = contacts_service.get(session, org_id, lead.contact_id)
        contacts_service.attach_identities(session, contact, (identity,))
        return contact, False
    known = contacts_service.find_by_identity(session, org_id, *identity) is not None
    return contacts_service.find_or_create(session, org_id, identity[0], identity[1], page_url=page_url), not known


def submit(session: Session, form: LeadForm, card: list[CardField], data: SubmissionIn, meta: RequestMeta, *,
           now: dt.datetime | None = None) -> Outcome:
    """Takes one submission of ``form`` (enabled, origin already checked by the edge); the caller commits.
    Raises ``FormError`` naming the field at fault."""
    now = now or utcnow()
    ip_hash = meta.digest("ip", meta.ip) if meta.ip else ""
    if data.website.strip():
        log.warning("lead_form_honeypot", form=form.public_id, org_id=form.org_id, ip_hash=ip_hash)
        return Outcome("ignored", form.success_message)
    first = session.scalars(select(LeadFormSubmission).where(
        LeadFormSubmission.form_id == form.id, LeadFormSubmission.idempotency_key == data.idempotency_key)).first()
    if first is not None:
        return Outcome("repeated", form.success_message, first.id, first.lead_id)
    accepted = values.accept(values.resolve(form.fields or [], card), data.fields)
    attribution = _attribution(data)
    page_url = data.page_url.strip()[:1000] or None
    contact, new_contact = _contact(session, form.org_id, accepted.phone_e164, meta, page_url)
    contacts_service.touch(session, contact, page_url=page_url)
    touch: dict[str, str] = {**attribution, "form": form.public_id}
    if page_url:
        touch["landing_page"] = page_url
    leads_service.note_touch(session, contact, campaign=attribution.get("utm_campaign"), attribution=touch)
    evidence = f"表单「{form.name}」"[:200]
    result = leads_service.record_values(
        session, contact, [(k, v, evidence) for k, v in accepted.values.items()],
        source=leads_service.ValueSource.form, channel=FORM_CHANNEL, conversation_id=None, message_id=None,
        page_url=page_url, phone_e164=accepted.phone_e164)
    lead = result.lead or leads_service.lead_for_contact(session, form.org_id, contact.id)
    lead_id = lead.id if lead is not None else None
    recent = session.scalars(select(LeadFormSubmission).where(
        LeadFormSubmission.form_id == form.id, LeadFormSubmission.phone_e164 == accepted.phone_e164,
        LeadFormSubmission.created_at >= now - DEDUPE_WINDOW).order_by(LeadFormSubmission.id.desc())).first()
    if recent is not None:
        recent.values = {**(recent.values or {}), **accepted.values}
        recent.attribution = {**(recent.attribution or {}), **attribution}
        recent.lead_id, recent.contact_id, recent.updated_at = lead_id, contact.id, now
        session.flush()
        return Outcome("merged", form.success_message, recent.id, lead_id, result.created)
    if attribution.get("utm_campaign"):
        # An arrival through the campaign, counted as a chat's is (a repeat within minutes above is not one).
        campaigns_service.record_touch(session, form.org_id, None, attribution["utm_campaign"],
                                       new_contact=new_contact, channel=FORM_CHANNEL, now=now)
    sub = LeadFormSubmission(
        org_id=form.org_id, form_id=form.id, lead_id=lead_id, contact_id=contact.id,
        idempotency_key=data.idempotency_key, phone_e164=accepted.phone_e164, values=accepted.values,
        attribution=attribution, page_url=page_url, referrer=data.referrer.strip()[:1000] or None, ip_hash=ip_hash,
        user_agent=meta.user_agent[:300], created_at=now, updated_at=now)
    session.add(sub)
    session.flush()
    log.info("lead_form_submitted", form=form.public_id, org_id=form.org_id, submission_id=sub.id, lead_id=lead_id,
             lead_created=result.created)
    return Outcome("accepted", form.success_message, sub.id, lead_id, result.created)
