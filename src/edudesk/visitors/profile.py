"""A contact's profile (用户画像) and the facts the classification rules look at, both read from the trail, the
conversations and the lead. One call, a handful of queries, always scoped by org."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.bot import service as bot_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.leads import service as leads_service
from edudesk.visitors import classify, courses, trail
from edudesk.visitors.classify import Facts
from edudesk.visitors.models import PageView, Visit
from edudesk.visitors.profile_models import CoursePattern
from edudesk.visitors.rules import state_of
from edudesk.visitors.schemas import CourseViews, LeadFacts, PageOut, Profile, TagOut, TouchOut

MAX_FACT_PAGES = 500
RECENT_PAGES = 20
MAX_CONVERSATIONS = 20


def _touch(visit: Visit | None) -> TouchOut | None:
    if visit is None:
        return None
    return TouchOut(visit_id=visit.id, started_at=visit.started_at, landing_url=visit.landing_url,
                    referrer=visit.referrer, source_kind=visit.source_kind, campaign=visit.campaign,
                    source={str(k): str(v) for k, v in (visit.source or {}).items()})


def _counts(session: Session, org_id: int, contact_id: int) -> tuple[int, int]:
    row = session.execute(select(func.count(Visit.id), func.coalesce(func.sum(Visit.page_views), 0)).where(
        Visit.org_id == org_id, Visit.contact_id == contact_id, Visit.is_bot.is_(False))).one()
    return int(row[0]), int(row[1])


def _conversation_ids(session: Session, org_id: int, contact_id: int) -> list[int]:
    return [c.id for c in conversations_service.history_for_contact(session, org_id, contact_id,
                                                                    limit=MAX_CONVERSATIONS)]


def facts_of(session: Session, org_id: int, contact_id: int, kinds: Collection[str] | None = None) -> Facts:
    """What the classification rules look at for this contact; with ``kinds`` (the condition kinds the org's rules
    read, ``OrgRules.kinds``) only those facts, the others left empty: a rule never reads them, so the answer is the
    same for fewer queries (no lead lookup without a ``field`` rule, no conversations without a ``faq`` one). Reads
    columns, not whole rows: this runs in the classify job of every visitor who says something new."""
    want = set(classify.KINDS if kinds is None else kinds)
    contact = contacts_service.get(session, org_id, contact_id)
    found: dict[str, Any] = {}
    if want & _VISIT_KINDS:
        visits = session.execute(select(Visit.source, Visit.campaign, Visit.source_kind).where(
            Visit.org_id == org_id, Visit.contact_id == contact_id, Visit.is_bot.is_(False))
            .order_by(Visit.started_at.desc()).limit(200)).all()
        sources = [v.source or {} for v in visits]
        touch = leads_service.first_touch(contact)
        campaigns = {v.campaign for v in visits if v.campaign} | {s.get("utm_campaign", "") for s in sources}
        campaigns |= {str(touch.get("campaign", "")), str(touch.get("utm_campaign", ""))}
        found.update(
            campaigns={c for c in campaigns if c},
            source_kinds={v.source_kind for v in visits},
            utm_sources={s["utm_source"] for s in sources if s.get("utm_source")}
            | ({str(touch["utm_source"])} if touch.get("utm_source") else set()),
            keywords={s["search_keyword"] for s in sources if s.get("search_keyword")},
            visits=max(len(visits), contact.visits or 0))
    if want & {"page", "course"}:
        urls = trail.page_urls_of(session, org_id, contact_id, limit=MAX_FACT_PAGES)
        found["page_urls"] = urls
        if "course" in want:
            rows = list(session.scalars(select(CoursePattern).where(CoursePattern.org_id == org_id)
                                        .order_by(CoursePattern.position, CoursePattern.id)))
            found["courses"] = courses.course_counts(rows, urls)
    if "faq" in want:
        found["categories"] = bot_service.categories_of_conversations(
            session, org_id, _conversation_ids(session, org_id, contact_id))
    if "field" in want:
        known = leads_service.known_values(session, org_id, contact_id)
        found["lead_fields"] = {k for k, v in known.items() if v not in (None, "", [])}
    return Facts(signals=set(leads_service.contact_signals(contact)), **found)


_VISIT_KINDS = frozenset({"campaign", "source", "utm_source", "keyword", "visits"})


def profile_of(session: Session, org_id: int, contact_id: int, *, show_phone: bool = False) -> Profile:
    """Everything the console shows about a person beside the chat: first and last touch, visits and page views,
    courses viewed, questions asked and the FAQ categories answered, the lead, and tags with the rule that set each.
    Phone numbers are masked, in the lead's fields and in the questions, unless ``show_phone``. Another org's
    contact is NotFoundError."""
    contact = contacts_service.get(session, org_id, contact_id)
    touches = trail.touches_of_contact(session, org_id, contact_id)
    visits, views = _counts(session, org_id, contact_id)
    rows = list(session.scalars(select(CoursePattern).where(CoursePattern.org_id == org_id)
                                .order_by(CoursePattern.position, CoursePattern.id)))
    recent = list(session.scalars(
        select(PageView).join(Visit, Visit.id == PageView.visit_id)
        .where(PageView.org_id == org_id, Visit.org_id == org_id, Visit.contact_id == contact_id,
               Visit.is_bot.is_(False))
        .order_by(PageView.viewed_at.desc(), PageView.id.desc()).limit(MAX_FACT_PAGES)))
    counts = courses.course_counts(rows, (p.url for p in recent))
    lead = leads_service.lead_for_contact(session, org_id, contact_id)
    lead_facts = None
    if lead is not None:
        card = leads_service.card(session, org_id, contact_id, show_phone=show_phone) or []
        lead_facts = LeadFacts(lead_id=lead.id, status=lead.status.value, level=lead.level, score=lead.score,
                               reasons=list(lead.score_reasons or []),
                               fields={f.label: f.value for f in card if f.value})
    state = state_of(session, org_id, contact_id)
    by_rule = dict(state.rule_tags or {}) if state is not None else {}
    tags = []
    for tag in contact.tags or []:
        meta = by_rule.get(tag)
        if meta and not meta.get("staff_removed"):
            tags.append(TagOut(name=tag, rule_id=meta.get("rule_id"), reason=meta.get("reason")))
        else:
            tags.append(TagOut(name=tag))
    return Profile(
        contact_id=contact.id,
        first_touch=_touch(touches.first), last_touch=_touch(touches.last),
        visits=visits, page_views=views,
        recent_pages=[PageOut(url=p.url, title=p.title, viewed_at=p.viewed_at, seconds=p.seconds,
                              course=courses.course_of(rows, p.url)) for p in recent[:RECENT_PAGES]],
        courses=[CourseViews(course=name, views=n) for name, n in counts.items()],
        questions=[q if show_phone else contacts_service.mask_phones_in(q)
                   for q in conversations_service.visitor_texts(session, org_id, contact_id)],
        faq_categories=bot_service.categories_of_conversations(
            session, org_id, _conversation_ids(session, org_id, contact_id)),
        signals=sorted(leads_service.contact_signals(contact)),
        lead=lead_facts,
        tags=tags,
    )
