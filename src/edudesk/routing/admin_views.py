"""The routing admin pages (``/admin/routing``): skill groups and their members, the ordered routing rules, and each
agent's status and capacity.

Admins change; supervisors see the same pages read-only (forms disabled, no buttons; every POST answers 403). Forms
come as people fill them in (comma-separated lists, a 不限/是/否 select for VIP, grade checkboxes) and are turned into
the services' arguments here. What is valid is decided only by ``routing.service``, ``routing.rules`` and
``routing.presence``, whose errors name the field they are shown beside: a number box holding something that is not
a whole number is passed on as ``NOT_A_NUMBER``, which every limit refuses, so each limit is worded in one place.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, admin, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.db import NotFoundError, get_in_org
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.routing import presence, rules
from edudesk.routing import service as routing_service
from edudesk.routing.models import STRATEGY_LABELS, AgentStatus, RoutingRule, SkillGroup
from edudesk.web import page

router = APIRouter(prefix="/admin/routing", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=1000)]
ListText = Annotated[str, Form(max_length=20_000)]
Flag = Annotated[str, Form(max_length=10)]
NOT_MEMBER = "not_member"
NOT_A_NUMBER = -1
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database; a larger one names no record
TEXT_CONDITIONS = ("channel", "page_contains", "button", "faq_category", "contact_tags")
VIP_CHOICES: dict[str, bool | None] = {"": None, "yes": True, "no": False}
GROUP_FIELDS = ("name", "description", "strategy", "queue_timeout_minutes")
RULE_FIELDS = ("name", *TEXT_CONDITIONS, "vip", "lead_grade", "group_id", "priority")
NEW_GROUP = {"name": "", "description": "", "strategy": "least_busy", "queue_timeout_minutes": "10"}
NEW_RULE: dict[str, Any] = {"name": "", **dict.fromkeys(TEXT_CONDITIONS, ""), "vip": "", "lead_grade": [],
                            "group_id": "", "priority": "0", "senior_first": False, "enabled": True}
_NUMBER_RE = re.compile(r"\d{1,9}")  # also the full-width digits of a Chinese input method


def whole_number(raw: str) -> int:
    """What was typed into a number box; anything but a plain whole number becomes ``NOT_A_NUMBER``."""
    text = raw.strip()
    return int(text) if _NUMBER_RE.fullmatch(text) else NOT_A_NUMBER


def record_id(value: int) -> int:
    """A path id; one no row can have is simply not found (rather than an overflow inside the database)."""
    if not 1 <= value <= MAX_ID:
        raise NotFoundError("record", value)
    return value


def form_id(raw: str, field: str, message: str) -> int:
    """A record chosen in a select: anything but digits is refused beside it; an id of no record is not found."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise DomainError("bad_choice", message, field)
    return record_id(int(text))


def conditions_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The rule form's boxes as ``rules.clean_conditions`` takes them (it splits the comma-separated text)."""
    conditions: dict[str, Any] = {key: form[key] for key in TEXT_CONDITIONS}
    # An unknown choice goes on as typed, for clean_conditions to refuse beside the select.
    conditions["vip"] = VIP_CHOICES.get(form["vip"], form["vip"])
    conditions["lead_grade"] = list(form["lead_grade"])
    return conditions


def form_from_rule(rule: RoutingRule) -> dict[str, Any]:
    conditions = rule.conditions or {}
    form: dict[str, Any] = {key: ", ".join(conditions.get(key, [])) for key in TEXT_CONDITIONS}
    vip = conditions.get("vip")
    form.update(name=rule.name, vip="" if vip is None else "yes" if vip else "no",
                lead_grade=list(conditions.get("lead_grade", [])), group_id=str(rule.group_id or ""),
                priority=str(rule.priority), senior_first=rule.senior_first, enabled=rule.enabled)
    return form


def _field(exc: Rejected, known: tuple[str, ...]) -> str:
    return exc.field if exc.field in known else "form"


def _can_edit(user: User) -> bool:
    return user.role == Role.admin


# --- the overview: groups, rules, agents --------------------------------------------------------------------------


