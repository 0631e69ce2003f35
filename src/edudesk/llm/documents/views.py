"""The admin's documents page (/admin/llm/documents): list, upload (a new document or a new version), web pages
fetched from an address the admin enters, validity dates, passages preview, delete (audited). Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.forms import STALE, Rejected, submit
from edudesk.inputs import PathId
from edudesk.llm.client import LlmClient
from edudesk.llm.documents import service as documents_service
from edudesk.llm.documents.extract import ACCEPT, too_large
from edudesk.llm.documents.fetch import fetch_page
from edudesk.llm.models import LlmDocumentVersion
from edudesk.web import csrf_ok, page

router = APIRouter(prefix="/admin/llm/documents", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=2000)]
Tiny = Annotated[str, Form(max_length=30)]


def _list_page(
    request: Request,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    form: dict[str, Any] | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        documents = documents_service.list_documents(session, user.org_id)
        session.expunge_all()
    limit = get_ctx(request).settings.llm_max_document_bytes
    return page(
        request,
        "admin/llm_documents.html",
        status_code=code,
        user=user,
        documents=documents,
        errors=errors or {},
        notice=notice,
        form=form or {},
        accept=ACCEPT,
        limit_mb=limit // (1024 * 1024),
    )


@router.get("", response_class=HTMLResponse)
def documents_page(request: Request, user: Admin) -> Response:
    return _list_page(request, user)


def _optional_id(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise DomainError("bad_id", "资料编号不正确", "document_id")
    return int(value)


@router.post("", response_class=HTMLResponse)
def upload(
    request: Request,
    user: Admin,
    file: Annotated[UploadFile | None, File()] = None,
    title: Short = "",
    valid_from: Tiny = "",
    valid_until: Tiny = "",
    document_id: Tiny = "",
    csrf_token: CsrfField = "",
) -> Response:
    form = {"title": title, "valid_from": valid_from, "valid_until": valid_until}
    if not csrf_ok(request, csrf_token):
        return _list_page(request, user, errors={"form": STALE}, form=form, code=400)
    if document_id.strip().isdigit():  # a new version of a document of the caller's org only (else 404)
        with get_ctx(request).db.session() as session:
            documents_service.get_document(session, user.org_id, int(document_id))
    if file is None or not file.filename:
        return _list_page(request, user, errors={"file": "请选择要上传的文件"}, form=form, code=422)
    limit = get_ctx(request).settings.llm_max_document_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        return _list_page(request, user, errors={"file": too_large(limit).message}, form=form, code=413)
    filename = file.filename

    def write(session: Any) -> object:
        validity = documents_service.parse_validity(valid_from, valid_until)
        target = _optional_id(document_id)
        return documents_service.add_file(
            session,
            actor_of(request, user),
            filename=filename,
            data=data,
            title=title,
            validity=validity if target is None or valid_from or valid_until else None,
            document_id=target,
            limit=limit,
        )

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        if document_id.strip().isdigit():
            return _detail_page(request, user, int(document_id), errors=done.beside("file"), code=done.status)
        return _list_page(request, user, errors=done.beside("file"), form=form, code=done.status)
    version = done
    assert isinstance(version, LlmDocumentVersion)
    return RedirectResponse(f"/admin/llm/documents/{version.document_id}?added={version.version}", status_code=303)


@router.post("/url", response_class=HTMLResponse)
def add_url(
    request: Request,
    user: Admin,
    url: Short = "",
    title: Short = "",
    valid_from: Tiny = "",
    valid_until: Tiny = "",
    document_id: Tiny = "",
    csrf_token: CsrfField = "",
) -> Response:
    form = {"url": url, "title": title, "valid_from": valid_from, "valid_until": valid_until}
    if not csrf_ok(request, csrf_token):
        return _list_page(request, user, errors={"form": STALE}, form=form, code=400)
    client: LlmClient = get_ctx(request).llm
    target: int | None = None
    try:
        target = _optional_id(document_id)
        validity = documents_service.parse_validity(valid_from, valid_until)
        if target is not None:
            with get_ctx(request).db.session() as session:
                url = documents_service.get_document(session, user.org_id, target).source_url or url
        if not url.strip():
            raise DomainError("empty", "请填写网页地址", "url")
        # Fetched outside any transaction: a slow page holds no database connection.
        final_url, extracted = fetch_page(client.http, client.policy, url)
    except DomainError as exc:
        if target is not None:
            return _detail_page(request, user, target, errors={exc.field or "url": exc.message}, code=422)
        return _list_page(request, user, errors={exc.field or "url": exc.message}, form=form, code=422)
    done = submit(
        request,
        csrf_token,
        lambda session: documents_service.add_page(
            session,
            actor_of(request, user),
            url=url,
            final_url=final_url,
            extracted=extracted,
            title=title,
            validity=validity,
            document_id=target,
        ),
    )
    if isinstance(done, Rejected):
        if target is not None:
            return _detail_page(request, user, target, errors=done.beside("url"), code=done.status)
        return _list_page(request, user, errors=done.beside("url"), form=form, code=done.status)
    return RedirectResponse(f"/admin/llm/documents/{done.document_id}?added={done.version}", status_code=303)


def _detail_page(
    request: Request,
    user: User,
    document_id: int,
    *,
    version: int | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        document = documents_service.get_document(session, user.org_id, document_id)
        versions = documents_service.versions_of(session, document)
        shown = version if version in {v.version for v in versions} else document.current_version
        passages = documents_service.passages_of(session, document, shown)
        session.expunge_all()
    return page(
        request,
        "admin/llm_document.html",
        status_code=code,
        user=user,
        document=document,
        versions=versions,
        shown=shown,
        passages=passages,
        errors=errors or {},
        notice=notice,
        accept=ACCEPT,
    )


@router.get("/{document_id}", response_class=HTMLResponse)
def document_page(
    request: Request,
    user: Admin,
    document_id: PathId,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    added: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    notice = f"已生成第 {added} 版" if added else None
    return _detail_page(request, user, document_id, version=version, notice=notice)


@router.post("/{document_id}/validity", response_class=HTMLResponse)
def set_validity(
    request: Request,
    user: Admin,
    document_id: PathId,
    valid_from: Tiny = "",
    valid_until: Tiny = "",
    csrf_token: CsrfField = "",
) -> Response:
    done = submit(
        request,
        csrf_token,
        lambda session: documents_service.set_validity(
            session, actor_of(request, user), document_id, documents_service.parse_validity(valid_from, valid_until)
        ),
    )
    if isinstance(done, Rejected):
        return _detail_page(request, user, document_id, errors=done.beside("valid_until"), code=done.status)
    return _detail_page(request, user, document_id, notice="有效期已保存")


@router.post("/{document_id}/delete", response_class=HTMLResponse)
def delete(request: Request, user: Admin, document_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(
        request, csrf_token, lambda session: documents_service.delete(session, actor_of(request, user), document_id)
    )
    if isinstance(done, Rejected):
        return _detail_page(request, user, document_id, errors=done.beside("form"), code=done.status)
    return _list_page(request, user, notice="资料已删除")
