"""Canned replies for people: the management page under the console (everyone manages their own; supervisors and
admins also the shared ones), and the JSON the console's "/" picker reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from edudesk.auth.deps import Forbidden, current_user
from edudesk.auth.models import User
from edudesk.canned import service as canned_service
from edudesk.canned.models import CannedReply
from edudesk.canned.text import MAX_CATEGORY, MAX_SHORTCUT, MAX_TEXT, MAX_TITLE, CannedInput, fill
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.errors import DomainError
from edudesk.forms import Rejected, as_raised, submit
from edudesk.inputs import DbId, PathId
from edudesk.web import client_ip, error_response, page

router = APIRouter(prefix="/console/canned", include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
CsrfField = Annotated[str, Form(max_length=100)]
EMPTY_FORM = {"shortcut": "", "title": "", "category": "", "text": "", "shared": False}


def _form_of(reply: CannedReply) -> dict[str, Any]:
    return {"shortcut": reply.shortcut, "title": reply.title, "category": reply.category, "text": reply.text,
            "shared": reply.owner_id is None}


def _page(request: Request, user: User, *, editing: CannedReply | None = None, form: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        lib = canned_service.library(session, user)
    if form is None:
        form = _form_of(editing) if editing is not None else dict(EMPTY_FORM)
    return page(request, "console/canned.html", status_code=code, user=user, lib=lib, editing=editing, form=form,
                errors=errors or {}, notice=notice, can_share=canned_service.can_manage_shared(user),
                can_manage=lambda r: canned_service.can_manage(user, r),
                limits={"shortcut": MAX_SHORTCUT, "title": MAX_TITLE, "category": MAX_CATEGORY, "text": MAX_TEXT})


def _error_code(exc: DomainError) -> int:
    return 403 if exc.status_code == 403 else 422


@router.get("", response_class=HTMLResponse)
def canned_page(request: Request, user: CurrentUser) -> Response:
    return _page(request, user)


FormText = Annotated[str, Form(max_length=MAX_TEXT * 4)]
FormLine = Annotated[str, Form(max_length=1000)]


@router.post("/new", response_class=HTMLResponse)
def create(request: Request, user: CurrentUser, shortcut: FormLine = "", title: FormLine = "",
           category: FormLine = "", text: FormText = "", shared: Annotated[str, Form(max_length=5)] = "",
           csrf_token: CsrfField = "") -> Response:
    form: dict[str, Any] = {"shortcut": shortcut, "title": title, "category": category, "text": text,
                            "shared": shared == "1"}
    reply = submit(request, csrf_token, lambda session: canned_service.create(
        session, user, CannedInput(**form), ip=client_ip(request)), status=_error_code)
    if isinstance(reply, Rejected):
        return _page(request, user, form=form, errors=reply.beside("form"), code=reply.status)
    return _page(request, user, notice=f"已保存 /{reply.shortcut}")


@router.get("/search")
def search(request: Request, user: CurrentUser, q: Annotated[str, Query(max_length=200)] = "",
           c: DbId | None = None) -> JSONResponse:
    """The picker's matches for what the agent typed after "/", with ``{visitor_name}`` and ``{agent_name}``
    filled for conversation ``c`` (another org's conversation is 404)."""
    with get_ctx(request).db.session() as session:
        visitor_name = ""
        if c is not None:
            conv = conversations_service.get(session, user.org_id, c)
            visitor_name = contacts_service.get(session, user.org_id, conv.contact_id).name or ""
        found = canned_service.search(session, user, q)
        results = [{"id": r.id, "shortcut": r.shortcut, "title": r.title, "category": r.category,
                    "shared": r.owner_id is None,
                    "text": fill(r.text, visitor_name=visitor_name, agent_name=user.display_name)} for r in found]
    return JSONResponse({"results": results})


@router.get("/{canned_id}", response_class=HTMLResponse)
def edit_page(request: Request, user: CurrentUser, canned_id: PathId) -> Response:
    with get_ctx(request).db.session() as session:
        reply = canned_service.get(session, user, canned_id)
        session.expunge(reply)
    if not canned_service.can_manage(user, reply):
        raise Forbidden()
    return _page(request, user, editing=reply)


@router.post("/{canned_id}", response_class=HTMLResponse)
def update(request: Request, user: CurrentUser, canned_id: PathId, shortcut: FormLine = "", title: FormLine = "",
           category: FormLine = "", text: FormText = "", shared: Annotated[str, Form(max_length=5)] = "",
           csrf_token: CsrfField = "") -> Response:
    form: dict[str, Any] = {"shortcut": shortcut, "title": title, "category": category, "text": text,
                            "shared": shared == "1"}
    with get_ctx(request).db.session() as session:
        reply = canned_service.get(session, user, canned_id)  # another org's or person's: 404 before anything
        session.expunge(reply)
    saved = submit(request, csrf_token, lambda session: canned_service.update(
        session, user, canned_id, CannedInput(**form), ip=client_ip(request)), status=_error_code)
    if isinstance(saved, Rejected):
        return _page(request, user, editing=reply, form=form, errors=saved.beside("form"), code=saved.status)
    return _page(request, user, notice=f"已保存 /{saved.shortcut}")


@router.post("/{canned_id}/delete", response_class=HTMLResponse)
def delete(request: Request, user: CurrentUser, canned_id: PathId, csrf_token: CsrfField = "") -> Response:
    with get_ctx(request).db.session() as session:
        reply = canned_service.get(session, user, canned_id)
        shortcut = reply.shortcut
    done = submit(request, csrf_token,
                  lambda session: canned_service.delete(session, user, canned_id, ip=client_ip(request)),
                  status=_error_code)
    if isinstance(done, Rejected):
        return _page(request, user, errors={"form": done.message}, code=done.status)
    return _page(request, user, notice=f"已删除 /{shortcut}")


@router.post("/{canned_id}/use")
def record_use(request: Request, user: CurrentUser, canned_id: PathId, csrf_token: CsrfField = "") -> JSONResponse:
    """The console inserted this reply: counted, so the most used come first in the picker."""
    done = submit(request, csrf_token, lambda session: canned_service.record_use(session, user, canned_id),
                  status=as_raised)
    if isinstance(done, Rejected):
        return error_response(done.status, done.code, done.message, done.field)
    return JSONResponse({"ok": True})
