"""Storing the org's bot scripts (话术流程): save (validated, versioned), enable/disable, delete, export.

The definition is stored as the flow's own JSON, so what an admin exports is exactly what they can import into
another org or back after an edit. Every save bumps the version, keeps the old definition in
``BotFlowVersion`` and tells every instance to rebuild the org's bot.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.bot.flows import Flow, FlowError, load_flow
from edudesk.bot.models import BotFlow, BotFlowVersion
from edudesk.db import get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.events import DomainEvent, record
from edudesk.leads import service as leads_service
from edudesk.orgs import service as orgs_service

MAX_FLOWS = 50
MAX_JSON_CHARS = 200_000


class ScriptError(DomainError):
    pass


def _changed(session: Session, org_id: int) -> None:
    record(session, DomainEvent("bot.changed", org_id, {"reason": "flow"}))
    orgs_service.bump_bot_version(session, org_id)


def list_flows(session: Session, org_id: int) -> list[BotFlow]:
    return list(session.scalars(org_query(BotFlow, org_id).order_by(BotFlow.position, BotFlow.id)))


def enabled_flows(session: Session, org_id: int) -> tuple[Flow, ...]:
    """The org's enabled scripts, parsed; a stored definition that no longer validates is skipped (and logged by
    the caller's build), never allowed to break the bot."""
    out = []
    for row in list_flows(session, org_id):
        if not row.enabled:
            continue
        try:
            out.append(load_flow(row.definition))
        except FlowError:
            continue
    return tuple(out)


def parse(raw: str, field_keys: set[str]) -> Flow:
    if not raw.strip():
        raise ScriptError("empty", "请填写话术流程的 JSON", "definition")
    if len(raw) > MAX_JSON_CHARS:
        raise ScriptError("too_long", f"流程定义不能超过 {MAX_JSON_CHARS} 个字符", "definition")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" nested deeper than the parser goes
        raise ScriptError("bad_json", f"JSON 格式错误：第 {getattr(exc, 'lineno', '?')} 行附近", "definition") from None
    try:
        return load_flow(data, field_keys=field_keys)
    except FlowError as exc:
        raise ScriptError("invalid_flow", exc.message, exc.path or "definition") from None


def save_flow(session: Session, actor: audit_service.Actor, raw: str) -> BotFlow:
    """Creates or updates (by the flow's ``key``) one script from its JSON."""
    keys = {d.key for d in leads_service.field_defs(session, actor.org_id)}
    flow = parse(raw, keys)
    existing = session.scalars(org_query(BotFlow, actor.org_id).where(BotFlow.key == flow.key)).first()
    definition: dict[str, Any] = json.loads(flow.model_dump_json())
    if existing is None:
        if len(list_flows(session, actor.org_id)) >= MAX_FLOWS:
            raise ScriptError("too_many", f"每个机构最多 {MAX_FLOWS} 个话术流程", "definition")
        row = BotFlow(org_id=actor.org_id, key=flow.key, name=flow.name, enabled=flow.enabled,
                      position=len(list_flows(session, actor.org_id)), version=1, definition=definition)
        session.add(row)
        session.flush()
    else:
        row = existing
        row.version += 1
        row.name, row.enabled = flow.name, flow.enabled
        row.definition = {**definition, "version": row.version}
        row.updated_at = utcnow()
    if existing is None:
        row.definition = {**definition, "version": row.version}
    session.add(BotFlowVersion(org_id=actor.org_id, flow_id=row.id, version=row.version, definition=row.definition,
                               created_by=actor.label))
    audit_service.record(session, actor, "bot.flow.save", "bot_flow", row.id, key=row.key, version=row.version)
    _changed(session, actor.org_id)
    return row


def set_enabled(session: Session, actor: audit_service.Actor, flow_id: int, enabled: bool) -> BotFlow:
    row = get_in_org(session, BotFlow, flow_id, actor.org_id)
    row.enabled = enabled
    row.definition = {**row.definition, "enabled": enabled}
    audit_service.record(session, actor, "bot.flow.enable" if enabled else "bot.flow.disable", "bot_flow", row.id)
    _changed(session, actor.org_id)
    return row


def delete_flow(session: Session, actor: audit_service.Actor, flow_id: int) -> None:
    row = get_in_org(session, BotFlow, flow_id, actor.org_id)
    audit_service.record(session, actor, "bot.flow.delete", "bot_flow", row.id, key=row.key, definition=row.definition)
    session.delete(row)
    _changed(session, actor.org_id)


def export_json(session: Session, org_id: int, flow_id: int) -> str:
    row = get_in_org(session, BotFlow, flow_id, org_id)
    return json.dumps(row.definition, ensure_ascii=False, indent=2)
