"""Landing-page lead forms (表单): building them in the admin, drawing them for parents, the submissions list, the
form row of the capture-rate report, and the person's submissions for privacy requests.

This module is the area's one public entry point (other areas call ``leadforms_service.X``). Taking a
submission — finding or creating the lead exactly as a chat does — is ``leadforms.intake``, re-exported here.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.leadforms import intake, rules, values
from edudesk.leadforms.intake import FORM_CHANNEL, Outcome, RequestMeta
from edudesk.leadforms.models import LeadForm, LeadFormSubmission, LeadFormView
from edudesk.leadforms.privacy import erase_for_contact, export_for_contact
from edudesk.leadforms.rules import CardField, FieldChoice, FormError, FormInput
from edudesk.leadforms.schemas import SubmissionIn
from edudesk.leads import service as leads_service
from edudesk.localtime import utc_bounds

__all__ = [
    "FORM_CHANNEL",
    "CardField",
    "FieldChoice",
    "FormError",
    "FormInput",
    "FormRow",
    "Outcome",
    "RequestMeta",
    "SubmissionPage",
    "SubmissionRow",
    "by_public_id",
    "capture_counts",
    "card_fields",
    "count_view",
    "create_form",
    "delete_form",
    "erase_for_contact",
    "export_for_contact",
    "get_form",
    "list_forms",
    "public_config",
    "public_fields",
    "submissions",
    "submit",
    "update_form",
]


def card_fields(session: Session, org_id: int) -> list[CardField]:
    """The lead card's fields as the builder offers them (the built-ins are created on first use)."""
    return [CardField(d.key, d.label, d.type.value, tuple(d.options or ()), d.enabled)
            for d in leads_service.field_defs(session, org_id)]


# --- the builder -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FormRow:
    form: LeadForm
    views: int  # every day
    submissions: int


def list_forms(session: Session, org_id: int) -> list[FormRow]:
    forms = list(session.scalars(org_query(LeadForm, org_id).order_by(LeadForm.id)))
    views = dict(session.execute(select(LeadFormView.form_id, func.sum(LeadFormView.views)).where(
        LeadFormView.org_id == org_id).group_by(LeadFormView.form_id)).all())
    subs = dict(session.execute(select(LeadFormSubmission.form_id, func.count()).where(
        LeadFormSubmission.org_id == org_id).group_by(LeadFormSubmission.form_id)).all())
    return [FormRow(f, int(views.get(f.id) or 0), int(subs.get(f.id) or 0)) for f in forms]


def get_form(session: Session, org_id: int, form_id: int, *, for_update: bool = False) -> LeadForm:
    return get_in_org(session, LeadForm, form_id, org_id, for_update=for_update)


def _check_name_free(session: Session, org_id: int, name: str, except_id: int | None = None) -> None:
    """Two forms of one name could not be told apart in the list and in reports."""
    for other in session.scalars(org_query(LeadForm, org_id)):
        if other.id != except_id and other.name.casefold() == name.casefold():
            raise FormError("duplicate_name", f"已有名为「{name}」的表单", "name")


def _apply(form: LeadForm, clean: rules.CleanForm) -> dict[str, Any]:
    """Writes the checked values; returns what changed (for the audit entry)."""
    after = {"name": clean.name, "title": clean.title, "intro": clean.intro, "submit_text": clean.submit_text,
             "success_message": clean.success_message, "fields": clean.fields,
             "allowed_origins": clean.allowed_origins, "enabled": clean.enabled}
    changed = {k: v for k, v in after.items() if getattr(form, k, None) != v}
    for key, value in after.items():
        setattr(form, key, value)
    form.updated_at = utcnow()
    return changed


def create_form(session: Session, actor: audit_service.Actor, data: FormInput) -> LeadForm:
    clean = rules.clean(data, card_fields(session, actor.org_id))
    _check_name_free(session, actor.org_id, clean.name)
    form = LeadForm(org_id=actor.org_id, public_id=secrets.token_urlsafe(12), created_at=utcnow())
    _apply(form, clean)
    session.add(form)
    session.flush()
    audit_service.record(session, actor, "lead_form.create", "lead_form", form.id, name=form.name,
                         fields=[f["key"] for f in form.fields], allowed_origins=form.allowed_origins)
    return form


def update_form(session: Session, actor: audit_service.Actor, form_id: int, data: FormInput) -> LeadForm:
    form = get_form(session, actor.org_id, form_id, for_update=True)
    clean = rules.clean(data, card_fields(session, actor.org_id))
    _check_name_free(session, actor.org_id, clean.name, except_id=form.id)
    changed = _apply(form, clean)
    session.flush()
    if changed:
        audit_service.record(session, actor, "lead_form.update", "lead_form", form.id, changed=sorted(changed))
    return form


