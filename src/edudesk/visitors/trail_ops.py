"""The trail's work for other areas and the channels (re-exported by ``visitors.service``): linking a visitor's
trail to the contact they became (and recording where they came from as the contact's first touch), the 套电率
rows by source, the retention purge, and a person's export and erasure (docs/visitors.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.leads import service as leads_service
from edudesk.visitors import classify
from edudesk.visitors import rules as _rules
from edudesk.visitors import trail as _trail
from edudesk.visitors.models import PageView, Visit


def touch_of(visit: Visit) -> dict[str, str]:
    """A visit's attribution as a lead's touch: its source dict with the source kind."""
    touch = {k: str(v) for k, v in (visit.source or {}).items() if v}
    touch["source_kind"] = visit.source_kind
    return touch


def note_first_touch(session: Session, org_id: int, contact_id: int) -> None:
    """Records the contact's first (non-crawler) visit as where they came from, unless a first touch is known
    already (a form, a QR code): ``leads_service.note_touch`` keeps the first one."""
    contact = contacts_service.get(session, org_id, contact_id)
    if leads_service.first_touch(contact):
        return
    first = _trail.touches_of_contact(session, org_id, contact_id).first
    if first is None:
        return
    leads_service.note_touch(session, contact, campaign=first.campaign, attribution=touch_of(first))


def link_contact(session: Session, org_id: int, visitor_key: str, contact_id: int) -> int:
    """The visitor became (or is) this contact: their visits without a contact get it, and the first one becomes
    the contact's first touch. Returns the visits linked; never commits."""
    result = session.execute(update(Visit).where(Visit.org_id == org_id, Visit.visitor_key == visitor_key,
                                                 Visit.contact_id.is_(None))
                             .values(contact_id=contact_id).execution_options(synchronize_session=False))
    linked = int(getattr(result, "rowcount", 0) or 0)
    if linked:
        note_first_touch(session, org_id, contact_id)
        # Their pages now count for the contact's classification (debounced job, this transaction). Last: the
        # contact's row before its classification state, the order the message path and the job lock them in.
        _rules.trail_changed(session, org_id, [contact_id], changed=classify.TRAIL_CHANGE)
    return linked


NO_TRAIL = "none"  # a conversation with no visit before it (another channel, the trail off or purged)


def source_kinds_of_conversations(session: Session, org_id: int, conversation_ids: list[int]) -> dict[int, str]:
    """Conversation id → the source kind of the visit under way when it started (the contact's latest non-crawler
    visit begun by then), or ``NO_TRAIL``: the 套电率 report's rows by source."""
    starts = conversations_service.starts_of(session, org_id, conversation_ids)
    if not starts:
        return {}
    visits: dict[int, list[tuple[dt.datetime, str]]] = {}
    contacts = sorted({contact_id for contact_id, _ in starts.values()})
    latest = max(at for _, at in starts.values())
    for start in range(0, len(contacts), 1000):
        rows = session.execute(select(Visit.contact_id, Visit.started_at, Visit.source_kind).where(
            Visit.org_id == org_id, Visit.contact_id.in_(contacts[start:start + 1000]), Visit.is_bot.is_(False),
            Visit.started_at <= latest).order_by(Visit.started_at))
        for contact_id, started, kind in rows:
            if contact_id is not None:
                visits.setdefault(contact_id, []).append((started, kind))
    kinds: dict[int, str] = {}
    for conv_id, (contact_id, at) in starts.items():
        before = [kind for started, kind in visits.get(contact_id, ()) if started <= at]
        kinds[conv_id] = before[-1] if before else NO_TRAIL
    return kinds


# --- retention and a person's data (registered with the privacy area's registry) --------------------------------

def purge_before(session: Session, org_id: int, before: dt.datetime, limit: int) -> tuple[int, int]:
    """Deletes up to ``limit`` of the org's visits last seen before ``before``, with their page views; returns
    (visits, page views). Never commits."""
    ids = list(session.scalars(select(Visit.id).where(Visit.org_id == org_id, Visit.last_seen_at < before)
                               .order_by(Visit.id).limit(limit)))
    if not ids:
        return 0, 0
    views = session.execute(delete(PageView).where(PageView.org_id == org_id, PageView.visit_id.in_(ids)))
    session.execute(delete(Visit).where(Visit.org_id == org_id, Visit.id.in_(ids)))
    return len(ids), int(getattr(views, "rowcount", 0) or 0)


def _visit_dict(visit: Visit, views: list[PageView]) -> dict[str, Any]:
    return {"started_at": visit.started_at.isoformat(), "last_seen_at": visit.last_seen_at.isoformat(),
            "landing_url": visit.landing_url, "referrer": visit.referrer, "source": dict(visit.source or {}),
            "source_kind": visit.source_kind, "device": visit.device, "os": visit.os, "browser": visit.browser,
            "province": visit.province, "city": visit.city, "ip_prefix": visit.ip_prefix,
            "page_views": [{"url": v.url, "title": v.title, "referrer": v.referrer,
                            "viewed_at": v.viewed_at.isoformat(), "seconds": v.seconds} for v in views]}


def _contact_visits(session: Session, org_id: int, contact_id: int) -> list[Visit]:
    # Crawler visits too: they are the person's rows as much as any other (a headless preview of their link).
    return list(session.scalars(select(Visit).where(Visit.org_id == org_id, Visit.contact_id == contact_id)
                                .order_by(Visit.started_at, Visit.id)))


def export_contact(session: Session, org_id: int, contact_id: int) -> list[dict[str, Any]]:
    """The person's visits with their page views, oldest first."""
    visits = _contact_visits(session, org_id, contact_id)
    views: dict[int, list[PageView]] = {v.id: [] for v in visits}
    if visits:
        for view in session.scalars(select(PageView).where(PageView.org_id == org_id,
                                                           PageView.visit_id.in_(list(views)))
                                    .order_by(PageView.viewed_at, PageView.id)):
            views[view.visit_id].append(view)
    return [_visit_dict(v, views[v.id]) for v in visits]


def erase_contact(session: Session, org_id: int, contact_id: int) -> tuple[int, int]:
    """Deletes the person's visits and page views, and those written under their visitor keys before they were
    linked (the same browser); returns (visits, page views). Never commits."""
    keys = set(session.scalars(select(Visit.visitor_key).where(Visit.org_id == org_id,
                                                               Visit.contact_id == contact_id)))
    condition = Visit.contact_id == contact_id
    if keys:
        condition = condition | Visit.visitor_key.in_(sorted(keys))
    ids = list(session.scalars(select(Visit.id).where(Visit.org_id == org_id, condition)))
    if not ids:
        return 0, 0
    views = session.execute(delete(PageView).where(PageView.org_id == org_id, PageView.visit_id.in_(ids)))
    session.execute(delete(Visit).where(Visit.org_id == org_id, Visit.id.in_(ids)))
    return len(ids), int(getattr(views, "rowcount", 0) or 0)
