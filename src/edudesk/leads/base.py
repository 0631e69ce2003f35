"""What every part of the lead area shares: the built-in card fields, the area's error, reading an org's field
definitions, a contact's lead and its values, grading a lead again, and the lead as the CRM receives it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from edudesk.contacts.models import Contact
from edudesk.db import get_in_org, org_query
from edudesk.errors import DomainError
from edudesk.leads import grading
from edudesk.leads.models import (
    FieldType,
    Lead,
    LeadFieldDef,
    LeadGrading,
    LeadValue,
)

GRADES = ("小班", "中班", "大班", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三",
          "高一", "高二", "高三")
# (key, label, type, options) of the card's built-in fields, in card order.
BUILTIN_FIELDS: tuple[tuple[str, str, FieldType, tuple[str, ...]], ...] = (
    ("name", "称呼", FieldType.text, ()),
    ("phone", "手机号", FieldType.phone, ()),
    ("wechat", "微信号", FieldType.text, ()),
    ("child_name", "孩子姓名", FieldType.text, ()),
    ("child_age", "孩子年龄", FieldType.number, ()),
    ("grade", "年级", FieldType.single, GRADES),
    ("subject", "意向科目", FieldType.multi, ()),
    ("city", "城市", FieldType.text, ()),
    ("district", "区县", FieldType.text, ()),
    ("campus", "意向校区", FieldType.single, ()),
    ("occupation", "职业", FieldType.text, ()),
)
# Lead card key ← extraction attribute.
FROM_EXTRACTION = (("name", "name"), ("phone", "phone"), ("wechat", "wechat"), ("child_name", "child_name"),
                   ("child_age", "age"), ("grade", "grade"), ("city", "city"), ("district", "district"))
# Extraction span names, where they differ from the card key.
SPAN_OF = {"child_age": "age"}
CONTACT_KEYS = frozenset({"phone", "wechat"})


class LeadError(DomainError):
    pass


def field_defs(session: Session, org_id: int) -> list[LeadFieldDef]:
    """The org's card fields in order; the built-ins are added the first time they are asked for."""
    defs = list(session.scalars(org_query(LeadFieldDef, org_id).order_by(LeadFieldDef.position, LeadFieldDef.id)))
    have = {d.key for d in defs}
    missing = [b for b in BUILTIN_FIELDS if b[0] not in have]
    if missing:
        for key, label, kind, options in missing:
            position = next(i for i, b in enumerate(BUILTIN_FIELDS) if b[0] == key)
            d = LeadFieldDef(org_id=org_id, key=key, label=label, type=kind, options=list(options), builtin=True,
                             enabled=True, position=position)
            session.add(d)
            defs.append(d)
        session.flush()
        defs.sort(key=lambda d: (d.position, d.id))
    return defs


def lead_for_contact(session: Session, org_id: int, contact_id: int) -> Lead | None:
    """The contact's lead — or, when it was merged into an older lead of the same person, that one."""
    lead = session.scalars(org_query(Lead, org_id).where(Lead.contact_id == contact_id)).first()
    for _ in range(5):  # a short chain at most: merges always point to an older lead
        if lead is None or lead.merged_into_id is None:
            return lead
        lead = session.get(Lead, lead.merged_into_id)
        if lead is not None and lead.org_id != org_id:
            return None
    return lead


def lead_by_phone(session: Session, org_id: int, phone_e164: str) -> Lead | None:
    """The org's lead with this phone number that carries on (not merged into another; the oldest if several):
    how a submission that arrives without a chat — a landing-page form — finds the person a chat already knows."""
    return session.scalars(org_query(Lead, org_id).where(
        Lead.phone_e164 == phone_e164, Lead.merged_into_id.is_(None)).order_by(Lead.id)).first()


def values_of(session: Session, lead: Lead) -> dict[str, LeadValue]:
    rows = session.scalars(org_query(LeadValue, lead.org_id).where(LeadValue.lead_id == lead.id))
    return {v.key: v for v in rows}


def contact_signals(contact: Contact) -> list[str]:
    return list((contact.attributes or {}).get("signals", []))


TAG_PREFIX = "tag:"
TAG_POINTS = "tag_points"


