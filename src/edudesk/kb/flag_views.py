"""The console's "答错了" on a bot answer (kb.flags): one small htmx form per answer message, for every staff role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, current_user
from edudesk.auth.models import User
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.kb import flags
from edudesk.web import page

router = APIRouter(prefix="/console", include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
CsrfField = Annotated[str, Form(max_length=100)]
FLAGGED = "已标记答错，会出现在知识库“未解决问题”里"
ALREADY = "已经标记过了"


@router.post("/messages/{message_id}/wrong-answer", response_class=HTMLResponse)
def wrong_answer(request: Request, user: CurrentUser, message_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token, lambda session: flags.flag_wrong_answer(session, actor_of(request, user),
                                                                                 message_id))
    if isinstance(done, Rejected):
        return page(request, "console/_flag_result.html", status_code=done.status, message=done.message, error=True)
    return page(request, "console/_flag_result.html", message=FLAGGED if done else ALREADY, error=False)
