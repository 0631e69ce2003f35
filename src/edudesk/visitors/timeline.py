"""One timeline of a contact across channels, for the contact page: visits (with their pages and source),
conversations, tickets, lead changes and notes, trial bookings — newest first.

Bounded by construction: each source is read with one query of at most ``limit + 1`` rows (the page views of the
visits shown with one more, at most ``PAGES_PER_VISIT`` each), so the page costs the same handful of queries for a
contact with three events or three thousand. The newest ``limit`` entries overall are always among the newest
``limit`` of each source, so merging the per-source heads is exact; "more" asks again with a larger limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.conversations import service as conversations_service
from edudesk.leads import service as leads_service
from edudesk.tickets import service as tickets_service
from edudesk.trials import service as trials_service
from edudesk.visitors import trail
from edudesk.visitors.models import PageView, Visit

PAGES_PER_VISIT = 20
DEFAULT_LIMIT = 30
MAX_LIMIT = 500

EntryKind = Literal["visit", "conversation", "ticket", "lead", "lead_change", "lead_note", "trial"]


@dataclass(frozen=True)
class PageItem:
    url: str
    title: str
    viewed_at: dt.datetime
    seconds: int | None


@dataclass(frozen=True)
class VisitItem:
    """A visit with its newest pages (newest first) and where it came from (the attribution dict)."""

    id: int
    started_at: dt.datetime
    last_seen_at: dt.datetime
    source_kind: str
    source: dict[str, Any]
    landing_url: str
    referrer: str
    device: str
    os: str
    browser: str
    province: str
    city: str
    page_count: int
    pages: list[PageItem] = field(default_factory=list)

    @property
    def pages_hidden(self) -> int:
        return max(self.page_count - len(self.pages), 0)

    @property
    def seconds(self) -> int:
        return int((self.last_seen_at - self.started_at).total_seconds())


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    kind: EntryKind
    item: Any


@dataclass(frozen=True)
class Timeline:
    entries: list[Entry]
    more: bool
    limit: int

    @property
    def next_limit(self) -> int | None:
        """The limit that shows the next older entries; None when there are none, or the cap is reached."""
        return min(self.limit + DEFAULT_LIMIT, MAX_LIMIT) if self.more and self.limit < MAX_LIMIT else None


def visit_item(visit: Visit, pages: list[PageItem]) -> VisitItem:
    return VisitItem(visit.id, visit.started_at, visit.last_seen_at, visit.source_kind, dict(visit.source or {}),
                     visit.landing_url, visit.referrer, visit.device, visit.os, visit.browser, visit.province,
                     visit.city, visit.page_views, pages)


def pages_of_visits(session: Session, org_id: int, visit_ids: list[int], *, per_visit: int = PAGES_PER_VISIT
                    ) -> dict[int, list[PageItem]]:
    """The newest ``per_visit`` page views of each visit, newest first, in one query (a window per visit)."""
    if not visit_ids:
        return {}
    rank = func.row_number().over(partition_by=PageView.visit_id,
                                  order_by=(PageView.viewed_at.desc(), PageView.id.desc())).label("rank")
    ranked = (select(PageView.visit_id, PageView.url, PageView.title, PageView.viewed_at, PageView.seconds,
                     PageView.id, rank)
              .where(PageView.org_id == org_id, PageView.visit_id.in_(visit_ids)).subquery())
    rows = session.execute(select(ranked).where(ranked.c.rank <= per_visit)
                           .order_by(ranked.c.visit_id, ranked.c.viewed_at.desc(), ranked.c.id.desc()))
    out: dict[int, list[PageItem]] = {}
    for r in rows:
        out.setdefault(r.visit_id, []).append(PageItem(r.url, r.title or "", r.viewed_at, r.seconds))
    return out


def recent_visits(session: Session, org_id: int, contact_id: int, *, limit: int,
                  per_visit: int = PAGES_PER_VISIT) -> list[VisitItem]:
    """The contact's newest visits (crawlers left out) with their newest pages: two queries."""
    visits = trail.visits_of(session, org_id, contact_id, limit=limit)
    pages = pages_of_visits(session, org_id, [v.id for v in visits], per_visit=per_visit)
    return [visit_item(v, pages.get(v.id, [])) for v in visits]


def clamp_limit(limit: int | None) -> int:
    return min(max(limit or DEFAULT_LIMIT, 1), MAX_LIMIT)


def timeline_of(session: Session, org_id: int, contact_id: int, *, limit: int | None = None) -> Timeline:
    """The contact's timeline, newest first, at most ``limit`` entries; ``more`` when older ones exist."""
    n = clamp_limit(limit)
    head = n + 1
    entries: list[Entry] = [Entry(v.started_at, "visit", v)
                            for v in recent_visits(session, org_id, contact_id, limit=head)]
    entries += [Entry(c.created_at, "conversation", c)
                for c in conversations_service.conversations_of_contact(session, org_id, contact_id, limit=head)]
    entries += [Entry(t.created_at, "ticket", t)
                for t in tickets_service.tickets_of_contact(session, org_id, contact_id, limit=head)]
    lead = leads_service.lead_for_contact(session, org_id, contact_id)
    if lead is not None:
        entries.append(Entry(lead.created_at, "lead", lead))
        entries += [Entry(c.at, "lead_change", c) for c in leads_service.changes_of(session, org_id, lead.id,
                                                                                     limit=head)]
        entries += [Entry(note.created_at, "lead_note", note)
                    for note in leads_service.notes_of(session, org_id, lead.id, limit=head)]
    entries += [Entry(b.created_at, "trial", b)
                for b in trials_service.bookings_of_contact(session, org_id, contact_id, limit=head)]
    entries.sort(key=lambda e: _aware(e.at), reverse=True)
    return Timeline(entries[:n], len(entries) > n, n)


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
