"""The admin's answer-quality page (问答质量): the latest report of ``kb.quality`` and a button to compute a new one.

Mounted by kb.views under ``/admin/kb``; supervisors and admins only, CSRF on the form. The report is computed by a
durable job, never in the request: several index builds of a big knowledge base take seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.kb import quality
from edudesk.kb.tool_views import page

router = APIRouter()
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
QUEUED = "已开始重新评估，通常几秒到几分钟完成，请稍后刷新本页"
ALREADY = "评估正在进行中，完成后刷新本页即可看到新结果"


def _page(request: Request, user: User, *, notice: str | None = None, error: str | None = None,
          code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        report = quality.latest(session, user.org_id)
        data = report.report if report is not None else None
        running = quality.in_progress(session, user.org_id)
        failed = not running and quality.last_failed(session, user.org_id,
                                                     report.created_at if report is not None else None)
        examples = quality.miss_texts(session, user.org_id, data) if data is not None else {}
    return page(request, "admin/kb_quality.html", status_code=code, user=user, report=report, data=data,
                running=running, failed=failed, miss_texts=examples, notice=notice, error=error)


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, user: Supervisor) -> Response:
    return _page(request, user)


@router.post("/quality", response_class=HTMLResponse)
def quality_run(request: Request, user: Supervisor, csrf_token: CsrfField = "") -> Response:
    queued = submit(request, csrf_token, lambda session: quality.request_report(session, actor_of(request, user)))
    if isinstance(queued, Rejected):
        return _page(request, user, error=queued.message, code=queued.status)
    return _page(request, user, notice=QUEUED if queued else ALREADY)
