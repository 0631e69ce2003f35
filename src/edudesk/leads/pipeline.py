"""The sales side of leads: the leads list and its filters, owners, the status pipeline (new → contacted → trial
booked → attended → enrolled / lost, moved by trial bookings and attendance too), and follow-up notes with
reminders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.db import NotFoundError, org_query, utcnow
from edudesk.leads.base import (
    LeadError,
    current_lead,
    get_lead,
    lead_payload,
    rescore,
)
from edudesk.leads.models import (
    Lead,
    LeadNote,
    LeadStatus,
    LeadValue,
)
from edudesk.webhooks import service as webhooks_service

# --- the leads list --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeadRow:
    lead: Lead
    contact_name: str
    phone: str
    values: dict[str, str]


@dataclass(frozen=True)
class LeadPage:
    rows: list[LeadRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class LeadFilters:
    status: str = ""
    level: str = ""
    grade: str = ""
    channel: str = ""
    landing: str = ""
    owner_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    phone: str = ""
    # Where the lead came from (its first touch, ``Lead.attribution``/``Lead.campaign``; docs/visitors.md).
    source_kind: str = ""
    search_engine: str = ""
    campaign: str = ""
    # Last follow-up (``Lead.updated_at``): the call campaigns' "last contact before / after".
    touched_since: dt.datetime | None = None
    touched_until: dt.datetime | None = None


def filtered(org_id: int, filters: LeadFilters) -> Select[Lead]:
    """The org's leads (not merged away) that pass ``filters``: the leads list's query, also what a call campaign
    snapshots its targets from (voice.campaigns)."""
    stmt = org_query(Lead, org_id).where(Lead.merged_into_id.is_(None))
    if filters.status:
        stmt = stmt.where(Lead.status == filters.status)
    if filters.level in ("A", "B", "C"):
        stmt = stmt.where(Lead.level == filters.level)
    if filters.channel:
        stmt = stmt.where(Lead.source_channel == filters.channel)
    if filters.landing:
        stmt = stmt.where(Lead.landing_page.contains(filters.landing[:200], autoescape=True))
    if filters.owner_id is not None:
        stmt = stmt.where(Lead.owner_id == filters.owner_id)
    if filters.since is not None:
        stmt = stmt.where(Lead.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Lead.created_at < filters.until)
    if filters.touched_since is not None:
        stmt = stmt.where(Lead.updated_at >= filters.touched_since)
    if filters.touched_until is not None:
        stmt = stmt.where(Lead.updated_at < filters.touched_until)
    digits = "".join(ch for ch in filters.phone if ch.isdigit())[:15]
    if digits:
        stmt = stmt.where(Lead.phone_e164.contains(digits, autoescape=True))
    if filters.source_kind:
        stmt = stmt.where(Lead.attribution["source_kind"].as_string() == filters.source_kind[:20])
    if filters.search_engine:
        stmt = stmt.where(Lead.attribution["search_engine"].as_string() == filters.search_engine[:20])
    if filters.campaign:
        stmt = stmt.where(Lead.campaign.contains(filters.campaign[:100], autoescape=True))
    if filters.grade:
        graded = select(LeadValue.lead_id).where(LeadValue.org_id == org_id, LeadValue.key == "grade",
                                                 LeadValue.value_text == filters.grade[:40])
        stmt = stmt.where(Lead.id.in_(graded))
    return stmt


def search(session: Session, org_id: int, filters: LeadFilters, *, show_phone: bool, page: int = 1,
           per_page: int = 50) -> LeadPage:
    """Leads newest first, filtered; phone numbers masked unless ``show_phone``."""
    stmt = filtered(org_id, filters)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = max(1, page)
    leads = list(session.scalars(stmt.order_by(Lead.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    values: dict[int, dict[str, str]] = {lead.id: {} for lead in leads}
    if leads:
        for v in session.scalars(org_query(LeadValue, org_id).where(LeadValue.lead_id.in_(list(values)))):
            values[v.lead_id][v.key] = v.value_text
    names = contacts_service.display_names(session, org_id, {lead.contact_id for lead in leads})
    rows = []
    for lead in leads:
        vals = values[lead.id]
        phone = vals.get("phone", "")
        if phone and not show_phone:
            phone = contacts_service.mask_phone(phone) or ""
            vals = {**vals, "phone": phone}
        rows.append(LeadRow(lead, names.get(lead.contact_id, ""), phone, vals))
    return LeadPage(rows, total, page, per_page)


def assign(session: Session, actor: audit_service.Actor, lead_ids: list[int], owner_id: int | None) -> int:
    """Gives leads of the actor's org to one owner (None: unassigned). An id that is not a lead of this org fails
    the whole request (404) rather than assigning the rest silently. Audited."""
    wanted = set(lead_ids)
    leads = list(session.scalars(org_query(Lead, actor.org_id).where(Lead.id.in_(wanted)))) if wanted else []
    if len(leads) != len(wanted):
        raise NotFoundError("Lead", sorted(wanted - {x.id for x in leads}))
    for lead in leads:
        lead.owner_id = owner_id
        lead.updated_at = utcnow()
    if leads:
        audit_service.record(session, actor, "leads.assign", "lead", None, lead_ids=[x.id for x in leads],
                             owner_id=owner_id)
    return len(leads)


def set_status(session: Session, actor: audit_service.Actor, lead_id: int, status: str) -> Lead:
    """Moves a lead along the pipeline (new → contacted → trial booked → attended → enrolled / lost). Any move is
    allowed — sales re-open lost leads — but each is audited and sent to the CRM as lead.status_changed."""
    try:
        target = LeadStatus(status)
    except ValueError:
        raise LeadError("bad_status", "状态只能是 " + " / ".join(s.value for s in LeadStatus), "status") from None
    lead = get_lead(session, actor.org_id, lead_id)
    previous = lead.status
    if previous == target:
        return lead
    lead.status, lead.updated_at = target, utcnow()
    rescore(session, lead)
    audit_service.record(session, actor, "lead.status", "lead", lead.id, previous=previous.value, status=target.value)
    webhooks_service.emit_if_subscribed(
        session, actor.org_id, "lead.status_changed", f"lead:{lead.id}",
        lambda: {**lead_payload(session, lead), "previous_status": previous.value})
    return lead


def mark_trial_booked(session: Session, lead: Lead) -> bool:
    """A trial class was booked for the lead (``trials.service.book``): a lead still at new/contacted moves to
    trial_booked, in the booking's transaction, and the CRM hears lead.status_changed. A lead further along
    (attended, enrolled) or lost keeps its status: a booking must not undo what sales recorded. True when moved."""
    previous = lead.status
    if previous not in (LeadStatus.new, LeadStatus.contacted):
        return False
    lead.status, lead.updated_at = LeadStatus.trial_booked, utcnow()
    rescore(session, lead)
    webhooks_service.emit_if_subscribed(
        session, lead.org_id, "lead.status_changed", f"lead:{lead.id}",
        lambda: {**lead_payload(session, lead), "previous_status": previous.value})
    return True


def mark_trial_attended(session: Session, actor: audit_service.Actor, lead_id: int) -> bool:
    """The lead's child came to a trial class (``trials.service.mark_attendance``): a lead at trial_booked moves
    to attended through ``set_status`` (audited, lead.status_changed). A lead elsewhere in the pipeline stays.
    The lead row is locked first, so two attendances recorded at once move it once. True when moved."""
    lead = current_lead(session, actor.org_id, lead_id, lock=True)
    if lead.status != LeadStatus.trial_booked:
        return False
    set_status(session, actor, lead.id, LeadStatus.attended.value)
    return True


def unmark_trial_attended(session: Session, actor: audit_service.Actor, lead_id: int, *,
                          attended_another: bool) -> bool:
    """An attendance was undone or corrected to no-show: a lead at attended goes back to trial_booked, unless
    another of its trial classes was attended. True when moved."""
    lead = current_lead(session, actor.org_id, lead_id, lock=True)
    if lead.status != LeadStatus.attended or attended_another:
        return False
    set_status(session, actor, lead.id, LeadStatus.trial_booked.value)
    return True


MAX_NOTE = 2000


def add_note(session: Session, actor: audit_service.Actor, lead_id: int, text: str, *,
             remind_at: dt.datetime | None = None, author: str = "") -> LeadNote:
    """A follow-up note on the lead, with an optional reminder (shown on the leads page when due)."""
    lead = get_lead(session, actor.org_id, lead_id)
    text = text.strip()
    if not text:
        raise LeadError("empty", "跟进记录不能为空", "text")
    if len(text) > MAX_NOTE:
        raise LeadError("too_long", f"跟进记录不能超过 {MAX_NOTE} 个字", "text")
    if remind_at is not None and remind_at.tzinfo is None:
        raise LeadError("bad_time", "提醒时间格式不正确", "remind_at")
    note = LeadNote(org_id=actor.org_id, lead_id=lead.id, user_id=actor.user_id, author=author[:100], text=text,
                    remind_at=remind_at)
    session.add(note)
    lead.updated_at = utcnow()
    session.flush()
    return note


def notes_of(session: Session, org_id: int, lead_id: int, limit: int = 20) -> list[LeadNote]:
    return list(session.scalars(org_query(LeadNote, org_id).where(LeadNote.lead_id == lead_id)
                                .order_by(LeadNote.id.desc()).limit(limit)))


@dataclass(frozen=True)
class LeadChange:
    """One step of a lead's history: a status move (``previous`` → ``status``) or a merge, with who did it."""

    at: dt.datetime
    action: str  # "lead.status" | "lead.merge"
    previous: str | None
    status: str | None
    by: str


