"""Managing the lead card's fields (名片字段) from the admin page: add the org's own fields, edit labels, options and
order, switch fields off and on. Every change is audited.

Nothing here deletes data. Switching a field off hides it from the card; its values stay stored (the API, exports
of the CRM and a later switch-on still have them) and capture keeps filling it. Removing an option leaves values
that used it as they are. Keys and types never change (see ``leads.field_rules``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import get_in_org
from edudesk.leads import field_rules
from edudesk.leads import service as leads_service
from edudesk.leads.models import LeadFieldDef, LeadValue


@dataclass(frozen=True)
class FieldInput:
    """A field as the form sends it: options one per line, position blank for "at the end"."""

    label: str
    options: str = ""
    position: str = ""
    key: str = ""  # creation only
    type: str = ""  # creation only


@dataclass(frozen=True)
class FieldRow:
    field: LeadFieldDef
    values: int  # leads with a value in this field (what switching it off hides, not deletes)


def list_fields(session: Session, org_id: int) -> list[FieldRow]:
    """The org's card fields in card order, built-ins included, with how many leads have a value in each."""
    defs = leads_service.field_defs(session, org_id)
    counts = dict(session.execute(
        select(LeadValue.key, func.count()).where(LeadValue.org_id == org_id, LeadValue.value_text != "")
        .group_by(LeadValue.key)).all())
    return [FieldRow(d, int(counts.get(d.key, 0))) for d in defs]


def get_field(session: Session, org_id: int, field_id: int) -> LeadFieldDef:
    return get_in_org(session, LeadFieldDef, field_id, org_id)


def create_field(session: Session, actor: audit_service.Actor, data: FieldInput) -> LeadFieldDef:
    position = field_rules.clean_position(data.position)
    d = leads_service.add_custom_field(session, actor.org_id, data.key, data.label, data.type,
                                       field_rules.parse_options(data.options), position=position)
    audit_service.record(session, actor, "lead_field.create", "lead_field", d.id, key=d.key, label=d.label,
                         type=d.type.value, options=list(d.options), position=d.position)
    return d


def update_field(session: Session, actor: audit_service.Actor, field_id: int, data: FieldInput) -> LeadFieldDef:
    """New label, options and position for a field (built-in or the org's own); key and type stay."""
    d = get_field(session, actor.org_id, field_id)
    label = field_rules.clean_label(data.label)
    options = field_rules.clean_options(d.type, field_rules.parse_options(data.options), builtin=d.builtin)
    position = field_rules.clean_position(data.position)
    leads_service.check_label_free(leads_service.field_defs(session, actor.org_id), label, except_id=d.id)
    before = {"label": d.label, "options": list(d.options or []), "position": d.position}
    new_position = d.position if position is None else position
    after = {"label": label, "options": options, "position": new_position}
    if before == after:
        return d
    d.label, d.options, d.position = label, options, new_position
    session.flush()
    audit_service.record(session, actor, "lead_field.update", "lead_field", d.id, key=d.key,
                         changed={k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]})
    return d


def set_enabled(session: Session, actor: audit_service.Actor, field_id: int, enabled: bool) -> LeadFieldDef:
    """Shows or hides a field on the card; its stored values are kept either way."""
    d = get_field(session, actor.org_id, field_id)
    if not enabled and d.key in field_rules.ALWAYS_ENABLED:
        raise field_rules.FieldError("always_enabled", f"「{d.label}」是联系方式字段，不能停用", "enabled")
    if d.enabled == enabled:
        return d
    d.enabled = enabled
    session.flush()
    audit_service.record(session, actor, "lead_field.enable" if enabled else "lead_field.disable", "lead_field",
                         d.id, key=d.key)
    return d
