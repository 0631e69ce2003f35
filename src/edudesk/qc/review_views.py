"""The review queue (``/admin/qc/reviews``: sampled and appealed cases, sampling a day at once) and the QC reports
per agent and per group (``/admin/qc/reports``, with a CSV export that is audited)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.db import org_query
from edudesk.forms import Rejected, submit
from edudesk.localtime import local_today
from edudesk.qc import reports, results, sampling
from edudesk.qc.models import REVIEW_STATE_LABELS, QcInspection, QcReview, ReviewState
from edudesk.qc.rules import RuleError
from edudesk.web import page

router = APIRouter(prefix="/admin/qc", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Short = Annotated[str, Query(max_length=20)]
QUEUE_LIMIT = 200
REASON_LABELS = {"random": "随机抽检", "low_score": "低分", "severe": "严重违规", "complaint": "投诉",
                 "manual": "手动复核", "appeal": "坐席申诉"}
OPEN_STATES = (ReviewState.pending, ReviewState.appealed)


def queue_page(request: Request, user: User, state: str = "open", *, errors: dict[str, str] | None = None,
               notice: str | None = None, day: str = "", status_code: int = 200) -> Response:
    wanted = [s for s in ReviewState if s.value == state] or list(OPEN_STATES)
    with get_ctx(request).db.session() as session:
        cases = list(session.scalars(org_query(QcReview, user.org_id).where(QcReview.state.in_(wanted))
                                     .order_by(QcReview.state, QcReview.id.desc()).limit(QUEUE_LIMIT)))
        scores = dict(session.execute(select(QcInspection.conversation_id, QcInspection.score).where(
            QcInspection.org_id == user.org_id,
            QcInspection.conversation_id.in_([c.conversation_id for c in cases]))).all())
        users, _ = results.names(session, user.org_id)
    yesterday = local_today() - dt.timedelta(days=1)
    return page(request, "qc/reviews.html", status_code=status_code, user=user, cases=cases, scores=scores,
                users=users, state=state if state in {s.value for s in ReviewState} else "open",
                states=REVIEW_STATE_LABELS, reasons=REASON_LABELS, errors=errors or {}, notice=notice,
                day=day or yesterday.isoformat())


@router.get("/reviews", response_class=HTMLResponse)
def queue(request: Request, user: Supervisor, state: Short = "open") -> Response:
    return queue_page(request, user, state)


@router.post("/reviews/sample", response_class=HTMLResponse)
def sample(request: Request, user: Supervisor, day: Annotated[str, Form(max_length=20)] = "",
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    def write(session: Session) -> int:
        try:
            when = dt.date.fromisoformat(day.strip())
        except ValueError:
            raise RuleError("bad_date", "日期格式应为 YYYY-MM-DD", "day") from None
        if when > local_today():
            raise RuleError("future", "不能抽检未来的日期", "day")
        return sampling.sample_day(session, user.org_id, when, actor_of(request, user))

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return queue_page(request, user, errors=done.beside("day"), day=day, status_code=done.status)
    return queue_page(request, user, notice=f"{day} 抽检完成：新加入复核队列 {done} 条", day=day)


def _range(since: str, until: str) -> tuple[dt.date, dt.date, dict[str, str]]:
    filters, errors = results.parse_filters({"since": since, "until": until})
    return filters.since, filters.until, errors


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, user: Supervisor, since: Short = "", until: Short = "",
                 by: Short = "agent") -> Response:
    start, end, errors = _range(since, until)
    by = by if by in ("agent", "group") else "agent"
    with get_ctx(request).db.session() as session:
        rep = reports.report(session, user.org_id, start, end, by)
        session.commit()
    form = {"since": since if errors else start.isoformat(), "until": until if errors else end.isoformat()}
    return page(request, "qc/reports.html", status_code=422 if errors else 200, user=user, report=rep, form=form,
                errors=errors, by=by)


@router.get("/reports.csv")
def reports_csv(request: Request, user: Supervisor, since: Short = "", until: Short = "",
                by: Short = "agent") -> Response:
    start, end, errors = _range(since, until)
    if errors:
        return reports_page(request, user, since, until, by)
    by = by if by in ("agent", "group") else "agent"
    with get_ctx(request).db.session() as session:
        rep = reports.report(session, user.org_id, start, end, by)
        audit_service.record(session, actor_of(request, user), "qc.export", "qc_report", by,
                             since=start.isoformat(), until=end.isoformat(), rows=len(rep.rows))
        session.commit()
    name = f"qc-{by}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(reports.to_csv(rep), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
