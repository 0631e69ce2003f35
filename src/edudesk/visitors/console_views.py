"""The visitor beside the chat (the 访客 panel) and the contact page with its timeline across channels.

Thin: the panel's facts come from ``visitors.panel``, the timeline from ``visitors.timeline``. Everything shown
here that a visitor can control (URLs, page titles, referrers, search keywords, campaign names) is escaped by the
templates, and only http(s) addresses become links (``safe_link``), opened with ``noopener noreferrer nofollow``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, current_user
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.inputs import PathId
from edudesk.leads import service as leads_service
from edudesk.privacy import service as privacy_service
from edudesk.visitors import panel as panel_reads
from edudesk.visitors import profile as profile_reads
from edudesk.visitors import timeline as timeline_reads
from edudesk.visitors import trail
from edudesk.web import page

router = APIRouter(prefix="/console", include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
URL_SHOWN = 80


def safe_link(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) address, else None (shown as text, never as a link): a visitor's
    beacon can report ``javascript:`` or ``data:`` as its page."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def short_url(url: str | None) -> str:
    """The address without its scheme, cut for a narrow column (the full one is in the title attribute)."""
    text = (url or "").split("://", 1)[-1]
    return text if len(text) <= URL_SHOWN else text[:URL_SHOWN - 1] + "…"


def _helpers() -> dict[str, Any]:
    return {"link": safe_link, "short_url": short_url}


def _phone_seen(request: Request, session: Session, user: User, where: str, contact_id: int, shown: bool) -> None:
    if shown:
        privacy_service.phone_seen(request, session, actor_of(request, user), where, [contact_id])


@router.get("/c/{conversation_id}/visitor", response_class=HTMLResponse)
def visitor_panel(request: Request, user: CurrentUser, conversation_id: PathId) -> Response:
    """The 访客 panel beside the chat, loaded after the chat and refreshed by the console when the visitor
    writes again (a new message may come from a new visit)."""
    with get_ctx(request).db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        contact = contacts_service.get(session, user.org_id, conv.contact_id)
        visible = conversations_service.can_see_phone(user, conv)
        data = panel_reads.panel_of(session, user.org_id, contact.id, conv.created_at, conv.last_message_at,
                                    show_phone=visible)
        phone = contact.phone if visible else contacts_service.mask_phone(contact.phone)
        _phone_seen(request, session, user, "console.visitor", contact.id, visible and bool(contact.phone))
        session.commit()
    return page(request, "console/_visitor.html", conv=conv, panel=data, contact_id=contact.id,
                display_name=contacts_service.display_name(contact), phone=phone, **_helpers())


def _contact_context(request: Request, session: Session, user: User, contact_id: int, limit: int | None
                     ) -> dict[str, Any]:
    contact = contacts_service.get(session, user.org_id, contact_id)
    current = conversations_service.current_for_contact(session, user.org_id, contact.id)
    visible = conversations_service.can_see_phone(user, conversations_service.served_by(session, user, contact.id))
    lead = leads_service.card(session, user.org_id, contact.id, show_phone=visible)
    grade = leads_service.card_grade(session, user.org_id, contact.id)
    identities = contacts_service.identities_of(session, user.org_id, contact.id)
    touches = trail.touches_of_contact(session, user.org_id, contact.id)
    timeline = timeline_reads.timeline_of(session, user.org_id, contact.id, limit=limit)
    profile = profile_reads.profile_of(session, user.org_id, contact.id, show_phone=visible)
    shown = visible and bool(contact.phone or any(f.key == "phone" and f.value for f in lead or []))
    _phone_seen(request, session, user, "console.contact_page", contact.id, shown)
    session.commit()
    return {
        "contact": contact,
        "display_name": contacts_service.display_name(contact),
        "phone": contact.phone if visible else contacts_service.mask_phone(contact.phone),
        "phone_visible": visible,
        "current": current,
        "lead": [f for f in lead or [] if f.value],
        "grade": grade,
        "identities": identities,
        "first_touch": timeline_reads.visit_item(touches.first, []) if touches.first else None,
        "last_touch": timeline_reads.visit_item(touches.last, []) if touches.last else None,
        "timeline": timeline,
        "profile": profile,
        "is_admin": user.role == Role.admin,
        "user": user,
        **_helpers(),
    }


Limit = Annotated[int | None, Query(ge=1, le=timeline_reads.MAX_LIMIT)]


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_page(request: Request, user: CurrentUser, contact_id: PathId, limit: Limit = None) -> Response:
    """The contact page: facts, identities per channel, first and last source, and one timeline across
    channels; admins also get the PIPL export and erasure (the privacy area's forms, audited there)."""
    with get_ctx(request).db.session() as session:
        context = _contact_context(request, session, user, contact_id, limit)
    return page(request, "console/contact.html", **context)


@router.get("/contacts/{contact_id}/timeline", response_class=HTMLResponse)
def contact_timeline(request: Request, user: CurrentUser, contact_id: PathId, limit: Limit = None) -> Response:
    """The timeline alone, for its "more" button (htmx swaps it in place)."""
    with get_ctx(request).db.session() as session:
        contacts_service.get(session, user.org_id, contact_id)  # another org's contact: 404
        timeline = timeline_reads.timeline_of(session, user.org_id, contact_id, limit=limit)
    return page(request, "console/_timeline.html", contact_id=contact_id, timeline=timeline, **_helpers())
