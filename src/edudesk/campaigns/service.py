"""Campaigns: create, list, archive, count the people each one brings, and report on them.

Every channel reports arrivals the same way: the inbound orchestrator calls ``record_touch`` with the scene the
channel handed over (a WeChat QR code's scene, a 微信客服 link's scene, a form's utm_campaign), so the campaign
report works for every channel without channel code here. A scene nobody created is still counted, under a
campaign named 未命名 that an admin may later name (creating that scene adopts the row and its counts).

Leads are credited by scene (``Lead.campaign``, set by the first touch), so an admin-created scene must be unique
in the org, not only per account: two accounts' codes with one scene would share their leads in the report.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.campaigns.models import Campaign, CampaignDay
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.leads import service as leads_service
from edudesk.localtime import local_today

SCENE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SCENE_MAX = 100  # as Lead.campaign: what a channel reports is kept whole up to this length
NAME_MAX = 100
UNNAMED = "未命名"
KINDS = ("qr", "link")
KIND_LABELS = {"qr": "二维码", "link": "链接"}
REPORT_DAYS_MAX = 366


class CampaignError(DomainError):
    pass


def check_scene(scene: str) -> str:
    """A scene an admin may create: 1–64 characters of letters, digits, ``_`` and ``-`` (what a WeChat permanent
    QR code's scene_str and a 微信客服 link's scene accept, and safe in any URL)."""
    scene = scene.strip()
    if not scene:
        raise CampaignError("scene_required", "请填写场景值", "scene")
    if not SCENE_RE.fullmatch(scene):
        raise CampaignError("bad_scene", "场景值只能包含字母、数字、下划线和短横线，最多 64 个字符", "scene")
    return scene


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CampaignError("name_required", "请填写活动名称", "name")
    if len(name) > NAME_MAX:
        raise CampaignError("name_too_long", f"活动名称不能超过 {NAME_MAX} 个字", "name")
    return name


def _find(session: Session, org_id: int, inbox_id: int | None, scene: str) -> Campaign | None:
    return session.scalars(org_query(Campaign, org_id).where(
        Campaign.inbox_ref == (inbox_id or 0), Campaign.scene == scene)).first()


def check_new(session: Session, org_id: int, inbox_id: int | None, scene: str) -> str:
    """The scene, validated and free to create (called before a provider is asked to make the code, so a refused
    scene costs no QR code). A 未命名 row of the same account is free: creating it adopts it."""
    scene = check_scene(scene)
    taken = session.scalars(org_query(Campaign, org_id).where(Campaign.scene == scene)).all()
    for row in taken:
        if row.inbox_ref == (inbox_id or 0) and row.origin == "auto":
            continue
        if row.inbox_ref == (inbox_id or 0):
            raise CampaignError("scene_taken", f"场景值“{scene}”已被活动“{row.name}”使用", "scene")
        raise CampaignError("scene_taken_elsewhere",
                            f"场景值“{scene}”已被其他渠道的活动“{row.name}”使用：线索按场景值统计，请换一个", "scene")
    return scene


def create(session: Session, actor: Actor, *, name: str, scene: str, kind: str, inbox_id: int | None = None,
           channel: str = "", provider: dict[str, Any] | None = None) -> Campaign:
    if kind not in KINDS:
        raise CampaignError("bad_kind", "活动类型只能是二维码或链接", "kind")
    name = _name(name)
    scene = check_new(session, actor.org_id, inbox_id, scene)
    row = _find(session, actor.org_id, inbox_id, scene)
    if row is None:
        row = Campaign(org_id=actor.org_id, inbox_id=inbox_id, inbox_ref=inbox_id or 0, scene=scene,
                       created_at=utcnow())
        session.add(row)
    row.name, row.kind, row.channel, row.origin, row.archived = name, kind, channel[:32], "admin", False
    row.provider = dict(provider or {})
    session.flush()
    audit_service.record(session, actor, "campaign.create", "campaign", row.id, scene=scene, kind=kind,
                         inbox_id=inbox_id)
    return row


def get(session: Session, org_id: int, campaign_id: int, *, inbox_id: int | None = None) -> Campaign:
    """The org's campaign; with ``inbox_id``, only one of that account (another's is not found)."""
    row = get_in_org(session, Campaign, campaign_id, org_id)
    if inbox_id is not None and row.inbox_id != inbox_id:
        raise NotFoundError("Campaign", campaign_id)
    return row


def list_campaigns(session: Session, org_id: int, *, inbox_id: int | None = None,
                   include_archived: bool = False) -> list[Campaign]:
    stmt = org_query(Campaign, org_id).order_by(Campaign.archived, Campaign.id.desc())
    if inbox_id is not None:
        stmt = stmt.where(Campaign.inbox_id == inbox_id)
    if not include_archived:
        stmt = stmt.where(Campaign.archived.is_(False))
    return list(session.scalars(stmt))


def rename(session: Session, actor: Actor, campaign_id: int, name: str) -> Campaign:
    row = get_in_org(session, Campaign, campaign_id, actor.org_id)
    row.name = _name(name)
    if row.origin == "auto":
        row.origin = "admin"
    audit_service.record(session, actor, "campaign.rename", "campaign", row.id, name=row.name)
    return row


def archive(session: Session, actor: Actor, campaign_id: int, archived: bool = True) -> Campaign:
    """Hides a campaign from the lists; touches through it are still counted (a printed code lives on)."""
    row = get_in_org(session, Campaign, campaign_id, actor.org_id)
    row.archived = archived
    audit_service.record(session, actor, "campaign.archive" if archived else "campaign.restore", "campaign", row.id)
    return row


# --- counting ----------------------------------------------------------------------------------------------------

def _campaign_for(session: Session, org_id: int, inbox_id: int | None, scene: str, channel: str) -> Campaign:
    found = _find(session, org_id, inbox_id, scene)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = Campaign(org_id=org_id, inbox_id=inbox_id, inbox_ref=inbox_id or 0, channel=channel[:32],
                           scene=scene, name=UNNAMED, kind="link" if inbox_id is None else "qr", provider={},
                           origin="auto", archived=False, created_at=utcnow())
            session.add(row)
            session.flush()
    except IntegrityError:
        # The same unknown scene arrived twice at once: count both under the row the other one made.
        found = _find(session, org_id, inbox_id, scene)
        if found is None:
            raise
        return found
    return row


def _bump(session: Session, row: Campaign, day: dt.date, new_contact: bool) -> None:
    """One more touch on the day's counter: an atomic UPDATE, the day's row inserted by the first touch."""
    stmt = (update(CampaignDay)
            .where(CampaignDay.campaign_id == row.id, CampaignDay.day == day)
            .values(touches=CampaignDay.touches + 1, new_contacts=CampaignDay.new_contacts + int(new_contact))
            .execution_options(synchronize_session=False))
    if session.execute(stmt).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(CampaignDay(org_id=row.org_id, campaign_id=row.id, day=day, touches=1,
                                    new_contacts=int(new_contact)))
            session.flush()
    except IntegrityError:  # another touch inserted the day's row first
        session.execute(stmt)


def record_touch(session: Session, org_id: int, inbox_id: int | None, scene: str, *, new_contact: bool,
                 channel: str = "", now: dt.datetime | None = None) -> Campaign | None:
    """Someone arrived through ``scene`` on the account ``inbox_id`` (None: no connected account); counted on
    today's row of its campaign, in the caller's transaction. ``new_contact``: the arrival made a new contact (a
    new follower, a first-time visitor). A blank scene counts nothing."""
    scene = scene.strip()[:SCENE_MAX]
    if not scene:
        return None
    row = _campaign_for(session, org_id, inbox_id, scene, channel)
    _bump(session, row, local_today(now), new_contact)
    return row


# --- reports -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    touches: int
    new_contacts: int
    leads: int
    leads_with_contact: int

    @property
    def capture_rate(self) -> float:
        """Leads with a phone or WeChat per new contact (the campaign's 套电率)."""
        return self.leads_with_contact / self.new_contacts if self.new_contacts else 0.0


def report(session: Session, org_id: int, campaigns: Sequence[Campaign]) -> list[CampaignReport]:
    """Totals per campaign since it began: touches and new contacts from its day rows, leads from the leads area
    (all leads whose first touch was its scene)."""
    ids = [c.id for c in campaigns if c.org_id == org_id]
    totals: dict[int, tuple[int, int]] = {}
    if ids:
        rows = session.execute(select(CampaignDay.campaign_id, func.sum(CampaignDay.touches),
                                      func.sum(CampaignDay.new_contacts))
                               .where(CampaignDay.org_id == org_id, CampaignDay.campaign_id.in_(ids))
                               .group_by(CampaignDay.campaign_id))
        totals = {cid: (int(t or 0), int(n or 0)) for cid, t, n in rows}
    leads = leads_service.counts_by_campaign(session, org_id, [c.scene for c in campaigns])
    out = []
    for c in campaigns:
        if c.org_id != org_id:
            continue
        touches, new = totals.get(c.id, (0, 0))
        count, with_contact = leads.get(c.scene, (0, 0))
        out.append(CampaignReport(c, touches, new, count, with_contact))
    return out


@dataclass(frozen=True)
class DayRow:
    day: dt.date
    touches: int
    new_contacts: int


def daily(session: Session, org_id: int, campaign_id: int, start: dt.date, end: dt.date) -> list[DayRow]:
    """Every local day from ``start`` to ``end`` (both included, at most a year), empty days included."""
    if end < start:
        start, end = end, start
    start = max(start, end - dt.timedelta(days=REPORT_DAYS_MAX - 1))
    get_in_org(session, Campaign, campaign_id, org_id)
    rows = session.execute(select(CampaignDay.day, CampaignDay.touches, CampaignDay.new_contacts).where(
        CampaignDay.org_id == org_id, CampaignDay.campaign_id == campaign_id, CampaignDay.day >= start,
        CampaignDay.day <= end))
    seen = {day: (t, n) for day, t, n in rows}
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return [DayRow(d, *seen.get(d, (0, 0))) for d in days]
