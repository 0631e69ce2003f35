"""What the 访客 panel beside the chat shows: where the conversation and the person came from, their recent trail
grouped by visit, how often they came, and what is known about them: the profile (用户画像) of ``profile.profile_of``
— tags with the rule that set each and why, courses viewed, FAQ categories and questions asked — and the pages
they came back to most in the recent trail.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.contacts import service as contacts_service
from edudesk.visitors import trail
from edudesk.visitors.models import Visit
from edudesk.visitors.profile import profile_of
from edudesk.visitors.schemas import Profile
from edudesk.visitors.timeline import PageItem, VisitItem, recent_visits, visit_item

PANEL_VISITS = 5
PANEL_PAGES_PER_VISIT = 10
TOP_PAGES = 3


@dataclass(frozen=True)
class Panel:
    conversation_first: VisitItem | None
    conversation_last: VisitItem | None
    contact_first: VisitItem | None
    visits: list[VisitItem]
    visit_count: int
    returning: bool
    profile: Profile
    # (title or URL, times viewed) of the pages seen more than once in the recent trail, most first.
    top_pages: list[tuple[str, int]]


def top_pages(visits: list[VisitItem]) -> list[tuple[str, int]]:
    seen = Counter(p.title or p.url for v in visits for p in v.pages)
    return [(k, n) for k, n in seen.most_common(TOP_PAGES) if n > 1]


def _item(visit: Visit | None) -> VisitItem | None:
    return visit_item(visit, []) if visit is not None else None


def panel_of(session: Session, org_id: int, contact_id: int, opened_at: dt.datetime,
             last_message_at: dt.datetime, *, show_phone: bool = False) -> Panel:
    """The panel of one conversation of the contact (``opened_at``/``last_message_at`` are the conversation's;
    ``show_phone``: the profile's lead fields unmasked). A bounded number of statements whatever the history."""
    contact = contacts_service.get(session, org_id, contact_id)
    profile = profile_of(session, org_id, contact_id, show_phone=show_phone)
    conv = trail.touches_of_conversation(session, org_id, contact_id, opened_at, last_message_at)
    # The person's first touch is the profile's (its visit is in the session already: no second query).
    person = session.get(Visit, profile.first_touch.visit_id) if profile.first_touch is not None else None
    visits = recent_visits(session, org_id, contact_id, limit=PANEL_VISITS, per_visit=PANEL_PAGES_PER_VISIT)
    count = profile.visits  # crawlers left out
    return Panel(
        conversation_first=_item(conv.first),
        conversation_last=_item(conv.last) if conv.last is not None and conv.last is not conv.first else None,
        contact_first=_item(person),
        visits=visits,
        visit_count=count,
        returning=count > 1 or contact.visits > 1,
        profile=profile,
        top_pages=top_pages(visits),
    )


__all__ = ["PANEL_VISITS", "PageItem", "Panel", "Profile", "VisitItem", "panel_of", "top_pages"]
