"""Admin pages for the bot: welcome text, hand-over words, fallback and keyword rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.bot import service as bot_service
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.inputs import PathId
from edudesk.web import csrf_ok, page

router = APIRouter(prefix="/admin/bot", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
STALE = "页面已过期，请刷新后重试"


def _bot_page(request: Request, user: User, *, errors: dict[str, str] | None = None,
              settings_form: dict[str, Any] | None = None, rule_form: dict[str, Any] | None = None,
              notice: str | None = None, status_code: int = 200) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        settings = bot_service.get_settings(session, user.org_id)
        rules = bot_service.list_rules(session, user.org_id)
        org_bot = ctx.bots.get(session, user.org_id)
        session.commit()
    sf = settings_form or {
        "welcome_text": settings.welcome_text,
        "fallback_text": settings.fallback_text,
        "handoff_keywords": "\n".join(settings.handoff_keywords),
        "max_misses": settings.max_misses,
        "sensitive_words": "\n".join(settings.sensitive_words or []),
        "answer_threshold": "" if settings.answer_threshold is None else settings.answer_threshold,
        "suggest_threshold": "" if settings.suggest_threshold is None else settings.suggest_threshold,
    }
    defaults = bot_service.matcher_defaults(embeddings=org_bot.uses_embeddings)
    status = {"questions": org_bot.questions_indexed, "embeddings": org_bot.uses_embeddings}
    return page(request, "admin/bot.html", status_code=status_code, user=user, sf=sf, rules=rules,
                rf=rule_form or {}, errors=errors or {}, notice=notice, defaults=defaults, status=status)


@router.get("", response_class=HTMLResponse)
def bot_admin(request: Request, user: Supervisor) -> Response:
    return _bot_page(request, user)


@router.post("/settings", response_class=HTMLResponse)
def save_settings(
    request: Request,
    user: Supervisor,
    welcome_text: Annotated[str, Form(max_length=20000)] = "",
    fallback_text: Annotated[str, Form(max_length=20000)] = "",
    handoff_keywords: Annotated[str, Form(max_length=20000)] = "",
    max_misses: Annotated[str, Form(max_length=10)] = "3",
    sensitive_words: Annotated[str, Form(max_length=20000)] = "",
    answer_threshold: Annotated[str, Form(max_length=20)] = "",
    suggest_threshold: Annotated[str, Form(max_length=20)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    form = {"welcome_text": welcome_text, "fallback_text": fallback_text, "handoff_keywords": handoff_keywords,
            "max_misses": max_misses, "sensitive_words": sensitive_words, "answer_threshold": answer_threshold,
            "suggest_threshold": suggest_threshold}
    if not csrf_ok(request, csrf_token):
        return _bot_page(request, user, errors={"settings": STALE}, settings_form=form, status_code=400)
    try:
        misses = int(max_misses)
    except ValueError:
        return _bot_page(request, user, errors={"max_misses": "请输入整数"}, settings_form=form, status_code=422)
    thresholds: dict[str, float | None] = {}
    for name, raw in (("answer_threshold", answer_threshold), ("suggest_threshold", suggest_threshold)):
        try:
            thresholds[name] = float(raw) if raw.strip() else None
        except ValueError:
            return _bot_page(request, user, errors={name: "请输入 0 到 1 之间的小数"}, settings_form=form,
                             status_code=422)
    with get_ctx(request).db.session() as session:
        try:
            bot_service.update_settings(session, actor_of(request, user), welcome_text=welcome_text,
                                        fallback_text=fallback_text, handoff_keywords=handoff_keywords,
                                        max_misses=misses, sensitive_words=sensitive_words, **thresholds)
            session.commit()
        except DomainError as exc:
            session.rollback()
            return _bot_page(request, user, errors={exc.field or "settings": exc.message}, settings_form=form,
                             status_code=422)
    return _bot_page(request, user, notice="机器人设置已保存")


@router.post("/rules", response_class=HTMLResponse)
def save_rule(
    request: Request,
    user: Supervisor,
    keywords: Annotated[str, Form(max_length=20000)] = "",
    reply: Annotated[str, Form(max_length=20000)] = "",
    label: Annotated[str, Form(max_length=1000)] = "",
    enabled: Annotated[str, Form(max_length=10)] = "",
    rule_id: Annotated[str, Form(max_length=20)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    form = {"keywords": keywords, "reply": reply, "label": label, "enabled": bool(enabled), "rule_id": rule_id}
    if not csrf_ok(request, csrf_token):
        return _bot_page(request, user, errors={"rule": STALE}, rule_form=form, status_code=400)
    with get_ctx(request).db.session() as session:
        try:
            bot_service.save_rule(session, actor_of(request, user), keywords=keywords, reply=reply, label=label,
                                  enabled=bool(enabled), rule_id=int(rule_id) if rule_id.isdigit() else None)
            session.commit()
        except DomainError as exc:
            session.rollback()
            return _bot_page(request, user, errors={exc.field or "rule": exc.message}, rule_form=form, status_code=422)
    return _bot_page(request, user, notice="关键词回复已保存")


@router.post("/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(request: Request, user: Supervisor, rule_id: PathId, csrf_token: CsrfField = "") -> Response:
    if not csrf_ok(request, csrf_token):
        return _bot_page(request, user, errors={"rule": STALE}, status_code=400)
    with get_ctx(request).db.session() as session:
        bot_service.delete_rule(session, actor_of(request, user), rule_id)
        session.commit()
    return _bot_page(request, user, notice="已删除")