def delete_form(session: Session, actor: audit_service.Actor, form_id: int) -> None:
    """Deletes the form with its submissions and view counts; the leads it produced stay (they are the school's
    record of the parents, with their source and campaign)."""
    form = get_form(session, actor.org_id, form_id)
    audit_service.record(session, actor, "lead_form.delete", "lead_form", form.id, name=form.name)
    session.delete(form)
    session.flush()


# --- the public side -------------------------------------------------------------------------------------------------

def by_public_id(session: Session, public_id: str) -> LeadForm:
    """An enabled form by the id in its embed code; anything else is NotFound (a disabled form is not shown)."""
    if not public_id or len(public_id) > 40:
        raise NotFoundError("lead form", public_id)
    form = session.scalars(select(LeadForm).where(LeadForm.public_id == public_id)).first()
    if form is None or not form.enabled:
        raise NotFoundError("lead form", public_id)
    return form


def public_fields(session: Session, form: LeadForm) -> list[values.PublicField]:
    return values.resolve(form.fields or [], card_fields(session, form.org_id))


def public_config(session: Session, form: LeadForm) -> dict[str, Any]:
    """What the form's script draws: nothing but the form itself (no org data beyond its own texts)."""
    return {"id": form.public_id, "title": form.title, "intro": form.intro, "submit_text": form.submit_text,
            "success_message": form.success_message,
            "fields": [f.as_dict() for f in public_fields(session, form)]}


def submit(session: Session, form: LeadForm, data: SubmissionIn, meta: RequestMeta, *,
           now: dt.datetime | None = None) -> Outcome:
    """Takes one submission (see ``leadforms.intake``); the caller commits. Raises FormError for bad values."""
    return intake.submit(session, form, card_fields(session, form.org_id), data, meta, now=now)


def count_view(session: Session, form: LeadForm, day: dt.date) -> None:
    """One more view of the form on ``day``: a single UPSERT (the hosted page and every embedding call this on
    each render, so it must cost one statement, not a read and a write that two renders could race)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(LeadFormView).values(org_id=form.org_id, form_id=form.id, day=day, views=1)
    stmt = stmt.on_conflict_do_update(index_elements=["form_id", "day"],
                                      set_={"views": LeadFormView.__table__.c.views + 1})
    session.execute(stmt)


# --- reports and lists -----------------------------------------------------------------------------------------------

def capture_counts(session: Session, org_id: int, start: dt.date, end: dt.date) -> tuple[int, int] | None:
    """(views, submissions) of the org's forms on the local days ``start`` to ``end``, both included — the form
    row of the capture-rate report; None when the org has no form at all (no row then). Every accepted
    submission carries a phone (the field is always required), and a repeat merged into it is not counted."""
    if session.scalar(select(LeadForm.id).where(LeadForm.org_id == org_id).limit(1)) is None:
        return None
    views = session.scalar(select(func.coalesce(func.sum(LeadFormView.views), 0)).where(
        LeadFormView.org_id == org_id, LeadFormView.day >= start, LeadFormView.day <= end))
    since, until = utc_bounds(start, end)
    subs = session.scalar(select(func.count()).select_from(LeadFormSubmission).where(
        LeadFormSubmission.org_id == org_id, LeadFormSubmission.created_at >= since,
        LeadFormSubmission.created_at < until))
    return int(views or 0), int(subs or 0)


@dataclass(frozen=True)
class SubmissionRow:
    submission: LeadFormSubmission
    values: dict[str, str]  # as shown, phone masked unless the viewer may see numbers
    phone: str


@dataclass(frozen=True)
class SubmissionPage:
    rows: list[SubmissionRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def submissions(session: Session, org_id: int, form_id: int, *, show_phone: bool, page: int = 1,
                per_page: int = 50) -> SubmissionPage:
    """The form's submissions, newest first; phone numbers masked unless ``show_phone`` (as the leads list)."""
    form = get_form(session, org_id, form_id)
    stmt = org_query(LeadFormSubmission, org_id).where(LeadFormSubmission.form_id == form.id)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = max(1, page)
    found = session.scalars(stmt.order_by(LeadFormSubmission.id.desc()).offset((page - 1) * per_page)
                            .limit(per_page))
    rows = []
    for sub in found:
        shown = {k: leads_service.display_value(v) for k, v in (sub.values or {}).items()}
        phone = shown.get(rules.PHONE, "")
        if phone and not show_phone:
            phone = contacts_service.mask_phone(phone) or ""
            shown[rules.PHONE] = phone
        rows.append(SubmissionRow(sub, shown, phone))
    return SubmissionPage(rows, total, page, per_page)
