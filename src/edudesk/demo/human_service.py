"""The demo institution's human service: skill groups with their strategies, routing rules, opening hours and the
off-hours script, so that ``edudesk demo`` routes a VIP parent to the senior maths teacher and keeps night-time
questions as tickets."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.templates import OFF_HOURS_FLOW
from edudesk.canned import service as canned_service
from edudesk.hours import service as hours_service
from edudesk.routing import service as routing_service
from edudesk.routing.models import SkillGroup, Strategy
from edudesk.tickets import config as tickets_config

# Open every day 08:00–22:00 Beijing time: parents ask in the evening, after work and homework.
DEMO_HOURS = {
    "timezone": "Asia/Shanghai",
    "weekly": {day: [["08:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "holidays": [],
    "workdays": [],
}
# Ticket targets in business minutes: (name, priority or "" for any, first response, resolution).
DEMO_SLA = (
    ("紧急工单", "urgent", 30, 4 * 60),
    ("高优先级", "high", 60, 8 * 60),
    ("普通工单", "", 4 * 60, 3 * 14 * 60),
)
# (name, conditions, group name or None, priority, seniors first); the first match decides.
DEMO_RULES: tuple[tuple[str, dict[str, list[str]], str, int, bool], ...] = (
    ("售后问题", {"faq_category": ["退费与转班", "学习反馈"]}, "售后服务", 1, False),
    ("英语课程咨询", {"page_contains": ["/english", "英语"]}, "少儿英语", 0, False),
    ("英语问题", {"faq_category": ["课程/英语"]}, "少儿英语", 0, False),
    ("其他咨询默认小学数学", {}, "小学数学", 0, False),
)


def seed_human_service(session: Session, actor: Actor, groups: dict[str, SkillGroup],
                       members: dict[str, int]) -> None:
    """``groups`` by name (the demo's teaching groups), ``members`` username → user id."""
    after_sales = routing_service.create_group(session, actor, "售后服务", "退费、调课、请假与投诉",
                                               strategy=Strategy.last_agent, queue_timeout_minutes=15)
    routing_service.add_member(session, actor, after_sales.id, members["li"], 3)
    routing_service.add_member(session, actor, after_sales.id, members["zhuguan"], 5)
    groups = {**groups, after_sales.name: after_sales}
    for name, conditions, group_name, priority, senior in DEMO_RULES:
        routing_service.save_rule(session, actor, name=name, conditions=dict(conditions),
                                  group_id=groups[group_name].id if group_name else None, priority=priority,
                                  senior_first=senior)
    hours_service.save(session, actor, group_id=None, spec=DEMO_HOURS, enabled=True, closed_message="")
    scripts.save_flow(session, actor, json.dumps(OFF_HOURS_FLOW, ensure_ascii=False))
    for position, (name, level, first, resolve) in enumerate(DEMO_SLA):
        tickets_config.save_policy(session, actor, tickets_config.PolicyInput(
            name=name, priority=level, first_response_minutes=first, resolution_minutes=resolve,
            position=position))
    canned_service.seed_demo(session, actor.org_id)
