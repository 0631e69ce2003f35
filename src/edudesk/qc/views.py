"""QC result pages for supervisors and admins: ``/admin/qc`` (the filtered list) and one conversation's inspection
(``/admin/qc/c/{id}``: the transcript with the hits highlighted, the review and appeal forms)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.db import NotFoundError, org_query
from edudesk.forms import Rejected, submit
from edudesk.localtime import utc_bounds
from edudesk.qc import results, reviews, ruleset
from edudesk.qc.inspection import INSPECT_JOB
from edudesk.qc.models import REVIEW_STATE_LABELS, QcInspection, ReviewState
from edudesk.routing import service as routing_service
from edudesk.web import page

router = APIRouter(prefix="/admin/qc", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
FILTER_KEYS = ("since", "until", "agent_id", "group_id", "min_score", "max_score", "rule", "state", "page")


def query_of(request: Request) -> dict[str, str]:
    """The known filter parameters, each cut to a sane length (the page echoes them back)."""
    return {k: request.query_params.get(k, "")[:40] for k in FILTER_KEYS}


@router.get("", response_class=HTMLResponse)
def results_page(request: Request, user: Supervisor) -> Response:
    params = query_of(request)
    filters, errors = results.parse_filters(params)
    page_no = int(params["page"]) if params["page"].isdigit() and 0 < int(params["page"]) < 100000 else 1
    with get_ctx(request).db.session() as session:
        rows, total = results.list_results(session, user.org_id, filters, page_no)
        current = ruleset.current(session, user.org_id)
        agents = [(u.id, u.display_name) for u in _staff(session, user.org_id)]
        groups = [(g.id, g.name) for g in routing_service.list_groups(session, user.org_id)]
        session.commit()
    form = {**params, **filters.query()} if not errors else params
    requeued = request.query_params.get("requeued", "")
    notice = f"已按第 {current.revision} 版规则重新质检 {requeued} 个会话，稍后刷新即可看到新结果" \
        if requeued.isdigit() else None
    return page(request, "qc/results.html", status_code=422 if errors else 200, user=user, rows=rows, total=total,
                notice=notice, revision=current.revision,
                page_no=page_no, pages=max(1, -(-total // results.PAGE_SIZE)), form=form, errors=errors,
                agents=agents, groups=groups, rules=[(r["key"], r["name"]) for r in current.rules],
                states=REVIEW_STATE_LABELS, query=filters.query())


def _staff(session: Session, org_id: int) -> list[User]:
    return [u for u in auth_service.list_users(session, org_id) if u.is_active]


def detail_page(request: Request, user: User, conversation_id: int, *, errors: dict[str, str] | None = None,
                form: dict[str, str] | None = None, notice: str | None = None, status_code: int = 200,
                template: str = "qc/detail.html", agent_view: bool = False) -> Response:
    with get_ctx(request).db.session() as session:
        view = results.detail(session, user.org_id, conversation_id, mask_phones=agent_view,
                              only_agent=user.id if agent_view else None)
        session.commit()
    review = view.review
    staff = user.role in (Role.admin, Role.supervisor) and not agent_view
    can_review = staff and (review is None or review.state in (ReviewState.pending, ReviewState.reviewed))
    can_decide = staff and review is not None and review.state == ReviewState.appealed and \
        review.agent_id != user.id and (review.reviewer_id != user.id or user.role == Role.admin)
    can_appeal = agent_view and view.inspection.agent_id == user.id and (
        review is None or (review.state == ReviewState.reviewed and review.appealed_at is None))
    return page(request, template, status_code=status_code, user=user, view=view, errors=errors or {},
                form=form or {}, notice=notice, can_review=can_review, can_decide=can_decide, can_appeal=can_appeal,
                agent_view=agent_view)


REINSPECT_LIMIT = 5000


@router.post("/reinspect", response_class=HTMLResponse)
def reinspect_stale(request: Request, user: Supervisor, since: Annotated[str, Form(max_length=20)] = "",
                    until: Annotated[str, Form(max_length=20)] = "",
                    csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Inspects again, with the rules now in force, every result of the period made with an older revision (up to
    ``REINSPECT_LIMIT`` jobs per click)."""
    filters, errors = results.parse_filters({"since": since, "until": until})

    def write(session: Session) -> int:
        if errors:
            field, message = next(iter(errors.items()))
            raise results.FilterError("bad_range", message, field)
        current = ruleset.current(session, user.org_id).revision
        start, end = utc_bounds(filters.since, filters.until)
        ids = list(session.scalars(org_query(QcInspection, user.org_id).with_only_columns(
            QcInspection.conversation_id).where(QcInspection.closed_at >= start, QcInspection.closed_at < end,
                                                QcInspection.revision < current)
            .order_by(QcInspection.id).limit(REINSPECT_LIMIT)))
        for conversation_id in ids:
            jobs.enqueue(session, INSPECT_JOB, {"org_id": user.org_id, "conversation_id": conversation_id},
                         org_id=user.org_id)
        audit_service.record(session, actor_of(request, user), "qc.reinspect", "qc_period",
                             f"{filters.since.isoformat()}..{filters.until.isoformat()}", count=len(ids),
                             revision=current)
        return len(ids)

    done = submit(request, csrf_token, write)
    query = f"since={filters.since.isoformat()}&until={filters.until.isoformat()}"
    if isinstance(done, Rejected):
        return RedirectResponse(f"/admin/qc?{query}", status_code=303)
    return RedirectResponse(f"/admin/qc?{query}&requeued={done}", status_code=303)