# The audited moves of a lead, for its history (the bot's own moves to trial_booked show as the booking itself).
CHANGE_ACTIONS = ("lead.status", "lead.merge")


def changes_of(session: Session, org_id: int, lead_id: int, *, limit: int = 50) -> list[LeadChange]:
    """The lead's status changes and merges, newest first, at most ``limit``."""
    entries = audit_service.latest_about(session, org_id, "lead", lead_id, actions=CHANGE_ACTIONS, limit=limit)
    return [LeadChange(e.created_at, e.action, _token(e.detail.get("previous")), _token(e.detail.get("status")),
                       e.actor_label) for e in entries]


def _token(value: object) -> str | None:
    return value if isinstance(value, str) else None


def due_reminders(session: Session, org_id: int, *, user_id: int | None = None, now: dt.datetime | None = None
                  ) -> list[LeadNote]:
    """Reminders that are due and not done (one user's, or everyone's)."""
    stmt = org_query(LeadNote, org_id).where(LeadNote.remind_at.is_not(None), LeadNote.remind_at <= (now or utcnow()),
                                             LeadNote.done.is_(False))
    if user_id is not None:
        stmt = stmt.where(LeadNote.user_id == user_id)
    return list(session.scalars(stmt.order_by(LeadNote.remind_at).limit(50)))
