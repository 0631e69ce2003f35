"""The live-visitor page of the console (``/console/visitors``: agents, supervisors, admins) with its 邀请 button,
and the auto-invite rules page (``/admin/invitations``: admins).

The list is polled by htmx about once a second. A poll carries the registry version it was drawn from; while the
version has not moved and the drawing is younger than ``REDRAW_SECONDS`` (the durations on it still read right),
the answer is an empty 204 that htmx leaves alone — a quiet site costs one Redis GET per console per second.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, admin, current_user
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, conflict_or_unprocessable, submit
from edudesk.inputs import PathId
from edudesk.privacy import service as privacy_service
from edudesk.routing import service as routing_service
from edudesk.visitors import invitations, live_html, live_list
from edudesk.visitors.invite_rules import SOURCE_KINDS
from edudesk.visitors.runtime import live_of
from edudesk.web import page

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(admin)]
Csrf = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=400)]
REDRAW_SECONDS = 10
POLL_MS = 1000
DEFAULT_INVITE = "您好，我是{name}，看您在浏览我们的课程，有什么可以帮您的吗？"
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _sees_phones(user: User) -> bool:
    return user.role in (Role.admin, Role.supervisor)


def _list(request: Request, user: User) -> dict[str, Any]:
    tracker = live_of(request)
    now = time.time()
    version, visitors = tracker.registry.snapshot(user.org_id)
    sees = _sees_phones(user)
    with get_ctx(request).db.session() as session:
        rows = live_list.rows(session, user.org_id, visitors, now=now,
                              phone_visible=lambda assignee: sees or assignee == user.id)
        if sees:
            privacy_service.phone_seen(request, session, actor_of(request, user), "visitors.live",
                                       live_list.phones_shown(rows))
        session.commit()
    return {"rows": rows, "version": version, "drawn": int(now), "poll_ms": POLL_MS,
            "duration": live_list.duration, "online": sum(1 for r in rows if r.online),
            "source_labels": live_list.SOURCE_LABELS, "rows_html": live_html.rows_html}


@router.get("/console/visitors", response_class=HTMLResponse)
def visitors_page(request: Request, user: CurrentUser) -> Response:
    return page(request, "console/visitors.html", user=user,
                default_invite=DEFAULT_INVITE.format(name=user.display_name), **_list(request, user))


@router.get("/console/visitors/list", response_class=HTMLResponse)
def visitors_list(request: Request, user: CurrentUser, v: Annotated[str, Query(max_length=20)] = "",
                  drawn: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The list fragment, or 204 (htmx keeps what it has) when nothing changed since the client's drawing. ``v``
    (the registry version drawn) and ``drawn`` (epoch seconds) are opaque echoes of the last answer: anything else
    just redraws."""
    version, at = _number(v), _number(drawn)
    if version is not None and at is not None and time.time() - at < REDRAW_SECONDS \
            and live_of(request).registry.version(user.org_id) == version:
        return Response(status_code=204)
    return page(request, "console/_visitors.html", user=user, **_list(request, user))


def _number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() else None


@router.post("/console/visitors/invite", response_class=HTMLResponse)
def invite(request: Request, user: CurrentUser, visitor_key: Annotated[str, Form(max_length=64)] = "",
           text: Annotated[str, Form(max_length=2000)] = "", csrf_token: Csrf = "") -> Response:
    """邀请: the visitor's widget opens with ``text`` from this agent; their reply comes to this agent."""
    if not _KEY_RE.match(visitor_key):
        return _invite_result(request, None, "访客不存在或已离开")
    visitor = live_of(request).registry.get(user.org_id, visitor_key)
    if visitor is None:
        return _invite_result(request, None, "访客不存在或已离开")
    if not visitor.online(time.time()):
        return _invite_result(request, None, "该访客的在线咨询窗口未连接，暂时无法邀请")
    done = submit(request, csrf_token, lambda session: invitations.invite_by_agent(
        session, user, visitor_key=visitor.visitor_key, contact_id=visitor.contact_id, text=text,
        view_key=visitor.view_key, page_url=visitor.url).id, status=conflict_or_unprocessable)
    if isinstance(done, Rejected):
        return _invite_result(request, None, done.message, status=done.status)
    return _invite_result(request, done, None)


def _invite_result(request: Request, invitation_id: int | None, error: str | None, status: int | None = None
                   ) -> Response:
    code = status or (200 if error is None else 404 if "不存在" in error else 409)
    if request.headers.get("hx-request"):
        code = 200  # htmx swaps only 2xx answers: the message must reach the page
    return page(request, "console/_invite_result.html", status_code=code, invitation_id=invitation_id, error=error)


# --- the auto-invite rules (admin) -------------------------------------------------------------------------------