def tag_points(contact: Contact) -> dict[str, tuple[int, str]]:
    """``tag:<name>`` → (points, label) of the classification rules that tag contacts (visitors area), as last
    told by ``leads_service.set_tag_points``."""
    raw = (contact.attributes or {}).get(TAG_POINTS) or {}
    out: dict[str, tuple[int, str]] = {}
    if isinstance(raw, dict):
        for signal, value in raw.items():
            if isinstance(value, list | tuple) and len(value) == 2:
                out[str(signal)] = (int(value[0]), str(value[1]))
    return out


def with_tag_rules(rules: tuple[grading.Rule, ...], points: dict[str, tuple[int, str]]
                   ) -> tuple[grading.Rule, ...]:
    """The org's rules plus one per tag rule with points; a ``tag:<name>`` line in the org's own grading rules
    wins over the classification rule's points."""
    own = {r.signal for r in rules}
    extra = tuple(grading.Rule(signal, pts, label) for signal, (pts, label) in points.items()
                  if signal not in own and pts)
    return rules + extra


def grading_rules(session: Session, org_id: int) -> tuple[tuple[grading.Rule, ...], int, int]:
    row = session.scalars(org_query(LeadGrading, org_id)).first()
    if row is None or not row.rules:
        return grading.DEFAULT_RULES, grading.A_THRESHOLD, grading.B_THRESHOLD
    rules = tuple(grading.Rule(str(r[0]), int(r[1]), str(r[2])) for r in row.rules)
    return rules, row.a_threshold, row.b_threshold


def rescore(session: Session, lead: Lead, contact: Contact | None = None,
            values: dict[str, Any] | None = None) -> grading.Grade:
    """Grades the lead again from everything it shows now (re-run on every new fact, signal or status)."""
    contact = contact or session.get(Contact, lead.contact_id)
    fields = values if values is not None else {k: v.value for k, v in values_of(session, lead).items()}
    shown = grading.facts(fields, lead.status, contact.visits if contact else 1,
                          contact_signals(contact) if contact else [])
    rules, a, b = grading_rules(session, lead.org_id)
    if contact is not None:
        shown |= {f"{TAG_PREFIX}{tag}" for tag in contact.tags or ()}
        rules = with_tag_rules(rules, tag_points(contact))
    result = grading.grade(shown, rules, a_threshold=a, b_threshold=b)
    lead.score, lead.level, lead.score_reasons = result.score, result.level, list(result.reasons)
    return result


def lead_payload(session: Session, lead: Lead, *, changed: Iterable[str] = ()) -> dict[str, Any]:
    """The lead as the CRM receives it in webhooks: every card value with where it came from."""
    session.flush()
    values = values_of(session, lead)
    return {
        "lead_id": lead.id, "contact_id": lead.contact_id, "status": lead.status.value,
        "has_contact": lead.has_contact, "phone_e164": lead.phone_e164, "source_channel": lead.source_channel,
        "landing_page": lead.landing_page, "campaign": lead.campaign, "attribution": dict(lead.attribution or {}),
        "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(), "changed": list(changed),
        "fields": {k: {"value": v.value, "source": v.source.value, "evidence": v.evidence,
                       "message_id": v.message_id} for k, v in values.items()},
    }


def display_value(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def get_lead(session: Session, org_id: int, lead_id: int) -> Lead:
    return get_in_org(session, Lead, lead_id, org_id)


def current_lead(session: Session, org_id: int, lead_id: int, *, lock: bool = False) -> Lead:
    """The lead that carries on for ``lead_id``: itself, or the older lead it was merged into. With ``lock`` the
    row is read afresh and locked (``FOR UPDATE`` on PostgreSQL) so a status check and the move that follows
    cannot interleave with another request's."""
    lead = get_lead(session, org_id, lead_id)
    for _ in range(5):  # merges point to an older lead: a short chain at most
        if lead.merged_into_id is None:
            break
        lead = get_lead(session, org_id, lead.merged_into_id)
    if lock:
        lead = session.scalars(org_query(Lead, org_id).where(Lead.id == lead.id).with_for_update()
                               .execution_options(populate_existing=True)).one()
    return lead
