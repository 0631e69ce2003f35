"""Where a person came from, as the dashboards' ``source`` and ``campaign_id`` dimensions.

One rule for conversations, leads and tickets alike, so the filters cut them the same way: the *first touch* of
the person (the lead's attribution, else the contact's first touch): its ``source_kind`` (search, ad, social,
referral, campaign, direct — ``visitors.attribution``), ``campaign`` when there is only a campaign scene (a WeChat
QR code), ``none`` when nothing is known. The campaign is the ``campaigns`` row whose scene the touch names (the
lowest id when two accounts use the same scene).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.campaigns.models import Campaign
from edudesk.contacts.models import Contact
from edudesk.leads.models import Lead

NO_SOURCE = "none"
FIRST_TOUCH = "first_touch"  # the key ``leads.capture`` keeps the contact's first touch under
CHUNK = 1000


@dataclass(frozen=True)
class Origin:
    source: str
    campaign_id: int | None


def campaign_ids(session: Session, org_id: int) -> dict[str, int]:
    """Scene → campaign id for the org (the lowest id wins a scene shared by two accounts)."""
    found: dict[str, int] = {}
    for cid, scene in session.execute(select(Campaign.id, Campaign.scene).where(Campaign.org_id == org_id)
                                      .order_by(Campaign.id)):
        found.setdefault(scene, cid)
    return found


def origin_of(touch: dict[str, Any], campaign: str | None, scenes: dict[str, int]) -> Origin:
    scene = campaign or touch.get("campaign") or touch.get("utm_campaign")
    kind = str(touch.get("source_kind") or ("campaign" if scene else NO_SOURCE))[:16]
    return Origin(kind, scenes.get(str(scene)) if scene else None)


def origins(session: Session, org_id: int, contact_ids: Iterable[int], scenes: dict[str, int]) -> dict[int, Origin]:
    """Contact id → origin, from the contact's lead when it has one, else from the contact's own first touch."""
    ids = sorted(set(contact_ids))
    found: dict[int, Origin] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        for contact_id, attribution, campaign in session.execute(
                select(Lead.contact_id, Lead.attribution, Lead.campaign).where(
                    Lead.org_id == org_id, Lead.contact_id.in_(chunk))):
            found[contact_id] = origin_of(attribution or {}, campaign, scenes)
        rest = [c for c in chunk if c not in found]
        if rest:
            for contact_id, attributes in session.execute(select(Contact.id, Contact.attributes).where(
                    Contact.org_id == org_id, Contact.id.in_(rest))):
                touch = (attributes or {}).get(FIRST_TOUCH)
                found[contact_id] = origin_of(touch if isinstance(touch, dict) else {}, None, scenes)
    return found
