"""The public side of lead forms: the hosted page, the embeddable script, and the submission API.

- ``GET /f/{public_id}`` — a mobile-first page with just the form, for links in ads and WeChat articles.
- ``GET /f/{public_id}.js`` — the form as one script for another site's page (``static/leadform.js`` with the
  form's texts and fields written in). Each load counts one view of the form (the denominator of its 套电率),
  so it is never cached. The script draws the form in a shadow root and posts JSON back.
- ``POST /api/v1/forms/{public_id}/submissions`` — per-address rate limit before anything is read, then the
  form's allow-list of origins (CORS answers name only an allowed origin, ``security.WidgetCorsMiddleware``),
  the per-org limit, and ``leadforms_service.submit``.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.requests import HTTPConnection

from edudesk.apischema import error_responses
from edudesk.context import AppContext, get_ctx
from edudesk.db import NotFoundError
from edudesk.leadforms import service as leadforms_service
from edudesk.leadforms.models import LeadForm
from edudesk.leadforms.schemas import SubmissionIn, SubmissionOut
from edudesk.localtime import local_today
from edudesk.ratelimit import client_address, limiter_of, rate_limit
from edudesk.security import deny_cors, origin_allowed, own_origin
from edudesk.web import STATIC_DIR, error_response, page

router = APIRouter()
log = structlog.get_logger(__name__)
PublicId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
CONFIG_MARK = "/*EDUDESK_FORM_CONFIG*/null"
JS = "application/javascript; charset=utf-8"


@functools.lru_cache(maxsize=1)
def _renderer() -> str:
    """The form script's code (read once per process; it changes only with a release)."""
    text = (STATIC_DIR / "leadform.js").read_text(encoding="utf-8")
    if CONFIG_MARK not in text:
        raise RuntimeError(f"static/leadform.js lacks the config mark {CONFIG_MARK}")
    return text


def origin_ok(ctx: AppContext, conn: HTTPConnection, form: LeadForm) -> bool:
    """The calling page's origin is on the form's allow-list (empty: any), or is edudesk itself (the hosted page,
    under EDUDESK_BASE_URL or the address the request came to)."""
    origin = conn.headers.get("origin")
    here = own_origin(str(conn.base_url))
    if origin is not None and here is not None and origin_allowed([here], origin):
        return True
    return origin_allowed(list(form.allowed_origins or ()), origin, own_origin(ctx.settings.base_url))


@router.get("/f/{public_id}.js", include_in_schema=False)
def form_script(request: Request, public_id: PublicId) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        try:
            form = leadforms_service.by_public_id(session, public_id)
        except NotFoundError:
            return Response("/* edudesk: this form does not exist or is switched off */\n", status_code=404,
                            media_type=JS, headers={"Cache-Control": "no-store"})
        config = leadforms_service.public_config(session, form)
        if request.method == "GET":
            leadforms_service.count_view(session, form, local_today())
        session.commit()
    # ensure_ascii: the JSON is pure ASCII, so no character of an admin's text can end the script or a string.
    body = _renderer().replace(CONFIG_MARK, json.dumps(config, ensure_ascii=True), 1)
    return Response(body, media_type=JS, headers={"Cache-Control": "no-store"})


@router.get("/f/{public_id}", include_in_schema=False, response_class=HTMLResponse)
def hosted_page(request: Request, public_id: PublicId) -> Response:
    """The form on a page of its own (its view is counted when the page loads the form's script)."""
    with get_ctx(request).db.session() as session:
        form = leadforms_service.by_public_id(session, public_id)
        return page(request, "leadforms/hosted.html", form=form)


@router.post("/api/v1/forms/{public_id}/submissions", tags=["forms"], status_code=201,
             response_model=SubmissionOut, responses=error_responses(400, 403, 404, 413, 422, 429),
             dependencies=[Depends(rate_limit("form"))], summary="提交落地页表单（创建或合并线索）")
def submit_form(request: Request, public_id: PublicId, body: SubmissionIn) -> Response:
    """What the embedded form and the hosted page send. The answer is the same whether the submission was new,
    a repeat of the same idempotency key, merged into the same phone's submission of a few minutes ago, or
    caught by the honeypot; a refused value is a 422 naming the field (``error.field``: the card field key)."""
    ctx = get_ctx(request)
    meta = leadforms_service.RequestMeta(client_address(request), request.headers.get("user-agent", ""),
                                         ctx.settings.secret_key)
    for attempt in (1, 2):
        with ctx.db.session() as session:
            form = leadforms_service.by_public_id(session, public_id)
            if not origin_ok(ctx, request, form):
                deny_cors(request)
                log.warning("lead_form_origin_refused", form=form.public_id,
                            origin=(request.headers.get("origin") or "")[:200])
                return error_response(403, "origin_not_allowed", "此网站未获准使用该表单", "origin")
            if attempt == 1:
                limiter_of(request).check("form", org_id=form.org_id)
            try:
                outcome = leadforms_service.submit(session, form, body, meta)
                session.commit()
            except IntegrityError:
                # Two submissions of one person at the same moment (the same key, or a new number twice): the
                # second tries again and finds what the first stored.
                session.rollback()
                if attempt == 2:
                    raise
                continue
        return JSONResponse({"status": "accepted", "message": outcome.message}, status_code=201)
    raise AssertionError("unreachable")