def _rules_page(request: Request, user: User, *, form: invitations.RuleForm | None = None, rule_id: int | None = None,
                errors: dict[str, str] | None = None, notice: str | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        rules = invitations.list_rules(session, user.org_id)
        counts = invitations.counts(session, user.org_id)
        agents = [u for u in auth_service.list_users(session, user.org_id) if u.is_active]
        groups = routing_service.list_groups(session, user.org_id)
        if form is None and rule_id is not None:
            form = _form_of(invitations.get_rule(session, user.org_id, rule_id))
        names = {u.id: u.display_name for u in agents}
        group_names = {g.id: g.name for g in groups}
        speakers = {r.id: _speaker_label(r, names, group_names) for r in rules}
        session.commit()
    return page(request, "admin/invite_rules.html", status_code=status_code, user=user, rules=rules,
                counts=counts, manual=counts.get(None, invitations.Counts()), form=form or invitations.RuleForm(
                    message="您好！有什么可以帮您的吗？"), rule_id=rule_id, errors=errors or {}, notice=notice,
                agents=agents, groups=groups, speakers=speakers, source_kinds=SOURCE_KINDS,
                source_labels=live_list.SOURCE_LABELS)


def _speaker_label(rule: Any, names: dict[int, str], groups: dict[int, str]) -> str:
    if rule.agent_id is not None:
        return names.get(rule.agent_id, "")
    if rule.group_id is not None:
        return f"{groups.get(rule.group_id, '')}（{rule.bot_name or invitations.BOT_NAME}）"
    return rule.bot_name or invitations.BOT_NAME


def _form_of(rule: Any) -> invitations.RuleForm:
    speaker = f"agent:{rule.agent_id}" if rule.agent_id else f"group:{rule.group_id}" if rule.group_id else "bot"
    return invitations.RuleForm(
        name=rule.name, enabled=rule.enabled, url_pattern=rule.url_pattern, min_seconds=str(rule.min_seconds),
        source_kind=rule.source_kind, campaign=rule.campaign, keyword=rule.keyword,
        business_hours_only=rule.business_hours_only, max_per_day=str(rule.max_per_day), message=rule.message,
        speaker=speaker, bot_name=rule.bot_name)


@router.get("/admin/invitations", response_class=HTMLResponse)
def rules_page(request: Request, user: Admin) -> Response:
    return _rules_page(request, user)


@router.get("/admin/invitations/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, user: Admin, rule_id: PathId) -> Response:
    return _rules_page(request, user, rule_id=rule_id)


def _save(request: Request, user: User, rule_id: int | None, form: invitations.RuleForm, csrf_token: str
          ) -> Response:
    done = submit(request, csrf_token, lambda session: invitations.save_rule(
        session, actor_of(request, user), form, rule_id).id)
    if isinstance(done, Rejected):
        return _rules_page(request, user, form=form, rule_id=rule_id, errors=done.beside("form"),
                           status_code=done.status)
    engine = live_of(request).engine
    forget = getattr(engine, "forget", None)
    if forget is not None:
        forget(user.org_id)
    return _rules_page(request, user, notice="自动邀请规则已保存")


def _rule_form(name: str, enabled: str, url_pattern: str, min_seconds: str, source_kind: str, campaign: str,
               keyword: str, business_hours_only: str, max_per_day: str, message: str, speaker: str, bot_name: str
               ) -> invitations.RuleForm:
    return invitations.RuleForm(name=name, enabled=bool(enabled), url_pattern=url_pattern, min_seconds=min_seconds,
                                source_kind=source_kind, campaign=campaign, keyword=keyword,
                                business_hours_only=bool(business_hours_only), max_per_day=max_per_day,
                                message=message, speaker=speaker, bot_name=bot_name)


@router.post("/admin/invitations", response_class=HTMLResponse)
def create_rule(request: Request, user: Admin, name: Short = "", enabled: Short = "", url_pattern: Short = "",
                min_seconds: Short = "0", source_kind: Short = "", campaign: Short = "", keyword: Short = "",
                business_hours_only: Short = "", max_per_day: Short = "1",
                message: Annotated[str, Form(max_length=2000)] = "", speaker: Short = "bot", bot_name: Short = "",
                csrf_token: Csrf = "") -> Response:
    form = _rule_form(name, enabled, url_pattern, min_seconds, source_kind, campaign, keyword, business_hours_only,
                      max_per_day, message, speaker, bot_name)
    return _save(request, user, None, form, csrf_token)


@router.post("/admin/invitations/{rule_id}", response_class=HTMLResponse)
def update_rule(request: Request, user: Admin, rule_id: PathId, name: Short = "", enabled: Short = "",
                url_pattern: Short = "", min_seconds: Short = "0", source_kind: Short = "", campaign: Short = "",
                keyword: Short = "", business_hours_only: Short = "", max_per_day: Short = "1",
                message: Annotated[str, Form(max_length=2000)] = "", speaker: Short = "bot", bot_name: Short = "",
                csrf_token: Csrf = "") -> Response:
    with get_ctx(request).db.session() as session:
        invitations.get_rule(session, user.org_id, rule_id)  # 404 for another org's rule, before anything else
    form = _rule_form(name, enabled, url_pattern, min_seconds, source_kind, campaign, keyword, business_hours_only,
                      max_per_day, message, speaker, bot_name)
    return _save(request, user, rule_id, form, csrf_token)


@router.post("/admin/invitations/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(request: Request, user: Admin, rule_id: PathId, csrf_token: Csrf = "") -> Response:
    done = submit(request, csrf_token, lambda session: invitations.delete_rule(
        session, actor_of(request, user), rule_id))
    if isinstance(done, Rejected):
        return _rules_page(request, user, errors=done.beside("form"), status_code=done.status)
    forget = getattr(live_of(request).engine, "forget", None)
    if forget is not None:
        forget(user.org_id)
    return _rules_page(request, user, notice="规则已删除")