def _overview(request: Request, user: User, *, errors: dict[str, str] | None = None,
              group_form: dict[str, str] | None = None, agent_values: dict[int, str] | None = None,
              done: tuple[str, str] | None = None, status_code: int = 200) -> Response:
    """``done``: (what happened, to what) for the confirmation line the template words."""
    with get_ctx(request).db.session() as session:
        groups = routing_service.list_groups(session, user.org_id)
        return page(request, "admin/routing.html", status_code=status_code, user=user, groups=groups,
                    group_names={g.id: g.name for g in groups},
                    members=routing_service.members_by_group(session, user.org_id),
                    rules=routing_service.list_rules(session, user.org_id), describe=rules.describe,
                    board=presence.board(session, user.org_id), strategies=STRATEGY_LABELS,
                    offline=AgentStatus.offline, max_concurrent=presence.MAX_CONCURRENT_LIMIT,
                    vip_priority=rules.VIP_PRIORITY, a_priority=rules.A_GRADE_PRIORITY,
                    form=group_form or NEW_GROUP, agent_values=agent_values or {}, errors=errors or {}, done=done,
                    can_edit=_can_edit(user))


@router.get("", response_class=HTMLResponse)
def routing_admin(request: Request, user: Supervisor) -> Response:
    return _overview(request, user)


# --- skill groups and members --------------------------------------------------------------------------------------


def _group_page(request: Request, user: User, group_id: int, *, form: dict[str, str] | None = None,
                add_form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                done: tuple[str, str] | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        group = get_in_org(session, SkillGroup, record_id(group_id), user.org_id)
        members = routing_service.members_by_group(session, user.org_id).get(group.id, [])
        inside = {member.id for member, _ in members}
        staff = [u for u in auth_service.list_users(session, user.org_id) if u.is_active and u.id not in inside]
        rule_count = sum(1 for r in routing_service.list_rules(session, user.org_id) if r.group_id == group.id)
        current = form or {"name": group.name, "description": group.description, "strategy": group.strategy.value,
                           "queue_timeout_minutes": str(group.queue_timeout_minutes)}
        return page(request, "admin/routing_group.html", status_code=status_code, user=user, group=group,
                    members=members, staff=staff, rule_count=rule_count, strategies=STRATEGY_LABELS, form=current,
                    add_form=add_form or {"user_id": "", "level": "1"}, errors=errors or {}, done=done,
                    can_edit=_can_edit(user))


def _group_form(name: str, description: str, strategy: str, queue_timeout_minutes: str) -> dict[str, str]:
    return {"name": name, "description": description, "strategy": strategy,
            "queue_timeout_minutes": queue_timeout_minutes}


def _duplicate_name(name: str) -> Rejected:
    # Two admins saving the same name at once: the unique index refuses the second, worded as the service would.
    return Rejected(f"技能组 {name.strip()} 已存在", "duplicate_name", 422, "name")


@router.post("/groups", response_class=HTMLResponse)
def create_group(request: Request, user: Admin, name: Short = "", description: Short = "",
                 strategy: Short = "least_busy", queue_timeout_minutes: Short = "10",
                 csrf_token: CsrfField = "") -> Response:
    form = _group_form(name, description, strategy, queue_timeout_minutes)
    group = submit(request, csrf_token, lambda session: routing_service.create_group(
        session, actor_of(request, user), name, description, strategy=strategy,
        queue_timeout_minutes=whole_number(queue_timeout_minutes)), conflict=_duplicate_name(name))
    if isinstance(group, Rejected):
        return _overview(request, user, group_form=form, errors={_field(group, GROUP_FIELDS): group.message},
                         status_code=group.status)
    group_id, group_name = group.id, group.name
    # Straight on to the new group's page: members come next.
    return _group_page(request, user, group_id, done=("group_created", group_name))


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, user: Supervisor, group_id: PathId) -> Response:
    return _group_page(request, user, group_id)


@router.post("/groups/{group_id}", response_class=HTMLResponse)
def update_group(request: Request, user: Admin, group_id: PathId, name: Short = "", description: Short = "",
                 strategy: Short = "", queue_timeout_minutes: Short = "", csrf_token: CsrfField = "") -> Response:
    form = _group_form(name, description, strategy, queue_timeout_minutes)
    group = submit(request, csrf_token, lambda session: routing_service.update_group(
        session, actor_of(request, user), record_id(group_id), name=name, description=description,
        strategy=strategy, queue_timeout_minutes=whole_number(queue_timeout_minutes)), conflict=_duplicate_name(name))
    if isinstance(group, Rejected):
        return _group_page(request, user, group_id, form=form, errors={_field(group, GROUP_FIELDS): group.message},
                           status_code=group.status)
    saved = group.name
    return _group_page(request, user, group_id, done=("group_saved", saved))


