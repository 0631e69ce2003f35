"""What the 访客 panel beside the chat shows: where the conversation and the person came from, their recent trail
grouped by visit, how often they came, and what is known about them (tags, profile).

``profile_for`` is the one place the panel learns the profile: today it gives the contact's tags and the pages
they looked at most; when the profile part lands it is pointed at ``visitors_service.profile_of`` and the panel
follows without a change to the template's names.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.contacts import service as contacts_service
from edudesk.visitors import trail
from edudesk.visitors.models import Visit
from edudesk.visitors.timeline import PageItem, VisitItem, recent_visits, visit_item

PANEL_VISITS = 5
PANEL_PAGES_PER_VISIT = 10
TOP_PAGES = 3


@dataclass(frozen=True)
class Profile:
    tags: list[str]
    # (title or URL, times viewed) of the pages seen most in the recent trail, most first.
    top_pages: list[tuple[str, int]]


@dataclass(frozen=True)
class Panel:
    conversation_first: VisitItem | None
    conversation_last: VisitItem | None
    contact_first: VisitItem | None
    visits: list[VisitItem]
    visit_count: int
    returning: bool
    profile: Profile


def profile_for(tags: list[str], visits: list[VisitItem]) -> Profile:
    """The profile the panel shows (see the module docstring: the profile part will replace this)."""
    seen = Counter(p.title or p.url for v in visits for p in v.pages)
    return Profile(list(tags), [(k, n) for k, n in seen.most_common(TOP_PAGES) if n > 1])


def _item(visit: Visit | None) -> VisitItem | None:
    return visit_item(visit, []) if visit is not None else None


def visit_count(session: Session, org_id: int, contact_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Visit).where(
        Visit.org_id == org_id, Visit.contact_id == contact_id, Visit.is_bot.is_(False))) or 0)


def panel_of(session: Session, org_id: int, contact_id: int, opened_at: dt.datetime,
             last_message_at: dt.datetime) -> Panel:
    """The panel of one conversation of the contact (``opened_at``/``last_message_at`` are the conversation's)."""
    contact = contacts_service.get(session, org_id, contact_id)
    conv = trail.touches_of_conversation(session, org_id, contact_id, opened_at, last_message_at)
    person = trail.touches_of_contact(session, org_id, contact_id)
    visits = recent_visits(session, org_id, contact_id, limit=PANEL_VISITS, per_visit=PANEL_PAGES_PER_VISIT)
    count = visit_count(session, org_id, contact_id)
    return Panel(
        conversation_first=_item(conv.first),
        conversation_last=_item(conv.last) if conv.last is not None and conv.last is not conv.first else None,
        contact_first=_item(person.first),
        visits=visits,
        visit_count=count,
        returning=count > 1 or contact.visits > 1,
        profile=profile_for(list(contact.tags or []), visits),
    )


__all__ = ["PANEL_VISITS", "PageItem", "Panel", "Profile", "VisitItem", "panel_of", "profile_for"]
