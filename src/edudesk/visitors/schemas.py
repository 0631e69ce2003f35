"""What the visitors area hands to others: a contact's profile (用户画像) as the console and contact page show it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class TouchOut(_Out):
    """One visit as a touch: when, where it landed, and its attribution dict (docs/visitors.md)."""

    visit_id: int
    started_at: dt.datetime
    landing_url: str
    referrer: str
    source_kind: str
    campaign: str | None
    source: dict[str, str]


class PageOut(_Out):
    url: str
    title: str
    viewed_at: dt.datetime
    seconds: int | None
    course: str | None


class CourseViews(_Out):
    course: str
    views: int


class TagOut(_Out):
    """A contact tag; ``rule_id``/``reason`` when a classification rule set it (None: staff added it)."""

    name: str
    rule_id: int | None = None
    reason: str | None = None


class LeadFacts(_Out):
    lead_id: int
    status: str
    level: str
    score: int
    reasons: list[str]
    fields: dict[str, str]  # label → value as the card shows it (phone masked unless the caller may see it)


class Profile(_Out):
    contact_id: int
    first_touch: TouchOut | None
    last_touch: TouchOut | None
    visits: int
    page_views: int
    recent_pages: list[PageOut]
    courses: list[CourseViews]
    questions: list[str]
    faq_categories: list[str]
    signals: list[str]
    lead: LeadFacts | None
    tags: list[TagOut]