@router.post("/groups/{group_id}/delete", response_class=HTMLResponse)
def delete_group(request: Request, user: Admin, group_id: PathId, csrf_token: CsrfField = "") -> Response:
    def write(session: Session) -> str:
        name = get_in_org(session, SkillGroup, record_id(group_id), user.org_id).name
        routing_service.delete_group(session, actor_of(request, user), group_id)
        return name

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        return _group_page(request, user, group_id, errors={"form": name.message}, status_code=name.status)
    return _overview(request, user, done=("group_deleted", name))


def _staff_name(session: Session, user: User, user_id: int) -> str:
    return auth_service.get_user(session, user.org_id, record_id(user_id)).display_name


@router.post("/groups/{group_id}/members", response_class=HTMLResponse)
def add_member(request: Request, user: Admin, group_id: PathId, user_id: Short = "", level: Short = "1",
               csrf_token: CsrfField = "") -> Response:
    add_form = {"user_id": user_id, "level": level}

    def write(session: Session) -> str:
        member_id = form_id(user_id, "user_id", "请选择要加入的成员")
        routing_service.add_member(session, actor_of(request, user), record_id(group_id), member_id,
                                   whole_number(level))
        return _staff_name(session, user, member_id)

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        key = "add" if name.stale else _field(name, ("user_id", "level"))
        return _group_page(request, user, group_id, add_form=add_form, errors={key: name.message},
                           status_code=name.status)
    return _group_page(request, user, group_id, done=("member_saved", name))


@router.post("/groups/{group_id}/members/{user_id}", response_class=HTMLResponse)
def set_member_level(request: Request, user: Admin, group_id: PathId, user_id: PathId, level: Short = "",
                     csrf_token: CsrfField = "") -> Response:
    row = f"member-{user_id}"

    def write(session: Session) -> str:
        group = get_in_org(session, SkillGroup, record_id(group_id), user.org_id)
        name = _staff_name(session, user, user_id)
        members = routing_service.members_by_group(session, user.org_id).get(group.id, [])
        if all(member.id != user_id for member, _ in members):
            # Changing a level never adds anyone: that is the add form's job.
            raise routing_service.RoutingError(NOT_MEMBER, "该成员不在此技能组")
        routing_service.add_member(session, actor_of(request, user), group.id, user_id, whole_number(level))
        return name

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        return _group_page(request, user, group_id, errors={"form" if name.code == NOT_MEMBER else row: name.message},
                           status_code=name.status)
    return _group_page(request, user, group_id, done=("member_saved", name))


@router.post("/groups/{group_id}/members/{user_id}/remove", response_class=HTMLResponse)
def remove_member(request: Request, user: Admin, group_id: PathId, user_id: PathId,
                  csrf_token: CsrfField = "") -> Response:
    def write(session: Session) -> str:
        name = _staff_name(session, user, user_id)
        routing_service.remove_member(session, actor_of(request, user), record_id(group_id), user_id)
        return name

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        return _group_page(request, user, group_id, errors={"form": name.message}, status_code=name.status)
    return _group_page(request, user, group_id, done=("member_removed", name))


# --- routing rules -------------------------------------------------------------------------------------------------


