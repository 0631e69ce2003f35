"""The agent's side (``/console/qc``): my inspected conversations and their results, and the one appeal.

Agents see only conversations they served (another's is the same 404 as a missing one), with phone numbers
masked in the transcript, as everywhere an agent is not serving the conversation right now.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import current_user
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.qc import results, reviews
from edudesk.qc.views import detail_page, query_of
from edudesk.web import page

router = APIRouter(prefix="/console/qc", include_in_schema=False)
Staff = Annotated[User, Depends(current_user)]


@router.get("", response_class=HTMLResponse)
def mine(request: Request, user: Staff) -> Response:
    params = query_of(request)
    filters, errors = results.parse_filters(params)
    page_no = int(params["page"]) if params["page"].isdigit() and 0 < int(params["page"]) < 100000 else 1
    with get_ctx(request).db.session() as session:
        rows, total = results.list_results(session, user.org_id, filters, page_no, only_agent=user.id)
        session.commit()
    return page(request, "qc/mine.html", status_code=422 if errors else 200, user=user, rows=rows, total=total,
                page_no=page_no, pages=max(1, -(-total // results.PAGE_SIZE)),
                form=params if errors else {**params, **filters.query()}, errors=errors, query=filters.query())


@router.get("/{conversation_id}", response_class=HTMLResponse)
def my_result(request: Request, user: Staff, conversation_id: int) -> Response:
    return detail_page(request, user, conversation_id, agent_view=True)


@router.post("/{conversation_id}/appeal", response_class=HTMLResponse)
def appeal(request: Request, user: Staff, conversation_id: int,
           reason: Annotated[str, Form(max_length=5000)] = "",
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    done = submit(request, csrf_token, lambda s: reviews.appeal(s, user, conversation_id, reason),
                  status=lambda exc: exc.status_code if exc.status_code in (403, 409, 422) else 422)
    if isinstance(done, Rejected):
        return detail_page(request, user, conversation_id, errors=done.beside("reason"), form={"reason": reason},
                           status_code=done.status, agent_view=True)
    return detail_page(request, user, conversation_id, notice="申诉已提交，主管处理后会在这里显示结果", agent_view=True)
