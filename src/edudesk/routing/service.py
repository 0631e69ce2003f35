"""Skill groups and their members. Routing rules and automatic assignment build on these."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import User
from edudesk.db import get_in_org, org_query
from edudesk.errors import DomainError
from edudesk.routing.models import SkillGroup, SkillGroupMember


class RoutingError(DomainError):
    pass


def create_group(session: Session, actor: audit_service.Actor, name: str, description: str = "") -> SkillGroup:
    name = name.strip()
    if not name or len(name) > 64:
        raise RoutingError("bad_name", "技能组名称不能为空，且不超过 64 个字符", "name")
    if session.scalars(org_query(SkillGroup, actor.org_id).where(SkillGroup.name == name)).first():
        raise RoutingError("duplicate_name", f"技能组 {name} 已存在", "name")
    group = SkillGroup(org_id=actor.org_id, name=name, description=description.strip()[:300])
    session.add(group)
    session.flush()
    audit_service.record(session, actor, "skill_group.create", "skill_group", group.id, name=name)
    return group


def add_member(session: Session, actor: audit_service.Actor, group_id: int, user_id: int, level: int = 1
               ) -> SkillGroupMember:
    group = get_in_org(session, SkillGroup, group_id, actor.org_id)
    user = get_in_org(session, User, user_id, actor.org_id)
    if not 1 <= level <= 5:
        raise RoutingError("bad_level", "技能等级须在 1–5 之间", "level")
    member = SkillGroupMember(org_id=actor.org_id, group_id=group.id, user_id=user.id, level=level)
    session.add(member)
    session.flush()
    audit_service.record(session, actor, "skill_group.add_member", "skill_group", group.id, user_id=user.id,
                         level=level)
    return member


def groups_by_user(session: Session, org_id: int) -> dict[int, list[tuple[str, int]]]:
    """user id → [(group name, level)], for showing teams beside each account."""
    stmt = (
        select(SkillGroupMember.user_id, SkillGroup.name, SkillGroupMember.level)
        .join(SkillGroup, SkillGroup.id == SkillGroupMember.group_id)
        .where(SkillGroupMember.org_id == org_id, SkillGroup.org_id == org_id)
        .order_by(SkillGroup.name)
    )
    result: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for user_id, name, level in session.execute(stmt):
        result[user_id].append((name, level))
    return dict(result)


def list_groups(session: Session, org_id: int) -> list[SkillGroup]:
    return list(session.scalars(org_query(SkillGroup, org_id).order_by(SkillGroup.id)))
