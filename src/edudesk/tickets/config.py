"""The admin's side of tickets: the org's own fields and its SLA policies, every change audited.

A policy change applies to tickets created (or re-prioritised, or moved to another group) afterwards; due times
already set stay as promised, so a ticket's clock never jumps because someone edited a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, get_in_org, org_query
from edudesk.routing import service as routing_service
from edudesk.tickets import fields
from edudesk.tickets.core import TicketError
from edudesk.tickets.models import SlaPolicy, TicketFieldDef, TicketPriority

MAX_FIELDS = 50
MAX_POLICIES = 100
# A year of business minutes is more than any school promises.
MAX_MINUTES = 525_600


def list_policies(session: Session, org_id: int) -> list[SlaPolicy]:
    return list(session.scalars(org_query(SlaPolicy, org_id).order_by(SlaPolicy.position, SlaPolicy.id)))


def list_fields(session: Session, org_id: int) -> list[TicketFieldDef]:
    return list(session.scalars(org_query(TicketFieldDef, org_id)
                                .order_by(TicketFieldDef.position, TicketFieldDef.id)))


# --- fields ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldInput:
    key: str
    label: str
    kind: str = "text"
    options: tuple[str, ...] = ()
    required: bool = False
    enabled: bool = True
    position: int = 0


def save_field(session: Session, actor: audit_service.Actor, data: FieldInput, field_id: int | None = None
               ) -> TicketFieldDef:
    """Creates a field, or updates one (its key stays: stored values are filed under it)."""
    existing = list_fields(session, actor.org_id)
    if field_id is None:
        key, label, kind, options = fields.check_definition(data.key, data.label, data.kind, list(data.options))
        if any(d.key == key for d in existing):
            raise TicketError("duplicate_key", f"字段标识 {key} 已存在", "key")
        if len(existing) >= MAX_FIELDS:
            raise TicketError("too_many_fields", f"最多 {MAX_FIELDS} 个工单字段", "key")
        row = TicketFieldDef(org_id=actor.org_id, key=key)
        session.add(row)
    else:
        row = get_in_org(session, TicketFieldDef, field_id, actor.org_id, for_update=True)
        _, label, kind, options = fields.check_definition(row.key, data.label, data.kind, list(data.options))
    if any(d.label == label and d.id != row.id for d in existing):
        raise TicketError("duplicate_label", f"已有名为“{label}”的字段", "label")
    if not -1000 <= data.position <= 1000:
        raise TicketError("bad_position", "排序须在 -1000 到 1000 之间", "position")
    row.label, row.kind, row.options = label, kind, options
    row.required, row.enabled, row.position = data.required, data.enabled, data.position
    session.flush()
    audit_service.record(session, actor, "ticket_field.create" if field_id is None else "ticket_field.update",
                         "ticket_field", row.id, key=row.key, label=label, kind=kind, required=row.required,
                         enabled=row.enabled)
    return row


def delete_field(session: Session, actor: audit_service.Actor, field_id: int) -> None:
    """Removes the definition; values already stored on tickets stay in their JSON (shown no more)."""
    row = get_in_org(session, TicketFieldDef, field_id, actor.org_id, for_update=True)
    audit_service.record(session, actor, "ticket_field.delete", "ticket_field", row.id, key=row.key,
                         label=row.label)
    session.delete(row)
    session.flush()


# --- SLA policies ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyInput:
    name: str
    first_response_minutes: int
    resolution_minutes: int
    priority: str = ""  # "" = any
    group_id: int | None = None  # None = any
    warn_percent: int = 80
    position: int = 0
    enabled: bool = True


def _checked(session: Session, org_id: int, data: PolicyInput) -> tuple[str, TicketPriority | None]:
    name = " ".join(data.name.split())
    if not name or len(name) > 100:
        raise TicketError("bad_name", "策略名称不能为空，且不超过 100 个字", "name")
    priority = None
    if data.priority:
        if data.priority not in TicketPriority.__members__:
            raise TicketError("bad_priority", "优先级须是低、普通、高、紧急之一", "priority")
        priority = TicketPriority(data.priority)
    if data.group_id is not None and data.group_id not in {g.id for g in routing_service.list_groups(session, org_id)}:
        raise NotFoundError("SkillGroup", data.group_id)
    for value, field_name, label in ((data.first_response_minutes, "first_response_minutes", "首次响应时限"),
                                     (data.resolution_minutes, "resolution_minutes", "解决时限")):
        if not 1 <= value <= MAX_MINUTES:
            raise TicketError("bad_minutes", f"{label}须在 1 到 {MAX_MINUTES} 分钟之间", field_name)
    if data.resolution_minutes < data.first_response_minutes:
        raise TicketError("resolution_before_response", "解决时限不能短于首次响应时限", "resolution_minutes")
    if not 1 <= data.warn_percent <= 99:
        raise TicketError("bad_warn_percent", "预警比例须在 1% 到 99% 之间", "warn_percent")
    if not -1000 <= data.position <= 1000:
        raise TicketError("bad_position", "排序须在 -1000 到 1000 之间", "position")
    return name, priority


def save_policy(session: Session, actor: audit_service.Actor, data: PolicyInput, policy_id: int | None = None
                ) -> SlaPolicy:
    name, priority = _checked(session, actor.org_id, data)
    if policy_id is None:
        if len(list_policies(session, actor.org_id)) >= MAX_POLICIES:
            raise TicketError("too_many_policies", f"最多 {MAX_POLICIES} 条 SLA 策略", "name")
        row = SlaPolicy(org_id=actor.org_id)
        session.add(row)
    else:
        row = get_in_org(session, SlaPolicy, policy_id, actor.org_id, for_update=True)
    row.name, row.priority, row.group_id = name, priority, data.group_id
    row.first_response_minutes, row.resolution_minutes = data.first_response_minutes, data.resolution_minutes
    row.warn_percent, row.position, row.enabled = data.warn_percent, data.position, data.enabled
    session.flush()
    audit_service.record(session, actor, "sla_policy.create" if policy_id is None else "sla_policy.update",
                         "sla_policy", row.id, name=name, priority=data.priority or None, group_id=data.group_id,
                         first_response_minutes=data.first_response_minutes,
                         resolution_minutes=data.resolution_minutes, warn_percent=data.warn_percent,
                         enabled=data.enabled)
    return row


def delete_policy(session: Session, actor: audit_service.Actor, policy_id: int) -> None:
    """Tickets under the policy keep their due times (and are checked for breaches, without warnings)."""
    row = get_in_org(session, SlaPolicy, policy_id, actor.org_id, for_update=True)
    audit_service.record(session, actor, "sla_policy.delete", "sla_policy", row.id, name=row.name)
    session.delete(row)
    session.flush()
