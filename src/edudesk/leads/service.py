"""The lead card: field definitions per org, and capturing what visitors say about themselves into it.

Capture runs on every visitor message (``inbound.service``), not only inside a bot script: parents give their
number or their child's grade whenever they feel like it. The rules of who wins a field:
- a value an agent typed is never overwritten by extraction (the agent talked to the parent);
- a visitor who restates a field (a new number, "其实是四年级") replaces what they said before;
- subjects accumulate (数学, then 英语 → both).
Each value keeps the words it came from and the message, so the card can say where it came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.leads import field_rules, grading
from edudesk.leads.models import (
    FieldType,
    Lead,
    LeadFieldDef,
    LeadGrading,
    LeadNote,
    LeadStatus,
    LeadValue,
    ValueSource,
)
from edudesk.nlp.extract import Extraction
from edudesk.webhooks import service as webhooks_service

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


@dataclass
class Capture:
    lead: Lead | None
    created: bool = False
    changed: list[str] = field(default_factory=list)
    # (key, label, value as shown) of the changed fields, for the bot's "已为您记下…".
    facts: tuple[tuple[str, str, str], ...] = ()


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


def values_of(session: Session, lead: Lead) -> dict[str, LeadValue]:
    rows = session.scalars(org_query(LeadValue, lead.org_id).where(LeadValue.lead_id == lead.id))
    return {v.key: v for v in rows}


def _wanted(extraction: Extraction, text: str) -> list[tuple[str, Any, str]]:
    """(card key, value, evidence: the visitor's own words) for every field the message states."""

    def words(name: str) -> str:
        span = extraction.span(name)
        return text[span.start:span.end] if span is not None else ""

    out: list[tuple[str, Any, str]] = []
    for key, attr in FROM_EXTRACTION:
        value = getattr(extraction, attr)
        if value is not None and value != "":
            out.append((key, value, words(SPAN_OF.get(key, attr))))
    if extraction.subjects:
        out.append(("subject", list(extraction.subjects), words("subject")))
    return out


def capture(session: Session, contact: Contact, text: str, *, extraction: Extraction, channel: str,
            conversation_id: int | None, message_id: int | None, page_url: str | None = None) -> Capture:
    """Writes what one visitor message (``text``) says into the contact's lead card, creating the lead on the
    first fact it states, and notes intent signals (asked the price, wants to enrol…) for the lead's grade."""
    new_signals = grading.signals_in(text) - set(contact_signals(contact))
    if new_signals:
        contact.attributes = {**(contact.attributes or {}),
                              "signals": sorted({*contact_signals(contact), *new_signals})}
    result = record_values(session, contact, _wanted(extraction, text), source=ValueSource.visitor, channel=channel,
                           conversation_id=conversation_id, message_id=message_id, page_url=page_url,
                           phone_e164=extraction.phone_e164)
    if new_signals and not result.changed:
        lead = result.lead or lead_for_contact(session, contact.org_id, contact.id)
        if lead is not None:
            rescore(session, lead, contact)
    return result


def contact_signals(contact: Contact) -> list[str]:
    return list((contact.attributes or {}).get("signals", []))


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
    result = grading.grade(shown, rules, a_threshold=a, b_threshold=b)
    lead.score, lead.level, lead.score_reasons = result.score, result.level, list(result.reasons)
    return result


def record_values(session: Session, contact: Contact, wanted: list[tuple[str, Any, str]], *, source: ValueSource,
                  channel: str, conversation_id: int | None, message_id: int | None, page_url: str | None = None,
                  phone_e164: str | None = None) -> Capture:
    """Writes (key, value, the visitor's words) onto the card: from extraction or from a bot script's answers."""
    if not wanted:
        return Capture(None)
    org_id = contact.org_id
    lead = lead_for_contact(session, org_id, contact.id)
    created = lead is None
    if lead is None:
        lead = Lead(org_id=org_id, contact_id=contact.id, source_channel=channel, landing_page=page_url,
                    first_conversation_id=conversation_id)
        session.add(lead)
        session.flush()
    current = {} if created else values_of(session, lead)
    now = utcnow()
    changed: list[str] = []
    for key, value, evidence in wanted:
        old = current.get(key)
        if old is not None and old.source == ValueSource.agent and source != ValueSource.agent:
            continue  # what staff (or the CRM through the API) entered is not overwritten by the bot
        if key == "subject" and old is not None and isinstance(value, list):
            value = list(dict.fromkeys([*(old.value if isinstance(old.value, list) else [old.value]), *value]))
        if old is not None and old.value == value:
            continue
        if old is None:
            old = LeadValue(org_id=org_id, lead_id=lead.id, key=key)
            session.add(old)
            current[key] = old
        old.value, old.source, old.user_id = value, source, None
        old.value_text = _display(value)[:500]
        old.evidence = evidence[:200]
        old.message_id, old.conversation_id, old.updated_at = message_id, conversation_id, now
        changed.append(key)
    if not changed:
        return Capture(lead, created)
    if "phone" in changed:
        lead.phone_e164 = phone_e164 or _e164(str(current["phone"].value))
    if CONTACT_KEYS & set(changed):
        merged = _merge_duplicate(session, lead, current)
        if merged is not None:
            lead, current = merged, values_of(session, merged)
    if CONTACT_KEYS & set(changed) and not lead.has_contact:
        lead.has_contact, lead.contact_captured_at = True, now
    lead.updated_at = now
    rescore(session, lead, contact, {k: v.value for k, v in current.items()})
    stated = {k: v for k, v, _ in wanted if k in changed}
    _sync_contact(session, contact, stated)
    events.record(session, events.DomainEvent(
        type="lead.updated", org_id=org_id,
        data={"lead_id": lead.id, "contact_id": contact.id, "conversation_id": conversation_id,
              "fields": changed, "created": created},
        topics=(conversations_service.agents_topic(org_id),),
    ))
    webhooks_service.emit_if_subscribed(
        session, org_id, "lead.created" if created else "lead.updated", f"lead:{lead.id}",
        lambda: lead_payload(session, lead, changed=changed))
    labels = {key: label for key, label, _, _ in BUILTIN_FIELDS}
    facts = tuple((k, labels.get(k, k), _display(stated[k])) for k in changed)
    return Capture(lead, created, changed, facts)


def lead_payload(session: Session, lead: Lead, *, changed: Iterable[str] = ()) -> dict[str, Any]:
    """The lead as the CRM receives it in webhooks: every card value with where it came from."""
    session.flush()
    values = values_of(session, lead)
    return {
        "lead_id": lead.id, "contact_id": lead.contact_id, "status": lead.status.value,
        "has_contact": lead.has_contact, "phone_e164": lead.phone_e164, "source_channel": lead.source_channel,
        "landing_page": lead.landing_page, "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(), "changed": list(changed),
        "fields": {k: {"value": v.value, "source": v.source.value, "evidence": v.evidence,
                       "message_id": v.message_id} for k, v in values.items()},
    }


def _merge_duplicate(session: Session, lead: Lead, values: dict[str, LeadValue]) -> Lead | None:
    """The same parent often comes back on another channel or a new device: when this lead's phone or WeChat is
    already on an older lead, the two are one person. The older lead carries on with every value it lacked; this
    one points to it. Returns the lead that carries on (None: no duplicate)."""
    session.flush()
    other = None
    if lead.phone_e164:
        other = session.scalars(org_query(Lead, lead.org_id).where(
            Lead.phone_e164 == lead.phone_e164, Lead.id != lead.id, Lead.merged_into_id.is_(None))
            .order_by(Lead.id)).first()
    wechat = values.get("wechat")
    if other is None and wechat is not None and wechat.value_text:
        same = select(LeadValue.lead_id).where(LeadValue.org_id == lead.org_id, LeadValue.key == "wechat",
                                               LeadValue.value_text == wechat.value_text)
        other = session.scalars(org_query(Lead, lead.org_id).where(
            Lead.id.in_(same), Lead.id != lead.id, Lead.merged_into_id.is_(None)).order_by(Lead.id)).first()
    if other is None:
        return None
    primary, duplicate = (other, lead) if other.id < lead.id else (lead, other)
    kept = values_of(session, primary)
    moved = []
    for key, value in values_of(session, duplicate).items():
        if key not in kept:
            session.add(LeadValue(org_id=primary.org_id, lead_id=primary.id, key=key, value=value.value,
                                  value_text=value.value_text, source=value.source, evidence=value.evidence,
                                  message_id=value.message_id, conversation_id=value.conversation_id,
                                  user_id=value.user_id, updated_at=value.updated_at))
            moved.append(key)
    duplicate.merged_into_id = primary.id
    primary.phone_e164 = primary.phone_e164 or duplicate.phone_e164
    primary.has_contact = primary.has_contact or duplicate.has_contact
    primary.owner_id = primary.owner_id or duplicate.owner_id
    primary.updated_at = utcnow()
    session.flush()
    audit_service.record(session, audit_service.Actor(primary.org_id, label="system"), "lead.merge", "lead",
                         primary.id, merged=duplicate.id, moved=moved)
    return primary


def _e164(phone: str) -> str | None:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "+86" + digits if len(digits) == 11 and digits.startswith("1") else None


def known_values(session: Session, org_id: int, contact_id: int) -> dict[str, Any]:
    """The card's values by key, for a bot script's "skip if known"."""
    lead = lead_for_contact(session, org_id, contact_id)
    return {k: v.value for k, v in values_of(session, lead).items()} if lead is not None else {}


def _sync_contact(session: Session, contact: Contact, values: dict[str, Any]) -> None:
    """The contact's own name/phone/WeChat fill in from the card when still empty (never overwritten here)."""
    updates: dict[str, str] = {}
    if values.get("name") and not contact.name:
        updates["name"] = str(values["name"])
    if values.get("phone") and not contact.phone:
        updates["phone"] = str(values["phone"])
    if values.get("wechat") and not contact.wechat_id:
        updates["wechat_id"] = str(values["wechat"])
    if updates:
        contacts_service.update_details(session, contact, **updates)


@dataclass(frozen=True)
class CardField:
    key: str
    label: str
    value: str
    source: str | None
    evidence: str
    message_id: int | None


def card(session: Session, org_id: int, contact_id: int, *, show_phone: bool) -> list[CardField] | None:
    """The lead card as the console shows it, phone masked unless ``show_phone``; None when there is no lead."""
    lead = lead_for_contact(session, org_id, contact_id)
    if lead is None:
        return None
    values = values_of(session, lead)
    out = []
    for d in field_defs(session, org_id):
        if not d.enabled:
            continue
        v = values.get(d.key)
        text = _display(v.value) if v is not None else ""
        if d.key == "phone" and text and not show_phone:
            text = contacts_service.mask_phone(text) or ""
        out.append(CardField(d.key, d.label, text, v.source.value if v is not None else None,
                             v.evidence if v is not None else "", v.message_id if v is not None else None))
    return out


def _display(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def leads_for_contacts(session: Session, org_id: int, contact_ids: Iterable[int]) -> dict[int, Lead]:
    ids = list(set(contact_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.contact_id.in_(ids)))
    return {lead.contact_id: lead for lead in rows}


# --- the leads list --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeadRow:
    lead: Lead
    contact_name: str
    phone: str
    values: dict[str, str]


@dataclass(frozen=True)
class LeadPage:
    rows: list[LeadRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class LeadFilters:
    status: str = ""
    level: str = ""
    grade: str = ""
    channel: str = ""
    landing: str = ""
    owner_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    phone: str = ""


def search(session: Session, org_id: int, filters: LeadFilters, *, show_phone: bool, page: int = 1,
           per_page: int = 50) -> LeadPage:
    """Leads newest first, filtered; phone numbers masked unless ``show_phone``."""
    stmt = org_query(Lead, org_id).where(Lead.merged_into_id.is_(None))
    if filters.status:
        stmt = stmt.where(Lead.status == filters.status)
    if filters.level in ("A", "B", "C"):
        stmt = stmt.where(Lead.level == filters.level)
    if filters.channel:
        stmt = stmt.where(Lead.source_channel == filters.channel)
    if filters.landing:
        stmt = stmt.where(Lead.landing_page.contains(filters.landing[:200], autoescape=True))
    if filters.owner_id is not None:
        stmt = stmt.where(Lead.owner_id == filters.owner_id)
    if filters.since is not None:
        stmt = stmt.where(Lead.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Lead.created_at < filters.until)
    digits = "".join(ch for ch in filters.phone if ch.isdigit())[:15]
    if digits:
        stmt = stmt.where(Lead.phone_e164.contains(digits, autoescape=True))
    if filters.grade:
        graded = select(LeadValue.lead_id).where(LeadValue.org_id == org_id, LeadValue.key == "grade",
                                                 LeadValue.value_text == filters.grade[:40])
        stmt = stmt.where(Lead.id.in_(graded))
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = max(1, page)
    leads = list(session.scalars(stmt.order_by(Lead.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    values: dict[int, dict[str, str]] = {lead.id: {} for lead in leads}
    if leads:
        for v in session.scalars(org_query(LeadValue, org_id).where(LeadValue.lead_id.in_(list(values)))):
            values[v.lead_id][v.key] = v.value_text
    names = contacts_service.display_names(session, org_id, {lead.contact_id for lead in leads})
    rows = []
    for lead in leads:
        vals = values[lead.id]
        phone = vals.get("phone", "")
        if phone and not show_phone:
            phone = contacts_service.mask_phone(phone) or ""
            vals = {**vals, "phone": phone}
        rows.append(LeadRow(lead, names.get(lead.contact_id, ""), phone, vals))
    return LeadPage(rows, total, page, per_page)


def assign(session: Session, actor: audit_service.Actor, lead_ids: list[int], owner_id: int | None) -> int:
    """Gives leads of the actor's org to one owner (None: unassigned). An id that is not a lead of this org fails
    the whole request (404) rather than assigning the rest silently. Audited."""
    wanted = set(lead_ids)
    leads = list(session.scalars(org_query(Lead, actor.org_id).where(Lead.id.in_(wanted)))) if wanted else []
    if len(leads) != len(wanted):
        raise NotFoundError("Lead", sorted(wanted - {x.id for x in leads}))
    for lead in leads:
        lead.owner_id = owner_id
        lead.updated_at = utcnow()
    if leads:
        audit_service.record(session, actor, "leads.assign", "lead", None, lead_ids=[x.id for x in leads],
                             owner_id=owner_id)
    return len(leads)


def add_custom_field(session: Session, org_id: int, key: str, label: str, kind: str,
                     options: Iterable[str] = (), *, position: int | None = None) -> LeadFieldDef:
    """One of the org's own card fields (the built-ins exist already), checked by ``leads.field_rules``: a new
    lowercase key, a label no other field uses, a known type, options for a select. Placed after the last field
    unless ``position`` says otherwise. The admin page goes through ``leads.fields.create_field`` (audited)."""
    key = field_rules.clean_key(key)
    label = field_rules.clean_label(label)
    field_type = field_rules.clean_type(kind)
    clean = field_rules.clean_options(field_type, options)
    defs = field_defs(session, org_id)
    if any(d.key == key for d in defs):
        raise field_rules.FieldError("duplicate", f"字段标识 {key} 已存在", "key")
    check_label_free(defs, label)
    if position is None:
        position = max((d.position for d in defs), default=-1) + 1
    d = LeadFieldDef(org_id=org_id, key=key, label=label, type=field_type, options=clean, builtin=False,
                     enabled=True, position=min(position, field_rules.MAX_POSITION))
    try:
        with session.begin_nested():  # two admins adding the same key at once: the unique index decides
            session.add(d)
            session.flush()
    except IntegrityError:
        raise field_rules.FieldError("duplicate", f"字段标识 {key} 已存在", "key") from None
    return d


def check_label_free(defs: Iterable[LeadFieldDef], label: str, *, except_id: int | None = None) -> None:
    """Two fields with one label would be indistinguishable on the card and in exports."""
    taken = next((d for d in defs if d.id != except_id and d.label.casefold() == label.casefold()), None)
    if taken is not None:
        raise field_rules.FieldError("duplicate_label", f"字段名称「{label}」已被字段 {taken.key} 使用", "label")


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


def set_status(session: Session, actor: audit_service.Actor, lead_id: int, status: str) -> Lead:
    """Moves a lead along the pipeline (new → contacted → trial booked → attended → enrolled / lost). Any move is
    allowed — sales re-open lost leads — but each is audited and sent to the CRM as lead.status_changed."""
    try:
        target = LeadStatus(status)
    except ValueError:
        raise LeadError("bad_status", "状态只能是 " + " / ".join(s.value for s in LeadStatus), "status") from None
    lead = get_lead(session, actor.org_id, lead_id)
    previous = lead.status
    if previous == target:
        return lead
    lead.status, lead.updated_at = target, utcnow()
    rescore(session, lead)
    audit_service.record(session, actor, "lead.status", "lead", lead.id, previous=previous.value, status=target.value)
    webhooks_service.emit_if_subscribed(
        session, actor.org_id, "lead.status_changed", f"lead:{lead.id}",
        lambda: {**lead_payload(session, lead), "previous_status": previous.value})
    return lead


def mark_trial_booked(session: Session, lead: Lead) -> bool:
    """A trial class was booked for the lead (``trials.service.book``): a lead still at new/contacted moves to
    trial_booked, in the booking's transaction, and the CRM hears lead.status_changed. A lead further along
    (attended, enrolled) or lost keeps its status: a booking must not undo what sales recorded. True when moved."""
    previous = lead.status
    if previous not in (LeadStatus.new, LeadStatus.contacted):
        return False
    lead.status, lead.updated_at = LeadStatus.trial_booked, utcnow()
    rescore(session, lead)
    webhooks_service.emit_if_subscribed(
        session, lead.org_id, "lead.status_changed", f"lead:{lead.id}",
        lambda: {**lead_payload(session, lead), "previous_status": previous.value})
    return True


def mark_trial_attended(session: Session, actor: audit_service.Actor, lead_id: int) -> bool:
    """The lead's child came to a trial class (``trials.service.mark_attendance``): a lead at trial_booked moves
    to attended through ``set_status`` (audited, lead.status_changed). A lead elsewhere in the pipeline stays.
    The lead row is locked first, so two attendances recorded at once move it once. True when moved."""
    lead = current_lead(session, actor.org_id, lead_id, lock=True)
    if lead.status != LeadStatus.trial_booked:
        return False
    set_status(session, actor, lead.id, LeadStatus.attended.value)
    return True


def unmark_trial_attended(session: Session, actor: audit_service.Actor, lead_id: int, *,
                          attended_another: bool) -> bool:
    """An attendance was undone or corrected to no-show: a lead at attended goes back to trial_booked, unless
    another of its trial classes was attended. True when moved."""
    lead = current_lead(session, actor.org_id, lead_id, lock=True)
    if lead.status != LeadStatus.attended or attended_another:
        return False
    set_status(session, actor, lead.id, LeadStatus.trial_booked.value)
    return True


@dataclass(frozen=True)
class CardGrade:
    level: str
    score: int
    reasons: tuple[str, ...]
    status: str


def card_grade(session: Session, org_id: int, contact_id: int) -> CardGrade | None:
    """The grade line of the lead card ("A · 75 分" and why), or None without a lead."""
    lead = lead_for_contact(session, org_id, contact_id)
    if lead is None:
        return None
    return CardGrade(lead.level, lead.score, tuple(lead.score_reasons or ()), lead.status.value)


KNOWN_SIGNALS = ("has_phone", "has_wechat", "return_visit", "trial_booked", *grading.MESSAGE_SIGNALS)


def save_grading(session: Session, actor: audit_service.Actor, rules_text: str, a_threshold: int,
                 b_threshold: int) -> LeadGrading:
    """An org's grading rules, one per line as ``signal|points|label`` (signals: the built-in ones or
    ``field:<card field key>``). Existing leads are graded again on their next signal."""
    field_keys = {d.key for d in field_defs(session, actor.org_id)}
    rules: list[list[Any]] = []
    for number, line in enumerate(rules_text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) != 3:
            raise LeadError("bad_rule", f"第 {number} 行应为“信号|分值|说明”", "rules")
        signal, points, label = parts
        known = signal in KNOWN_SIGNALS or (signal.startswith("field:") and signal[6:] in field_keys)
        if not known:
            raise LeadError("bad_rule", f"第 {number} 行：未知信号 {signal[:40]}", "rules")
        try:
            value = int(points)
        except ValueError:
            raise LeadError("bad_rule", f"第 {number} 行：分值须为整数", "rules") from None
        if not -100 <= value <= 100 or not label or len(label) > 30:
            raise LeadError("bad_rule", f"第 {number} 行：分值在 -100 到 100 之间，说明 1–30 个字", "rules")
        rules.append([signal, value, label])
    if not rules or len(rules) > 50:
        raise LeadError("bad_rule", "请填写 1–50 条规则", "rules")
    if not 0 < b_threshold < a_threshold <= 1000:
        raise LeadError("bad_threshold", "须满足 0 < B 级分数线 < A 级分数线", "a_threshold")
    row = session.scalars(org_query(LeadGrading, actor.org_id)).first()
    if row is None:
        row = LeadGrading(org_id=actor.org_id)
        session.add(row)
    row.rules, row.a_threshold, row.b_threshold = rules, a_threshold, b_threshold
    session.flush()
    audit_service.record(session, actor, "leads.grading", "lead_grading", row.id, rules=rules)
    return row


MAX_NOTE = 2000


def add_note(session: Session, actor: audit_service.Actor, lead_id: int, text: str, *,
             remind_at: dt.datetime | None = None, author: str = "") -> LeadNote:
    """A follow-up note on the lead, with an optional reminder (shown on the leads page when due)."""
    lead = get_lead(session, actor.org_id, lead_id)
    text = text.strip()
    if not text:
        raise LeadError("empty", "跟进记录不能为空", "text")
    if len(text) > MAX_NOTE:
        raise LeadError("too_long", f"跟进记录不能超过 {MAX_NOTE} 个字", "text")
    if remind_at is not None and remind_at.tzinfo is None:
        raise LeadError("bad_time", "提醒时间格式不正确", "remind_at")
    note = LeadNote(org_id=actor.org_id, lead_id=lead.id, user_id=actor.user_id, author=author[:100], text=text,
                    remind_at=remind_at)
    session.add(note)
    lead.updated_at = utcnow()
    session.flush()
    return note


def notes_of(session: Session, org_id: int, lead_id: int, limit: int = 20) -> list[LeadNote]:
    return list(session.scalars(org_query(LeadNote, org_id).where(LeadNote.lead_id == lead_id)
                                .order_by(LeadNote.id.desc()).limit(limit)))


def due_reminders(session: Session, org_id: int, *, user_id: int | None = None, now: dt.datetime | None = None
                  ) -> list[LeadNote]:
    """Reminders that are due and not done (one user's, or everyone's)."""
    stmt = org_query(LeadNote, org_id).where(LeadNote.remind_at.is_not(None), LeadNote.remind_at <= (now or utcnow()),
                                             LeadNote.done.is_(False))
    if user_id is not None:
        stmt = stmt.where(LeadNote.user_id == user_id)
    return list(session.scalars(stmt.order_by(LeadNote.remind_at).limit(50)))


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------
# "Unconverted": the pipeline never reached a trial or enrolment (new, contacted or lost with no trial booking).

UNCONVERTED = (LeadStatus.new, LeadStatus.contacted, LeadStatus.lost)


def export_for_contact(session: Session, org_id: int, contact_id: int) -> dict[str, Any] | None:
    """The contact's lead card: status, grade, every value with its source and evidence, and the notes."""
    lead = lead_for_contact(session, org_id, contact_id)
    if lead is None:
        return None
    notes = session.scalars(select(LeadNote).where(LeadNote.org_id == org_id, LeadNote.lead_id == lead.id)
                            .order_by(LeadNote.id))
    return {**lead_payload(session, lead), "level": lead.level, "score": lead.score,
            "score_reasons": lead.score_reasons, "merged_into_id": lead.merged_into_id,
            "notes": [{"id": n.id, "author": n.author, "text": n.text, "created_at": n.created_at.isoformat(),
                       "remind_at": n.remind_at.isoformat() if n.remind_at else None} for n in notes]}


def lead_ids_of_contact(session: Session, org_id: int, contact_id: int) -> list[int]:
    return list(session.scalars(select(Lead.id).where(Lead.org_id == org_id, Lead.contact_id == contact_id)))


def erase_for_contact(session: Session, org_id: int, contact_id: int, now: dt.datetime) -> tuple[list[int], int]:
    """Deletes the card's values and notes and blanks the lead's phone and landing page; the lead row stays with
    its status, grade letter, channel and times (the funnel and capture-rate reports count it). Returns the lead
    ids and the number of values and notes deleted."""
    ids = lead_ids_of_contact(session, org_id, contact_id)
    if not ids:
        return [], 0
    values = session.execute(delete(LeadValue).where(LeadValue.org_id == org_id, LeadValue.lead_id.in_(ids)))
    notes = session.execute(delete(LeadNote).where(LeadNote.org_id == org_id, LeadNote.lead_id.in_(ids)))
    session.execute(update(Lead).where(Lead.org_id == org_id, Lead.id.in_(ids)).values(
        phone_e164=None, landing_page=None, score_reasons=[], updated_at=now),
        execution_options={"synchronize_session": "fetch"})
    return ids, int(values.rowcount or 0) + int(notes.rowcount or 0)  # type: ignore[attr-defined]


def stale_unconverted(session: Session, org_id: int, before: dt.datetime, limit: int, *,
                      keep_contacts: list[Select[Any]], keep_leads: Select[Any]) -> list[Lead]:
    """Unconverted leads untouched since ``before`` (no update, no note, no reminder after it), not merged into
    another lead, whose contact is not in any of ``keep_contacts`` and whose id is not in ``keep_leads``."""
    recent_notes = select(LeadNote.lead_id).where(
        LeadNote.org_id == org_id, (LeadNote.created_at >= before) | (LeadNote.remind_at >= before))
    stmt = (select(Lead)
            .where(Lead.org_id == org_id, Lead.status.in_(UNCONVERTED), Lead.merged_into_id.is_(None),
                   Lead.updated_at < before, Lead.id.not_in(recent_notes), Lead.id.not_in(keep_leads))
            .order_by(Lead.id).limit(limit))
    for keep in keep_contacts:
        stmt = stmt.where(Lead.contact_id.not_in(keep))
    return list(session.scalars(stmt))


def contacts_merged_into(session: Session, org_id: int, lead_id: int) -> list[int]:
    """Contacts whose lead was merged into this one: the same person on another channel."""
    return list(session.scalars(select(Lead.contact_id).where(Lead.org_id == org_id,
                                                              Lead.merged_into_id == lead_id)))
