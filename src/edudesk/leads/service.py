"""The lead card: field definitions per org, and capturing what visitors say about themselves into it.

Capture runs on every visitor message (``inbound.service``), not only inside a bot script: parents give their
number or their child's grade whenever they feel like it. The rules of who wins a field:
- a value an agent typed is never overwritten by extraction (the agent talked to the parent);
- a visitor who restates a field (a new number, "其实是四年级") replaces what they said before;
- subjects accumulate (数学, then 英语 → both).
Each value keeps the words it came from and the message, so the card can say where it came from.

This module is the area's one public entry point (other areas call ``leads_service.X``): the work is split by
purpose into ``base`` (field definitions, lookups, grading, the CRM payload), ``capture`` (writing what visitors
say onto the card, merging duplicates) and ``pipeline`` (list, owners, status, notes), whose public names are
re-exported here. The card as the console shows it, custom fields and grading rules live here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.db import org_query
from edudesk.leads import field_rules, grading
from edudesk.leads.base import (
    BUILTIN_FIELDS,
    CONTACT_KEYS,
    FROM_EXTRACTION,
    GRADES,
    SPAN_OF,
    TAG_POINTS,
    TAG_PREFIX,
    LeadError,
    contact_signals,
    current_lead,
    display_value,
    field_defs,
    get_lead,
    grading_rules,
    lead_by_phone,
    lead_for_contact,
    lead_payload,
    rescore,
    values_of,
)
from edudesk.leads.capture import (
    Capture,
    capture,
    first_touch,
    note_touch,
    record_values,
)
from edudesk.leads.models import (
    Lead,
    LeadFieldDef,
    LeadGrading,
    ValueSource,
)
from edudesk.leads.pipeline import (
    MAX_NOTE,
    LeadChange,
    LeadFilters,
    LeadPage,
    LeadRow,
    add_note,
    assign,
    changes_of,
    due_reminders,
    filtered,
    mark_trial_attended,
    mark_trial_booked,
    notes_of,
    search,
    set_status,
    unmark_trial_attended,
)
from edudesk.leads.privacy import (
    UNCONVERTED,
    contacts_merged_into,
    erase_for_contact,
    export_for_contact,
    lead_ids_of_contact,
    stale_unconverted,
)
from edudesk.leads.reports import counts_by_campaign

__all__ = [
    "BUILTIN_FIELDS",
    "CONTACT_KEYS",
    "FROM_EXTRACTION",
    "GRADES",
    "KNOWN_SIGNALS",
    "MAX_NOTE",
    "SPAN_OF",
    "TAG_PREFIX",
    "UNCONVERTED",
    "Capture",
    "CardField",
    "CardGrade",
    "LeadChange",
    "LeadError",
    "LeadFilters",
    "LeadPage",
    "LeadRow",
    "ValueSource",
    "add_custom_field",
    "add_note",
    "add_signal",
    "assign",
    "capture",
    "card",
    "card_grade",
    "changes_of",
    "check_label_free",
    "contact_signals",
    "contacts_merged_into",
    "counts_by_campaign",
    "current_lead",
    "display_value",
    "due_reminders",
    "erase_for_contact",
    "export_for_contact",
    "field_defs",
    "filtered",
    "first_touch",
    "get_lead",
    "grading_rules",
    "known_values",
    "lead_by_phone",
    "lead_for_contact",
    "lead_ids_of_contact",
    "lead_payload",
    "leads_for_contacts",
    "mark_trial_attended",
    "mark_trial_booked",
    "message_signals",
    "note_touch",
    "notes_of",
    "record_values",
    "rescore",
    "save_grading",
    "search",
    "set_status",
    "set_tag_points",
    "stale_unconverted",
    "unmark_trial_attended",
    "values_of",
]


def known_values(session: Session, org_id: int, contact_id: int) -> dict[str, Any]:
    """The card's values by key, for a bot script's "skip if known"."""
    lead = lead_for_contact(session, org_id, contact_id)
    return {k: v.value for k, v in values_of(session, lead).items()} if lead is not None else {}


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
        text = display_value(v.value) if v is not None else ""
        if d.key == "phone" and text and not show_phone:
            text = contacts_service.mask_phone(text) or ""
        out.append(CardField(d.key, d.label, text, v.source.value if v is not None else None,
                             v.evidence if v is not None else "", v.message_id if v is not None else None))
    return out


def leads_for_contacts(session: Session, org_id: int, contact_ids: Iterable[int]) -> dict[int, Lead]:
    ids = list(set(contact_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.contact_id.in_(ids)))
    return {lead.contact_id: lead for lead in rows}


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


KNOWN_SIGNALS = ("has_phone", "has_wechat", "return_visit", "trial_booked", *grading.MESSAGE_SIGNALS,
                 *grading.CALL_SIGNALS)


def message_signals(text: str, category: str | None = None) -> list[str]:
    """The buying signals a visitor message shows (asked_price, asked_trial, …; in ``MESSAGE_SIGNALS`` order), for
    the bot: a script waits for one of them before it asks a shelved question again."""
    found = grading.signals_in(text, category)
    return [name for name in grading.MESSAGE_SIGNALS if name in found]


def save_grading(session: Session, actor: audit_service.Actor, rules_text: str, a_threshold: int,
                 b_threshold: int) -> LeadGrading:
    """An org's grading rules, one per line as ``signal|points|label`` (signals: the built-in ones,
    ``field:<card field key>`` or ``tag:<contact tag>``). Existing leads are graded again on their next signal."""
    field_keys = {d.key for d in field_defs(session, actor.org_id)}
    rules: list[list[Any]] = []
    for number, line in enumerate(rules_text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) != 3:
            raise LeadError("bad_rule", f"第 {number} 行应为“信号|分值|说明”", "rules")
        signal, points, label = parts
        known = (signal in KNOWN_SIGNALS or (signal.startswith("field:") and signal[6:] in field_keys)
                 or (signal.startswith(TAG_PREFIX) and 0 < len(signal) - len(TAG_PREFIX) <= MAX_TAG))
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


MAX_TAG = 32


def set_tag_points(session: Session, contact: Contact, points: dict[str, tuple[int, str]]) -> None:
    """The classification rules' points per ``tag:<name>`` signal (visitors area), kept on the contact, and the
    contact's lead graded again now: its tags changed, so its grade and the reasons ("+15 价格敏感") may have."""
    clean = {signal[:40]: [int(p), str(label)[:30]] for signal, (p, label) in points.items()}
    if clean != (contact.attributes or {}).get(TAG_POINTS, {}):
        contact.attributes = {**(contact.attributes or {}), TAG_POINTS: clean}
    lead = lead_for_contact(session, contact.org_id, contact.id)
    if lead is not None:
        rescore(session, lead, contact)


def add_signal(session: Session, lead: Lead, signal: str, *, drop: Iterable[str] = ()) -> grading.Grade:
    """Notes a signal seen outside the visitor's messages (a campaign call's outcome: ``grading.CALL_SIGNALS``) on
    the lead's contact, dropping ``drop`` (a later call's outcome replaces an earlier one's), and grades the lead
    again, so the card shows the reason ("+20 电话外呼：有意向")."""
    if signal not in grading.CALL_SIGNALS:
        raise LeadError("bad_signal", f"未知信号 {signal[:40]}", "signal")
    contact = session.get(Contact, lead.contact_id)
    if contact is not None:
        kept = set(contact_signals(contact)) - set(drop)
        contact.attributes = {**(contact.attributes or {}), "signals": sorted({*kept, signal})}
    return rescore(session, lead, contact)
