"""Admin pages for the bot: welcome text, hand-over words, fallback and keyword rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, admin, supervisor
from edudesk.auth.models import Role, User
from edudesk.bot import service as bot_service
from edudesk.bot.service import BotConfigError
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.orgs import service as orgs_service
from edudesk.web import page

router = APIRouter(prefix="/admin/bot", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]


def _bot_page(request: Request, user: User, *, errors: dict[str, str] | None = None,
              settings_form: dict[str, Any] | None = None, rule_form: dict[str, Any] | None = None,
              notice: str | None = None, status_code: int = 200, origins_form: str | None = None) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        if origins_form is None:
            origins_form = "\n".join(orgs_service.get(session, user.org_id).widget_origins or [])
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
                rf=rule_form or {}, errors=errors or {}, notice=notice, defaults=defaults, status=status,
                origins=origins_form, can_edit_origins=user.role == Role.admin)


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

    def write(session: Session) -> None:
        try:
            misses = int(max_misses)
        except ValueError:
            raise BotConfigError("bad_number", "请输入整数", "max_misses") from None
        thresholds: dict[str, float | None] = {}
        for name, raw in (("answer_threshold", answer_threshold), ("suggest_threshold", suggest_threshold)):
            try:
                thresholds[name] = float(raw) if raw.strip() else None
            except ValueError:
                raise BotConfigError("bad_number", "请输入 0 到 1 之间的小数", name) from None
        bot_service.update_settings(session, actor_of(request, user), welcome_text=welcome_text,
                                    fallback_text=fallback_text, handoff_keywords=handoff_keywords,
                                    max_misses=misses, sensitive_words=sensitive_words, **thresholds)

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _bot_page(request, user, errors=done.beside("settings"), settings_form=form, status_code=done.status)
    return _bot_page(request, user, notice="机器人设置已保存")


@router.post("/widget-origins", response_class=HTMLResponse)
def save_widget_origins(request: Request, user: Admin, widget_origins: Annotated[str, Form(max_length=20000)] = "",
                        csrf_token: CsrfField = "") -> Response:
    """The web origins whose pages may use this org's widget (an admin's decision: it is a security setting)."""
    done = submit(request, csrf_token, lambda session: orgs_service.set_widget_origins(
        session, actor_of(request, user), orgs_service.get(session, user.org_id), widget_origins))
    if isinstance(done, Rejected):
        return _bot_page(request, user, errors=done.beside("widget_origins"), origins_form=widget_origins,
                         status_code=done.status)
    return _bot_page(request, user, notice="允许的网站已保存")


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
    done = submit(request, csrf_token, lambda session: bot_service.save_rule(
        session, actor_of(request, user), keywords=keywords, reply=reply, label=label, enabled=bool(enabled),
        rule_id=int(rule_id) if rule_id.isdigit() else None))
    if isinstance(done, Rejected):
        return _bot_page(request, user, errors=done.beside("rule"), rule_form=form, status_code=done.status)
    return _bot_page(request, user, notice="关键词回复已保存")


@router.post("/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(request: Request, user: Supervisor, rule_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token,
                  lambda session: bot_service.delete_rule(session, actor_of(request, user), rule_id))
    if isinstance(done, Rejected):
        return _bot_page(request, user, errors=done.beside("rule"), status_code=done.status)
    return _bot_page(request, user, notice="已删除")