@router.get("/c/{conversation_id}", response_class=HTMLResponse)
def detail(request: Request, user: Supervisor, conversation_id: int) -> Response:
    return detail_page(request, user, conversation_id)


@router.post("/c/{conversation_id}/reinspect", response_class=HTMLResponse)
def reinspect(request: Request, user: Supervisor, conversation_id: int,
              csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Inspects the conversation again with the rules in force (a job: the same code path as on close)."""

    def write(session: Session) -> None:
        found = session.scalars(org_query(QcInspection, user.org_id).where(
            QcInspection.conversation_id == conversation_id)).first()
        if found is None:
            raise NotFoundError("QcInspection", conversation_id)
        jobs.enqueue(session, INSPECT_JOB, {"org_id": user.org_id, "conversation_id": conversation_id},
                     org_id=user.org_id)
        audit_service.record(session, actor_of(request, user), "qc.reinspect", "conversation", conversation_id)

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return detail_page(request, user, conversation_id, errors=done.beside("reinspect"), status_code=done.status)
    return detail_page(request, user, conversation_id, notice="已按当前规则重新质检，稍后刷新即可看到新结果")


def review_outcome(request: Request, user: User, conversation_id: int, done: Any, form: dict[str, str],
                   notice: str) -> Response:
    if isinstance(done, Rejected):
        # A refusal about the case's state or the caller (403, 409) goes on top: its form may not be shown.
        errors = {"form": done.message} if done.status in (403, 409) else done.beside("form")
        return detail_page(request, user, conversation_id, errors=errors, form=form, status_code=done.status)
    return detail_page(request, user, conversation_id, notice=notice)


@router.post("/c/{conversation_id}/review", response_class=HTMLResponse)
def review(request: Request, user: Supervisor, conversation_id: int,
           score: Annotated[str, Form(max_length=10)] = "", comment: Annotated[str, Form(max_length=5000)] = "",
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    done = submit(request, csrf_token, lambda s: reviews.review(s, user, conversation_id, score, comment),
                  status=_status)
    return review_outcome(request, user, conversation_id, done, {"score": score, "comment": comment}, "复核已保存")


@router.post("/c/{conversation_id}/decide", response_class=HTMLResponse)
def decide(request: Request, user: Supervisor, conversation_id: int,
           outcome: Annotated[str, Form(max_length=20)] = "",
           decision_score: Annotated[str, Form(max_length=10)] = "",
           decision_comment: Annotated[str, Form(max_length=5000)] = "",
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    done = submit(request, csrf_token, lambda s: reviews.decide(s, user, conversation_id, outcome, decision_score,
                                                                 decision_comment), status=_status)
    return review_outcome(request, user, conversation_id, done,
                          {"outcome": outcome, "decision_score": decision_score,
                           "decision_comment": decision_comment}, "申诉已处理")


def _status(exc: Any) -> int:
    return int(exc.status_code) if exc.status_code in (403, 409, 422) else 422
