"""Admin pages of the knowledge base: the entry list with search and bulk actions, the entry form, categories.

Import/export and unanswered questions live in kb.tool_views, the answer-quality report in kb.quality_views; both
are mounted on this router first (their fixed
paths must win over ``/admin/kb/{entry_id}``). Admins and supervisors edit; agents get 403 from ``supervisor``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.kb import categories as kb_categories
from edudesk.kb import quality_views, tool_views
from edudesk.kb import service as kb_service
from edudesk.kb.models import KbEntry
from edudesk.kb.schemas import EntryInput
from edudesk.kb.text import KbError, parse_buttons, parse_date, split_lines
from edudesk.kb.tool_views import page

router = APIRouter(prefix="/admin/kb", include_in_schema=False)
router.include_router(tool_views.router)
router.include_router(quality_views.router)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=200_000)]
Short = Annotated[str, Form(max_length=1000)]
CONFLICT = "这个标准问刚刚被别人保存过，请刷新后再试"
PER_PAGE = 20
STATUSES = {"": None, "enabled": True, "disabled": False}


def _int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


# --- list ------------------------------------------------------------------------------------------------------------

def _list_page(request: Request, user: User, *, q: str = "", category: str = "", status: str = "", page_no: int = 1,
               notice: str | None = None, error: str | None = None, code: int = 200) -> Response:
    category_id = _int_or_none(category)
    with get_ctx(request).db.session() as session:
        result = kb_service.search(session, user.org_id, text=q[:200], category_id=category_id,
                                   enabled=STATUSES.get(status), deleted=status == "deleted", page=page_no,
                                   per_page=PER_PAGE)
        tree = kb_categories.tree(session, user.org_id)
    filters = {"q": q, "category": category_id or "", "status": status}

    def page_url(n: int) -> str:
        return "/admin/kb?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": n})

    return page(request, "admin/kb_list.html", status_code=code, user=user, result=result, tree=tree,
                filters=filters, page_url=page_url, notice=notice, error=error)


@router.get("", response_class=HTMLResponse)
def entry_list(request: Request, user: Supervisor, q: Annotated[str, Query(max_length=200)] = "",
               category: Annotated[str, Query(max_length=20)] = "", status: Annotated[str, Query(max_length=20)] = "",
               page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1) -> Response:
    return _list_page(request, user, q=q, category=category, status=status, page_no=page_no)


BULK_NOTICES = {"enable": "已启用 {n} 个词条", "disable": "已停用 {n} 个词条", "delete": "已删除 {n} 个词条",
                "restore": "已恢复 {n} 个词条"}


@router.post("/bulk", response_class=HTMLResponse)
def bulk(request: Request, user: Supervisor, action: Annotated[str, Form(max_length=20)] = "",
         ids: Annotated[list[int] | None, Form()] = None, q: Short = "", category: Short = "", status: Short = "",
         page_no: Annotated[int, Form(alias="page", ge=1, le=100_000)] = 1, csrf_token: CsrfField = "") -> Response:
    back: dict[str, Any] = {"q": q, "category": category, "status": status, "page_no": page_no}

    def write(session: Session) -> int:
        if action not in BULK_NOTICES:
            raise KbError("bad_action", "未知操作")
        if not ids:
            raise KbError("no_ids", "请先勾选词条")
        actor = actor_of(request, user)
        if action in ("enable", "disable"):
            return kb_service.set_enabled(session, actor, ids, action == "enable")
        if action == "delete":
            return kb_service.delete_entries(session, actor, ids)
        return kb_service.restore_entries(session, actor, ids)

    n = submit(request, csrf_token, write)
    if isinstance(n, Rejected):
        return _list_page(request, user, error=n.message, code=n.status, **back)
    return _list_page(request, user, notice=BULK_NOTICES[action].format(n=n), **back)


# --- entry form ------------------------------------------------------------------------------------------------------

def _form_of(session: Any, entry_id: int, org_id: int) -> dict[str, Any]:
    entry = kb_service.get_entry(session, org_id, entry_id)
    return {
        "question": entry.question, "answer": entry.answer,
        "similar": "\n".join(kb_service.similar_of(session, org_id, entry.id)),
        "images": "\n".join(entry.images),
        "buttons": "\n".join(f"{b['label']}|{b['payload']}" for b in entry.buttons),
        "category_id": str(entry.category_id or ""), "enabled": entry.enabled,
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else "",
        "valid_until": entry.valid_until.isoformat() if entry.valid_until else "",
        "related_ids": [str(i) for i in entry.related_ids], "hot_pinned": entry.hot_pinned,
        "hot_position": str(entry.hot_position), "deleted": entry.deleted_at is not None,
        "ask_count": entry.ask_count, "updated_at": entry.updated_at, "updated_by": entry.updated_by,
    }


def _entry_page(request: Request, user: User, entry_id: int | None, *, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        if form is None:
            form = _form_of(session, entry_id, user.org_id) if entry_id is not None else {
                "enabled": True, "hot_position": "0", "related_ids": []}
        elif entry_id is not None:
            kb_service.get_entry(session, user.org_id, entry_id)  # 404 for another org's id, before anything
        tree = kb_categories.tree(session, user.org_id)
        choices = [(i, q) for i, q in kb_service.entry_choices(session, user.org_id) if i != entry_id]
    return page(request, "admin/kb_form.html", status_code=code, user=user, entry_id=entry_id, form=form,
                errors=errors or {}, notice=notice, tree=tree, choices=choices)


def _entry_input(form: dict[str, Any]) -> EntryInput:
    try:
        position = int(form["hot_position"] or 0)
    except ValueError:
        raise KbError("bad_number", "请输入整数", "hot_position") from None
    return EntryInput(
        question=form["question"], answer=form["answer"], similar=split_lines(form["similar"]),
        images=split_lines(form["images"]), buttons=parse_buttons(form["buttons"]),
        category_id=_int_or_none(form["category_id"]), enabled=bool(form["enabled"]),
        valid_from=parse_date(form["valid_from"], "valid_from"), valid_until=parse_date(form["valid_until"],
                                                                                        "valid_until"),
        related_ids=[int(i) for i in form["related_ids"] if i.isdigit()], hot_pinned=bool(form["hot_pinned"]),
        hot_position=position)


def _save(request: Request, user: User, entry_id: int | None, form: dict[str, Any], csrf: str) -> Response:
    def write(session: Session) -> KbEntry:
        actor = actor_of(request, user)
        data = _entry_input(form)
        if entry_id is None:
            return kb_service.create_entry(session, actor, data)
        return kb_service.update_entry(session, actor, entry_id, data)

    # Two editors saving the same standard question at the same moment: the unique index keeps one, the other 409s.
    entry = submit(request, csrf, write, conflict=Rejected(CONFLICT, "conflict", 409, "question"))
    if isinstance(entry, Rejected):
        return _entry_page(request, user, entry_id, form=form, errors=entry.beside("form"), code=entry.status)
    return _entry_page(request, user, entry.id, notice="词条已保存")


def _posted(question: str, similar: str, answer: str, images: str, buttons: str, category_id: str, enabled: str,
            valid_from: str, valid_until: str, related_ids: list[str] | None, hot_pinned: str,
            hot_position: str) -> dict[str, Any]:
    return {"question": question, "similar": similar, "answer": answer, "images": images, "buttons": buttons,
            "category_id": category_id, "enabled": bool(enabled), "valid_from": valid_from,
            "valid_until": valid_until, "related_ids": list(related_ids or [])[:100], "hot_pinned": bool(hot_pinned),
            "hot_position": hot_position}


@router.get("/new", response_class=HTMLResponse)
def new_entry(request: Request, user: Supervisor) -> Response:
    return _entry_page(request, user, None)


@router.post("/new", response_class=HTMLResponse)
def create_entry(request: Request, user: Supervisor, question: Short = "", similar: Text = "", answer: Text = "",
                 images: Text = "", buttons: Text = "", category_id: Short = "", enabled: Short = "",
                 valid_from: Short = "", valid_until: Short = "",
                 related_ids: Annotated[list[str] | None, Form()] = None, hot_pinned: Short = "",
                 hot_position: Short = "0", csrf_token: CsrfField = "") -> Response:
    form = _posted(question, similar, answer, images, buttons, category_id, enabled, valid_from, valid_until,
                   related_ids, hot_pinned, hot_position)
    return _save(request, user, None, form, csrf_token)


# --- categories ------------------------------------------------------------------------------------------------------

def _categories_page(request: Request, user: User, *, errors: dict[str, str] | None = None,
                     form: dict[str, Any] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        tree = kb_categories.tree(session, user.org_id)
    return page(request, "admin/kb_categories.html", status_code=code, user=user, tree=tree,
                errors=errors or {}, form=form or {}, notice=notice)


@router.get("/categories", response_class=HTMLResponse)
def categories(request: Request, user: Supervisor) -> Response:
    return _categories_page(request, user)


@router.post("/categories", response_class=HTMLResponse)
def create_category(request: Request, user: Supervisor, name: Short = "", parent_id: Short = "",
                    csrf_token: CsrfField = "") -> Response:
    form = {"name": name, "parent_id": parent_id}
    done = submit(request, csrf_token, lambda session: kb_categories.create_category(
        session, actor_of(request, user), name=name, parent_id=_int_or_none(parent_id)))
    if isinstance(done, Rejected):
        return _categories_page(request, user, errors={"new": done.message}, form=form, code=done.status)
    return _categories_page(request, user, notice="分类已保存")


@router.post("/categories/{category_id}", response_class=HTMLResponse)
def update_category(request: Request, user: Supervisor, category_id: PathId, name: Short = "", parent_id: Short = "",
                    position: Short = "", csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token, lambda session: kb_categories.update_category(
        session, actor_of(request, user), category_id, name=name, parent_id=_int_or_none(parent_id),
        position=_int_or_none(position)))
    if isinstance(done, Rejected):
        return _categories_page(request, user, errors={f"c{category_id}": done.message}, code=done.status)
    return _categories_page(request, user, notice="分类已保存")


@router.post("/categories/{category_id}/delete", response_class=HTMLResponse)
def delete_category(request: Request, user: Supervisor, category_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token,
                  lambda session: kb_categories.delete_category(session, actor_of(request, user), category_id))
    if isinstance(done, Rejected):
        return _categories_page(request, user, errors={f"c{category_id}": done.message}, code=done.status)
    return _categories_page(request, user, notice="分类已删除")


# --- one entry (declared last: "/admin/kb/{entry_id}" must not shadow the fixed paths above) -------------------------

@router.get("/{entry_id}", response_class=HTMLResponse)
def edit_entry(request: Request, user: Supervisor, entry_id: PathId) -> Response:
    return _entry_page(request, user, entry_id)


@router.post("/{entry_id}", response_class=HTMLResponse)
def update_entry(request: Request, user: Supervisor, entry_id: PathId, question: Short = "", similar: Text = "",
                 answer: Text = "", images: Text = "", buttons: Text = "", category_id: Short = "",
                 enabled: Short = "", valid_from: Short = "", valid_until: Short = "",
                 related_ids: Annotated[list[str] | None, Form()] = None, hot_pinned: Short = "",
                 hot_position: Short = "0", csrf_token: CsrfField = "") -> Response:
    form = _posted(question, similar, answer, images, buttons, category_id, enabled, valid_from, valid_until,
                   related_ids, hot_pinned, hot_position)
    return _save(request, user, entry_id, form, csrf_token)


@router.post("/{entry_id}/delete", response_class=HTMLResponse)
def delete_entry(request: Request, user: Supervisor, entry_id: PathId, csrf_token: CsrfField = "") -> Response:
    return _one(request, user, entry_id, csrf_token, restore=False)


@router.post("/{entry_id}/restore", response_class=HTMLResponse)
def restore_entry(request: Request, user: Supervisor, entry_id: PathId, csrf_token: CsrfField = "") -> Response:
    return _one(request, user, entry_id, csrf_token, restore=True)


def _one(request: Request, user: User, entry_id: int, csrf: str, *, restore: bool) -> Response:
    def write(session: Session) -> None:
        if restore:
            kb_service.restore_entries(session, actor_of(request, user), [entry_id])
        else:
            kb_service.delete_entry(session, actor_of(request, user), entry_id)

    done = submit(request, csrf, write)
    if isinstance(done, Rejected):
        return _entry_page(request, user, entry_id, errors={"form": done.message}, code=done.status)
    return _entry_page(request, user, entry_id, notice="词条已恢复" if restore else "词条已删除，可以在回收站恢复")

