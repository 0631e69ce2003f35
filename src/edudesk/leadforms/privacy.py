"""A person's form submissions in their privacy export and erasure (put together by ``privacy.exporting`` and
``privacy.erasure``, as every area's rows are).

Erasure keeps the row without content — no values, phone, page, referrer, browser or address digest — so the
capture-rate report of past months keeps its count, as the lead and conversation skeletons do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.leadforms.models import LeadForm, LeadFormSubmission


def _rows(session: Session, org_id: int, contact_id: int) -> list[LeadFormSubmission]:
    return list(session.scalars(select(LeadFormSubmission).where(
        LeadFormSubmission.org_id == org_id, LeadFormSubmission.contact_id == contact_id)
        .order_by(LeadFormSubmission.id)))


def export_for_contact(session: Session, org_id: int, contact_id: int) -> list[dict[str, Any]]:
    rows = _rows(session, org_id, contact_id)
    names = dict(session.execute(select(LeadForm.id, LeadForm.name).where(
        LeadForm.org_id == org_id, LeadForm.id.in_({r.form_id for r in rows}))).all()) if rows else {}
    return [{"id": r.id, "form": names.get(r.form_id, ""), "values": r.values, "attribution": r.attribution,
             "page_url": r.page_url, "referrer": r.referrer, "user_agent": r.user_agent,
             "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat()} for r in rows]


def erase_for_contact(session: Session, org_id: int, contact_id: int, now: dt.datetime) -> int:
    """Empties the contact's submissions (the rows stay, for the report's counts); how many there were."""
    rows = _rows(session, org_id, contact_id)
    for r in rows:
        r.values, r.attribution, r.phone_e164 = {}, {}, None
        r.page_url = r.referrer = None
        r.ip_hash = r.user_agent = ""
        r.updated_at = now
    session.flush()
    return len(rows)