def _rule_page(request: Request, user: User, rule_id: int | None, *, form: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        rule = get_in_org(session, RoutingRule, record_id(rule_id), user.org_id) if rule_id is not None else None
        current = form or (form_from_rule(rule) if rule is not None else NEW_RULE)
        return page(request, "admin/routing_rule.html", status_code=status_code, user=user, rule=rule,
                    form=current, groups=routing_service.list_groups(session, user.org_id),
                    labels=rules.CONDITION_LABELS, text_conditions=TEXT_CONDITIONS, grades=rules.GRADES,
                    channels=ctx.channels.kinds, max_priority=rules.MAX_PRIORITY, max_values=rules.MAX_VALUES,
                    vip_priority=rules.VIP_PRIORITY, a_priority=rules.A_GRADE_PRIORITY, errors=errors or {},
                    can_edit=_can_edit(user))


def _save_rule(request: Request, user: User, rule_id: int | None, form: dict[str, Any], csrf_token: str
               ) -> Response:
    def write(session: Session) -> RoutingRule:
        group_id = form_id(form["group_id"], "group_id", "请选择技能组") if form["group_id"].strip() else None
        return routing_service.save_rule(
            session, actor_of(request, user), rule_id=None if rule_id is None else record_id(rule_id),
            name=form["name"], conditions=conditions_from_form(form), group_id=group_id,
            priority=whole_number(form["priority"]), senior_first=form["senior_first"], enabled=form["enabled"])

    rule = submit(request, csrf_token, write)
    if isinstance(rule, Rejected):
        return _rule_page(request, user, rule_id, form=form, errors={_field(rule, RULE_FIELDS): rule.message},
                          status_code=rule.status)
    name = rule.name
    return _overview(request, user, done=("rule_saved", name))


def _rule_form(name: str, channel: str, page_contains: str, button: str, faq_category: str, contact_tags: str,
               vip: str, lead_grade: list[str] | None, group_id: str, priority: str, senior_first: str,
               enabled: str) -> dict[str, Any]:
    return {"name": name, "channel": channel, "page_contains": page_contains, "button": button,
            "faq_category": faq_category, "contact_tags": contact_tags, "vip": vip, "lead_grade": lead_grade or [],
            "group_id": group_id, "priority": priority, "senior_first": bool(senior_first), "enabled": bool(enabled)}


@router.get("/rules/new", response_class=HTMLResponse)
def new_rule_page(request: Request, user: Admin) -> Response:
    return _rule_page(request, user, None)


@router.post("/rules/new", response_class=HTMLResponse)
def create_rule(request: Request, user: Admin, name: Short = "", channel: ListText = "", page_contains: ListText = "",
                button: ListText = "", faq_category: ListText = "", contact_tags: ListText = "", vip: Short = "",
                lead_grade: Annotated[list[str] | None, Form()] = None, group_id: Short = "", priority: Short = "0",
                senior_first: Flag = "", enabled: Flag = "", csrf_token: CsrfField = "") -> Response:
    form = _rule_form(name, channel, page_contains, button, faq_category, contact_tags, vip, lead_grade, group_id,
                      priority, senior_first, enabled)
    return _save_rule(request, user, None, form, csrf_token)


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, user: Supervisor, rule_id: PathId) -> Response:
    return _rule_page(request, user, rule_id)


@router.post("/rules/{rule_id}", response_class=HTMLResponse)
def update_rule(request: Request, user: Admin, rule_id: PathId, name: Short = "", channel: ListText = "",
                page_contains: ListText = "", button: ListText = "", faq_category: ListText = "",
                contact_tags: ListText = "", vip: Short = "", lead_grade: Annotated[list[str] | None, Form()] = None,
                group_id: Short = "", priority: Short = "0", senior_first: Flag = "", enabled: Flag = "",
                csrf_token: CsrfField = "") -> Response:
    form = _rule_form(name, channel, page_contains, button, faq_category, contact_tags, vip, lead_grade, group_id,
                      priority, senior_first, enabled)
    return _save_rule(request, user, rule_id, form, csrf_token)


@router.post("/rules/{rule_id}/move", response_class=HTMLResponse)
def move_rule(request: Request, user: Admin, rule_id: PathId, direction: Annotated[str, Form(max_length=10)] = "",
              csrf_token: CsrfField = "") -> Response:
    row = f"rule-{rule_id}"

    def write(session: Session) -> str:
        if direction not in ("up", "down"):
            raise routing_service.RoutingError("bad_direction", "请求不正确，请刷新后重试")
        rule = get_in_org(session, RoutingRule, record_id(rule_id), user.org_id)
        routing_service.move_rule(session, actor_of(request, user), rule.id, -1 if direction == "up" else 1)
        return rule.name

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        return _overview(request, user, errors={row: name.message}, status_code=name.status)
    return _overview(request, user, done=("rule_moved", name))


@router.post("/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(request: Request, user: Admin, rule_id: PathId, csrf_token: CsrfField = "") -> Response:
    def write(session: Session) -> str:
        name = get_in_org(session, RoutingRule, record_id(rule_id), user.org_id).name
        routing_service.delete_rule(session, actor_of(request, user), rule_id)
        return name

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        return _overview(request, user, errors={f"rule-{rule_id}": name.message}, status_code=name.status)
    return _overview(request, user, done=("rule_deleted", name))


# --- agents' capacity ----------------------------------------------------------------------------------------------


@router.post("/agents/{user_id}", response_class=HTMLResponse)
def set_max_concurrent(request: Request, user: Admin, user_id: PathId, max_concurrent: Short = "",
                       csrf_token: CsrfField = "") -> Response:
    row = f"agent-{user_id}"

    def write(session: Session) -> str:
        agent = auth_service.get_user(session, user.org_id, record_id(user_id))
        presence.set_max_concurrent(session, actor_of(request, user), agent, whole_number(max_concurrent))
        return agent.display_name

    name = submit(request, csrf_token, write)
    if isinstance(name, Rejected):
        return _overview(request, user, errors={row: name.message}, agent_values={user_id: max_concurrent},
                         status_code=name.status)
    return _overview(request, user, done=("max_saved", name))
