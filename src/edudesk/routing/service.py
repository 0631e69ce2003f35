"""Skill groups, members, routing rules, and the staff actions that move a conversation between people.

Every function takes the acting user or ``Actor`` and works inside that org only; the caller commits.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import Role, User
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import get_in_org, org_query
from edudesk.errors import DomainError
from edudesk.routing import dispatch, presence
from edudesk.routing.models import (
    DEFAULT_QUEUE_TIMEOUT_MINUTES,
    AgentStatus,
    RoutingRule,
    SkillGroup,
    SkillGroupMember,
    Strategy,
)
from edudesk.routing.rules import Rule, clean_conditions, clean_priority

S = ConversationState
MAX_RULES = 200


class RoutingError(DomainError):
    pass


def _actor(user: User) -> audit_service.Actor:
    return audit_service.Actor(org_id=user.org_id, user_id=user.id, label=user.username)


# --- groups and members ---------------------------------------------------------------------------------------


def _clean_group_fields(name: str, description: str, strategy: str, queue_timeout_minutes: int
                        ) -> tuple[str, str, Strategy, int]:
    name = name.strip()
    if not name or len(name) > 64:
        raise RoutingError("bad_name", "技能组名称不能为空，且不超过 64 个字符", "name")
    try:
        chosen = Strategy(strategy)
    except ValueError:
        raise RoutingError("bad_strategy", "分配方式不正确", "strategy") from None
    if isinstance(queue_timeout_minutes, bool) or not 0 <= queue_timeout_minutes <= 24 * 60:
        raise RoutingError("bad_timeout", "排队超时须为 0–1440 分钟（0 表示不超时）", "queue_timeout_minutes")
    return name, description.strip()[:300], chosen, queue_timeout_minutes


def create_group(session: Session, actor: audit_service.Actor, name: str, description: str = "", *,
                 strategy: str = Strategy.least_busy,
                 queue_timeout_minutes: int = DEFAULT_QUEUE_TIMEOUT_MINUTES) -> SkillGroup:
    name, description, chosen, timeout = _clean_group_fields(name, description, strategy, queue_timeout_minutes)
    if session.scalars(org_query(SkillGroup, actor.org_id).where(SkillGroup.name == name)).first():
        raise RoutingError("duplicate_name", f"技能组 {name} 已存在", "name")
    group = SkillGroup(org_id=actor.org_id, name=name, description=description, strategy=chosen,
                       queue_timeout_minutes=timeout)
    session.add(group)
    session.flush()
    audit_service.record(session, actor, "skill_group.create", "skill_group", group.id, name=name)
    return group


def update_group(session: Session, actor: audit_service.Actor, group_id: int, *, name: str, description: str,
                 strategy: str, queue_timeout_minutes: int) -> SkillGroup:
    group = get_in_org(session, SkillGroup, group_id, actor.org_id)
    name, description, chosen, timeout = _clean_group_fields(name, description, strategy, queue_timeout_minutes)
    clash = session.scalars(org_query(SkillGroup, actor.org_id).where(SkillGroup.name == name,
                                                                      SkillGroup.id != group.id)).first()
    if clash is not None:
        raise RoutingError("duplicate_name", f"技能组 {name} 已存在", "name")
    group.name, group.description, group.strategy, group.queue_timeout_minutes = name, description, chosen, timeout
    audit_service.record(session, actor, "skill_group.update", "skill_group", group.id, name=name,
                         strategy=chosen.value, queue_timeout_minutes=timeout)
    return group


def delete_group(session: Session, actor: audit_service.Actor, group_id: int) -> None:
    """Waiting conversations of the group fall back to the org-wide queue; its rules go with it."""
    group = get_in_org(session, SkillGroup, group_id, actor.org_id)
    session.execute(update(Conversation).where(Conversation.org_id == actor.org_id, Conversation.group_id == group.id)
                    .values(group_id=None).execution_options(synchronize_session=False))
    audit_service.record(session, actor, "skill_group.delete", "skill_group", group.id, name=group.name)
    session.delete(group)
    session.flush()


def add_member(session: Session, actor: audit_service.Actor, group_id: int, user_id: int, level: int = 1
               ) -> SkillGroupMember:
    group = get_in_org(session, SkillGroup, group_id, actor.org_id)
    user = get_in_org(session, User, user_id, actor.org_id)
    if isinstance(level, bool) or not 1 <= level <= 5:
        raise RoutingError("bad_level", "技能等级须在 1–5 之间", "level")
    member = session.scalars(select(SkillGroupMember).where(SkillGroupMember.group_id == group.id,
                                                            SkillGroupMember.user_id == user.id)).first()
    if member is None:
        member = SkillGroupMember(org_id=actor.org_id, group_id=group.id, user_id=user.id, level=level)
        session.add(member)
    member.level = level
    session.flush()
    audit_service.record(session, actor, "skill_group.add_member", "skill_group", group.id, user_id=user.id,
                         level=level)
    return member


def remove_member(session: Session, actor: audit_service.Actor, group_id: int, user_id: int) -> None:
    group = get_in_org(session, SkillGroup, group_id, actor.org_id)
    member = session.scalars(select(SkillGroupMember).where(
        SkillGroupMember.group_id == group.id, SkillGroupMember.user_id == user_id,
        SkillGroupMember.org_id == actor.org_id)).first()
    if member is None:
        raise RoutingError("not_member", "该成员不在此技能组", "user_id")
    session.delete(member)
    audit_service.record(session, actor, "skill_group.remove_member", "skill_group", group.id, user_id=user_id)


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


def members_by_group(session: Session, org_id: int) -> dict[int, list[tuple[User, int]]]:
    stmt = (select(SkillGroupMember.group_id, User, SkillGroupMember.level)
            .join(User, User.id == SkillGroupMember.user_id)
            .where(SkillGroupMember.org_id == org_id).order_by(SkillGroupMember.level.desc(), User.display_name))
    result: dict[int, list[tuple[User, int]]] = defaultdict(list)
    for group_id, user, level in session.execute(stmt):
        result[group_id].append((user, level))
    return dict(result)


def list_groups(session: Session, org_id: int) -> list[SkillGroup]:
    return list(session.scalars(org_query(SkillGroup, org_id).order_by(SkillGroup.id)))


# --- routing rules ----------------------------------------------------------------------------------------------


def list_rules(session: Session, org_id: int) -> list[RoutingRule]:
    return list(session.scalars(org_query(RoutingRule, org_id).order_by(RoutingRule.position, RoutingRule.id)))


def rules_for_routing(session: Session, org_id: int) -> list[Rule]:
    return [Rule(r.id, r.group_id, dict(r.conditions or {}), r.priority, r.senior_first, r.enabled)
            for r in list_rules(session, org_id)]


def save_rule(session: Session, actor: audit_service.Actor, *, rule_id: int | None = None, name: str,
              conditions: dict[str, object], group_id: int | None, priority: int, senior_first: bool,
              enabled: bool = True) -> RoutingRule:
    name = name.strip()
    if not name or len(name) > 100:
        raise RoutingError("bad_name", "规则名称不能为空，且不超过 100 个字符", "name")
    cleaned = clean_conditions(conditions)
    priority = clean_priority(priority)
    if group_id is not None:
        get_in_org(session, SkillGroup, group_id, actor.org_id)
    if rule_id is None:
        count = session.scalar(select(func.count()).select_from(RoutingRule).where(
            RoutingRule.org_id == actor.org_id)) or 0
        if count >= MAX_RULES:
            raise RoutingError("too_many_rules", f"最多 {MAX_RULES} 条分配规则", "name")
        rule = RoutingRule(org_id=actor.org_id, position=int(count) + 1)
        session.add(rule)
    else:
        rule = get_in_org(session, RoutingRule, rule_id, actor.org_id)
    rule.name, rule.conditions, rule.group_id = name, cleaned, group_id
    rule.priority, rule.senior_first, rule.enabled = priority, senior_first, enabled
    session.flush()
    audit_service.record(session, actor, "routing_rule.save", "routing_rule", rule.id, name=name,
                         conditions=cleaned, group_id=group_id, priority=priority)
    return rule


def move_rule(session: Session, actor: audit_service.Actor, rule_id: int, direction: int) -> None:
    """Swaps the rule with its neighbour above (-1) or below (+1); order decides which rule wins."""
    rules = list_rules(session, actor.org_id)
    index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
    if index is None:
        get_in_org(session, RoutingRule, rule_id, actor.org_id)  # raises NotFound
        return
    other = index + (1 if direction > 0 else -1)
    if not 0 <= other < len(rules):
        return  # already first (or last): nothing moves, nothing to audit
    rules[index], rules[other] = rules[other], rules[index]
    for position, rule in enumerate(rules, start=1):
        rule.position = position
    audit_service.record(session, actor, "routing_rule.move", "routing_rule", rule_id, direction=direction)


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    rule = get_in_org(session, RoutingRule, rule_id, actor.org_id)
    audit_service.record(session, actor, "routing_rule.delete", "routing_rule", rule.id, name=rule.name)
    session.delete(rule)


# --- moving conversations between people ------------------------------------------------------------------------


def transfer(session: Session, user: User, conversation_id: int, *, to_user_id: int | None = None,
             to_group_id: int | None = None, note: str = "") -> Conversation:
    """Hands a live conversation to a colleague (at once, within their capacity) or to a group's queue, with an
    internal note for whoever picks it up. The visitor is told they are being transferred, never the note."""
    if (to_user_id is None) == (to_group_id is None):
        raise RoutingError("bad_target", "请选择转接给某位老师或某个技能组", "target")
    note = note.strip()
    if len(note) > conversations_service.NOTE_MAX_CHARS:
        raise RoutingError("too_long", f"转接备注不能超过 {conversations_service.NOTE_MAX_CHARS} 个字", "note")
    conv = conversations_service.get(session, user.org_id, conversation_id, for_update=True)
    if user.role == Role.agent and conv.assignee_id not in (None, user.id):
        raise RoutingError("not_yours", "该会话正由其他客服接待")
    if conv.state not in (S.bot, S.queued, S.assigned):
        raise RoutingError("not_live", "该会话已结束，不能转接")
    if to_user_id is not None:
        target = get_in_org(session, User, to_user_id, user.org_id)
        if not target.is_active:
            raise RoutingError("inactive", "该账号已停用", "target")
        if target.id == conv.assignee_id:
            raise RoutingError("same_agent", "会话已在该老师名下", "target")
        if presence.effective_status(presence.state_for(session, target)) == AgentStatus.offline:
            raise RoutingError("offline", f"{target.display_name} 当前不在线", "target")
        if not presence.has_capacity(session, target):
            raise RoutingError("at_capacity", f"{target.display_name} 的接待量已满", "target")
        conversations_service.reassign(session, conv, target,
                                       text=f"正在为您转接 {target.display_name}，请稍候～")
        where = {"to_user_id": target.id}
        note_text = f"【转接自 {user.display_name}】{note}" if note else f"【转接自 {user.display_name}】"
    else:
        group = get_in_org(session, SkillGroup, int(to_group_id or 0), user.org_id)
        conversations_service.requeue(session, conv, group_id=group.id,
                                      text=f"正在为您转接「{group.name}」的老师，请稍候～")
        where = {"to_group_id": group.id}
        note_text = f"【{user.display_name} 转接到 {group.name}】{note}"
    conversations_service.post_internal_note(session, user, conv.id, note_text)
    audit_service.record(session, _actor(user), "conversation.transfer", "conversation", conv.id, **where)
    if to_group_id is not None:
        dispatch.dispatch(session, user.org_id, group_ids={conv.group_id})
    return conv


def take_over(session: Session, user: User, conversation_id: int) -> Conversation:
    """A supervisor (or admin) steps into any live conversation, whatever the agent's load."""
    if user.role == Role.agent:
        raise RoutingError("forbidden", "只有主管和管理员可以接管会话")
    conv = conversations_service.get(session, user.org_id, conversation_id, for_update=True)
    if conv.assignee_id == user.id and conv.state == S.assigned:
        return conv
    previous = conv.assignee_id
    conversations_service.reassign(session, conv, user, text=f"{user.display_name} 已接入，为您服务")
    conversations_service.post_internal_note(session, user, conv.id, f"【{user.display_name} 接管了会话】")
    audit_service.record(session, _actor(user), "conversation.take_over", "conversation", conv.id,
                         previous_assignee_id=previous)
    return conv


def live_conversations(session: Session, org_id: int) -> list[Conversation]:
    """Every conversation a supervisor may want to watch: with the bot, waiting, or with an agent."""
    return list(session.scalars(
        org_query(Conversation, org_id).where(Conversation.state.in_((S.bot, S.queued, S.assigned)))
        .order_by(Conversation.priority.desc(), Conversation.last_message_at.desc()).limit(500)))
