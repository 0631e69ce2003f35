"""Routes of the assist: the console's "AI 建议回复", the misses page's "AI 起草词条", the entry page's
"AI 生成相似问" with accept / reject. Thin: the services hold the rules; CSRF on every post; another org's id is 404.

The buttons appear only for an org with an endpoint: the pages ask the template global ``llm_assist(request,
org_id)`` (installed by :mod:`edudesk.llm.assist.wiring`), so the conversations and kb areas need not know us.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, current_user, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.kb import categories as kb_categories
from edudesk.kb import service as kb_service
from edudesk.llm.assist import kbgrowth, model, prompts, reply
from edudesk.web import page

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)
CurrentUser = Annotated[User, Depends(current_user)]
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
UNAVAILABLE = "AI 暂时不可用（未配置、连接失败、超时或本月额度已用完），请稍后再试或手动处理"
MAX_IDS_FIELD = 100_000


def enabled_for(request: Request, org_id: int) -> bool:
    """Template global: whether the org has an endpoint, so the assist buttons are shown at all."""
    with get_ctx(request).db.session() as session:
        return model.configured(session, org_id)


def _matcher(request: Request, session: Session, org_id: int) -> model.Matcher | None:
    """The org's live FAQ index (the bot's), for the KB passages; None if it cannot be built now."""
    try:
        return get_ctx(request).bots.get(session, org_id).engine.matcher
    except Exception:  # the suggestion still works from documents and the conversation
        log.warning("llm.assist.no_matcher", org_id=org_id, exc_info=True)
        return None


# --- console: suggested reply -------------------------------------------------------------------------------------


@router.post("/console/c/{conversation_id}/suggest", response_class=HTMLResponse)
def suggest(request: Request, user: CurrentUser, conversation_id: PathId, csrf_token: CsrfField = "") -> Response:
    """The suggestion fragment beside the reply box (htmx); "填入回复框" copies it into the box, nothing is sent."""
    done = submit(
        request,
        csrf_token,
        lambda session: reply.suggest_reply(
            get_ctx(request).llm, session, user, conversation_id, _matcher(request, session, user.org_id)
        ),
        status=lambda exc: 409 if exc.code in ("closed", "not_yours") else 422,
    )
    if isinstance(done, Rejected):
        return page(request, "llm/_suggestion.html", status_code=done.status, error=done.message)
    if done is None:
        return page(request, "llm/_suggestion.html", error=UNAVAILABLE)
    return page(request, "llm/_suggestion.html", suggestion=done)


# --- misses: a KB entry draft -------------------------------------------------------------------------------------


def _ids(raw: str) -> list[int]:
    return [int(p) for p in raw.split(",") if p.strip().isdigit()][: kbgrowth.MAX_DRAFT_MISSES * 10]


@router.post("/admin/kb/misses/draft", response_class=HTMLResponse)
def miss_draft(
    request: Request,
    user: Supervisor,
    miss_ids: Annotated[str, Form(max_length=MAX_IDS_FIELD)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    """The KB entry form, new entry, prefilled with the model's draft: nothing is saved until the editor saves."""
    done = submit(
        request,
        csrf_token,
        lambda session: kbgrowth.draft_from_misses(
            get_ctx(request).llm, session, user.org_id, _ids(miss_ids), _matcher(request, session, user.org_id)
        ),
    )
    form = {"enabled": True, "hot_position": "0", "related_ids": []}
    errors: dict[str, str] = {}
    notice = None
    code = 200
    if isinstance(done, Rejected):
        errors, code = {"form": done.message}, done.status
    elif done is None:
        errors = {"form": UNAVAILABLE}
    else:
        form.update(question=done.question, answer=done.answer, similar="\n".join(done.similar))
        notice = "这是 AI 起草的词条，请核对答案中的价格、时间等事实后再保存（标着【请填写】的地方需要补上）"
    with get_ctx(request).db.session() as session:
        tree = kb_categories.tree(session, user.org_id)
        choices = kb_service.entry_choices(session, user.org_id)
    return page(
        request,
        "admin/kb_form.html",
        status_code=code,
        user=user,
        entry_id=None,
        form=form,
        errors=errors,
        notice=notice,
        tree=tree,
        choices=choices,
        fmt_time=lambda value: value.isoformat(),
    )


# --- entry page: similar questions --------------------------------------------------------------------------------


@router.post("/admin/kb/{entry_id}/similar/generate", response_class=HTMLResponse)
def similar_generate(request: Request, user: Supervisor, entry_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(
        request,
        csrf_token,
        lambda session: kbgrowth.generate_similar(get_ctx(request).llm, session, user.org_id, entry_id),
    )
    if isinstance(done, Rejected):
        return page(request, "llm/_similar.html", status_code=done.status, entry_id=entry_id, error=done.message)
    if done is None:
        return page(request, "llm/_similar.html", entry_id=entry_id, error=UNAVAILABLE)
    return page(request, "llm/_similar.html", entry_id=entry_id, candidates=done)


@router.post("/admin/kb/{entry_id}/similar/accept", response_class=HTMLResponse)
def similar_accept(
    request: Request,
    user: Supervisor,
    entry_id: PathId,
    candidate: Annotated[list[str] | None, Form(max_length=prompts.MAX_QUESTION_CHARS)] = None,
    accepted: Annotated[list[str] | None, Form(max_length=prompts.MAX_QUESTION_CHARS)] = None,
    csrf_token: CsrfField = "",
) -> Response:
    """``candidate``: every candidate shown; ``accepted``: the ones ticked. The rest count as rejected."""
    shown = list(candidate or [])[: 2 * kbgrowth.MAX_ACCEPT]
    chosen = [a for a in (accepted or []) if a in shown]
    rejected = [c for c in shown if c not in chosen]
    done = submit(
        request,
        csrf_token,
        lambda session: kbgrowth.accept_similar(session, actor_of(request, user), entry_id, chosen, rejected),
    )
    if isinstance(done, Rejected):
        return page(request, "llm/_similar.html", status_code=done.status, entry_id=entry_id, error=done.message)
    added, dropped = done
    return page(request, "llm/_similar.html", entry_id=entry_id, added=added, dropped=dropped, rejected=rejected)
