"""The live list's rows: registry entries joined with what the database knows about each visitor.

Polled about once a second by every console that shows it, so the cost is fixed, whatever the number of visitors:
one query for their visits (returning or new, crawlers), one for their contacts' names, one for their leads, one
for the org's live conversations and one for the staff names — never one query per visitor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.auth import service as auth_service
from edudesk.contacts import service as contacts_service
from edudesk.leads import service as leads_service
from edudesk.routing import service as routing_service
from edudesk.visitors import attribution
from edudesk.visitors.live import LiveVisitor
from edudesk.visitors.models import Visit

MAX_ROWS = 500
SOURCE_LABELS = attribution.SOURCE_KIND_LABELS
ENGINE_LABELS = attribution.ENGINE_LABELS


@dataclass(frozen=True)
class Row:
    visitor_key: str
    contact_id: int | None
    name: str
    phone: str
    url: str
    title: str
    source_kind: str
    engine: str  # the search engine's Chinese name, or ""
    keyword: str
    campaign: str
    seconds_on_site: int
    seconds_on_page: int
    views: int
    visits: int
    returning: bool
    grade: str
    talking_with: str | None  # the colleague serving them (or "排队中" / the bot), None when no live chat
    talking_state: str | None
    online: bool
    device: str
    place: str
    view_key: str
    invitable: bool


def duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}秒"
    if seconds < 3600:
        return f"{seconds // 60}分{seconds % 60:02d}秒"
    return f"{seconds // 3600}小时{seconds % 3600 // 60:02d}分"


def _visits(session: Session, org_id: int, keys: list[str]) -> tuple[dict[str, int], set[str]]:
    if not keys:
        return {}, set()
    counts: dict[str, int] = {}
    bots: set[str] = set()
    rows = session.execute(
        select(Visit.visitor_key, Visit.is_bot, func.count()).where(Visit.org_id == org_id,
                                                                     Visit.visitor_key.in_(keys))
        .group_by(Visit.visitor_key, Visit.is_bot))
    for key, is_bot, n in rows:
        if is_bot:
            bots.add(key)
        else:
            counts[key] = int(n)
    return counts, bots


def rows(session: Session, org_id: int, visitors: list[LiveVisitor], *, now: float,
         phone_visible: Callable[[int | None], bool]) -> list[Row]:
    """``phone_visible(assignee_id)``: whether the viewer may see the number of a visitor whose live conversation
    (if any) is with ``assignee_id``."""
    visitors = sorted(visitors, key=lambda v: (not v.online(now), -v.last_at))[:MAX_ROWS]
    keys = [v.visitor_key for v in visitors]
    visit_counts, bots = _visits(session, org_id, keys)
    contact_ids = {v.contact_id for v in visitors if v.contact_id is not None}
    names = contacts_service.display_names(session, org_id, contact_ids)
    leads = leads_service.leads_for_contacts(session, org_id, contact_ids)
    live: dict[int, Any] = {}
    for live_conv in routing_service.live_conversations(session, org_id):
        live.setdefault(live_conv.contact_id, live_conv)
    staff = {u.id: u.display_name for u in auth_service.list_users(session, org_id)} if live else {}
    out: list[Row] = []
    for v in visitors:
        if v.visitor_key in bots:
            continue
        conv = live.get(v.contact_id) if v.contact_id is not None else None
        state = conv.state.value if conv is not None else None
        talking = None
        if conv is not None and state == "assigned":
            talking = staff.get(conv.assignee_id or 0, "")
        elif state == "queued":
            talking = "排队中"
        elif state == "bot":
            talking = "机器人"
        lead = leads.get(v.contact_id) if v.contact_id is not None else None
        raw_phone = lead.phone_e164 if lead is not None and lead.phone_e164 else ""
        phone = raw_phone if phone_visible(conv.assignee_id if conv is not None else None) \
            else contacts_service.mask_phone(raw_phone) or ""
        visits = max(visit_counts.get(v.visitor_key, 0), 1)
        out.append(Row(
            visitor_key=v.visitor_key, contact_id=v.contact_id,
            name=names.get(v.contact_id, "") if v.contact_id is not None else "", phone=phone,
            url=v.url, title=v.title, source_kind=v.source_kind if v.source_kind in SOURCE_LABELS else "direct",
            engine=ENGINE_LABELS.get(v.engine, v.engine), keyword=v.keyword, campaign=v.campaign,
            seconds_on_site=v.seconds_on_site(now), seconds_on_page=v.seconds_on_page(now), views=v.views,
            visits=visits, returning=visits > 1, grade=lead.level if lead is not None else "",
            talking_with=talking, talking_state=state, online=v.online(now), device=v.device,
            place=" ".join(p for p in (v.province, v.city) if p), view_key=v.view_key,
            invitable=v.online(now) and v.contact_id is not None and state not in ("queued", "assigned"),
        ))
    return out


def phones_shown(rows_: list[Row]) -> list[int]:
    """Contacts whose full number a list showed (for the privacy audit)."""
    return [r.contact_id for r in rows_ if r.contact_id is not None and r.phone and "*" not in r.phone]
