"""Reading the trail: a contact's visits and page views, and the first and last touch they imply.

Crawler visits (``is_bot``) are never returned: they are kept only for an admin's curiosity and the purge.
A conversation's touches are derived, not stored: its first touch is the visit that was under way when it opened,
its last the latest visit before its last message — so a merge or an erasure never leaves a stale copy behind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from edudesk.visitors.models import PageView, Visit


@dataclass(frozen=True)
class Touches:
    """Where a person (or a conversation) came from: the first visit and the most recent one (the same visit when
    there was only one), each with its ``source`` dict; None when the trail is empty, off, or purged."""

    first: Visit | None
    last: Visit | None


def visits_of(session: Session, org_id: int, contact_id: int, *, limit: int = 50) -> list[Visit]:
    """The contact's visits, newest first."""
    return list(session.scalars(
        select(Visit).where(Visit.org_id == org_id, Visit.contact_id == contact_id, Visit.is_bot.is_(False))
        .order_by(Visit.started_at.desc(), Visit.id.desc()).limit(limit)))


def page_views_of(session: Session, org_id: int, contact_id: int, *, limit: int = 200) -> list[PageView]:
    """The contact's page views across all their visits, newest first."""
    return list(session.scalars(_contact_views(select(PageView), org_id, contact_id, limit)))


def page_urls_of(session: Session, org_id: int, contact_id: int, *, limit: int = 200) -> list[str]:
    """The URLs of ``page_views_of``, read as one column (the classify job of every visitor asks for them)."""
    return list(session.scalars(_contact_views(select(PageView.url), org_id, contact_id, limit)))


def _contact_views(stmt: Select[Any], org_id: int, contact_id: int, limit: int) -> Select[Any]:
    return (stmt.join(Visit, Visit.id == PageView.visit_id)
            .where(PageView.org_id == org_id, Visit.org_id == org_id, Visit.contact_id == contact_id,
                   Visit.is_bot.is_(False))
            .order_by(PageView.viewed_at.desc(), PageView.id.desc()).limit(limit))


def latest_visit(session: Session, org_id: int, *, contact_id: int | None, visitor_key: str | None) -> Visit | None:
    """The newest visit of the contact or, before they are one, of their browser (the widget's visitor key)."""
    who = [c for c in (Visit.contact_id == contact_id if contact_id is not None else None,
                       Visit.visitor_key == visitor_key if visitor_key else None) if c is not None]
    if not who:
        return None
    return session.scalars(select(Visit).where(Visit.org_id == org_id, or_(*who), Visit.is_bot.is_(False))
                           .order_by(Visit.last_seen_at.desc(), Visit.id.desc()).limit(1)).first()


def touches_of_contact(session: Session, org_id: int, contact_id: int) -> Touches:
    base = select(Visit).where(Visit.org_id == org_id, Visit.contact_id == contact_id, Visit.is_bot.is_(False))
    first = session.scalars(base.order_by(Visit.started_at, Visit.id).limit(1)).first()
    last = session.scalars(base.order_by(Visit.started_at.desc(), Visit.id.desc()).limit(1)).first()
    return Touches(first, last)


def touches_of_conversation(session: Session, org_id: int, contact_id: int, opened_at: dt.datetime,
                            last_message_at: dt.datetime) -> Touches:
    """A conversation's first touch (the visit under way when it opened) and last touch (the latest visit begun
    before its last message)."""
    base = select(Visit).where(Visit.org_id == org_id, Visit.contact_id == contact_id, Visit.is_bot.is_(False))
    first = session.scalars(base.where(Visit.started_at <= opened_at)
                            .order_by(Visit.started_at.desc(), Visit.id.desc()).limit(1)).first()
    last = session.scalars(base.where(Visit.started_at <= last_message_at)
                           .order_by(Visit.started_at.desc(), Visit.id.desc()).limit(1)).first()
    return Touches(first, last or first)
