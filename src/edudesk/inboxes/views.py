"""Admin pages for connected channels (渠道接入): list, connect an account, edit its settings, enable, delete.

The settings form is drawn from the adapter's config model, so a new adapter needs no page of its own; secret
fields are password inputs that show whether a value is stored and keep it when left empty. Admins change
channels; supervisors may look; agents get 403. An adapter may add pages of its own (the WeChat menu editor,
QR codes) and name them in ``admin_links``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, SecretStr

from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.channels.base import REALTIME, ChannelAdapter, ChannelLoadError, ChannelServices
from edudesk.context import get_ctx
from edudesk.db import NotFoundError
from edudesk.forms import Rejected, submit
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.inputs import PathId
from edudesk.web import page

router = APIRouter(prefix="/admin/channels", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
FORM_VALUE_MAX = 4000
# Kinds an admin never connects here: the widget is always on (its settings are on the org page), the fake
# adapter is for tests.
HIDDEN_KINDS = frozenset({"fake"})
CREATED_NOTICE = "渠道已接入：请把下面的回调地址填到平台后台"


def require_admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden()


@dataclass(frozen=True)
class FieldView:
    name: str
    title: str
    help: str
    kind: str  # text, secret, bool, number, lines, choice
    value: Any
    has_secret: bool = False
    # For a ``Literal`` field: (value, label) pairs; labels from ``json_schema_extra={"choices": {value: label}}``.
    options: tuple[tuple[str, str], ...] = ()


def _kind_of(annotation: Any) -> str:
    args = getattr(annotation, "__args__", ())
    if annotation is SecretStr or SecretStr in args:
        return "secret"
    if get_origin(annotation) is Literal:
        return "choice"
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    if getattr(annotation, "__origin__", None) is list:
        return "lines"
    return "text"


def fields_of(model: type[BaseModel], values: dict[str, Any], stored_secrets: set[str]) -> list[FieldView]:
    out = []
    for name, info in model.model_fields.items():
        kind = _kind_of(info.annotation)
        # get_default: a field with a default_factory (a list) has no plain default.
        default = info.get_default(call_default_factory=True)
        value = values.get(name, default if default is not None else "")
        if kind == "secret":
            value = ""
        elif kind == "lines":
            value = "\n".join(str(v) for v in (value or []))
        options: tuple[tuple[str, str], ...] = ()
        if kind == "choice":
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            labels = extra.get("choices")
            labels = labels if isinstance(labels, dict) else {}
            options = tuple((str(v), str(labels.get(str(v), v))) for v in get_args(info.annotation))
        out.append(FieldView(name=name, title=info.title or name, help=info.description or "", kind=kind,
                             value=value, has_secret=name in stored_secrets, options=options))
    return out


def posted_values(model: type[BaseModel], form: Any) -> dict[str, Any]:
    """The config as the form posted it (checkboxes absent mean False; list fields one item per line)."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = _kind_of(info.annotation)
        raw = form.get(name)
        text = str(raw)[:FORM_VALUE_MAX] if raw is not None else ""
        if kind == "bool":
            data[name] = bool(raw)
        elif kind == "lines":
            data[name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif kind == "number":
            if text.strip():
                data[name] = text.strip()
        elif raw is not None:
            data[name] = text.strip()
    return data


def _adapter(request: Request, kind: str) -> type[ChannelAdapter]:
    """An adapter an admin may connect from the page (the test adapter may be connected by URL, for tests)."""
    registry = get_ctx(request).channels
    if not registry.has(kind):
        raise NotFoundError("channel kind", kind)
    adapter = registry.get(kind)
    if REALTIME in adapter.capabilities:
        raise NotFoundError("channel kind", kind)
    return adapter


def connectable(request: Request) -> list[tuple[str, str]]:
    registry = get_ctx(request).channels
    return [(kind, registry.get(kind).label) for kind in registry.kinds
            if kind not in HIDDEN_KINDS and REALTIME not in registry.get(kind).capabilities]


DEFAULT_URL_LABEL = "回调地址（填到平台的服务器配置里）："


def callback_url(request: Request, inbox: Inbox) -> str:
    """Where the provider (or the integrator) calls us for this inbox: ``/channels/<kind>/<public_id>`` unless the
    adapter names its own path (``inbound_path``)."""
    ctx = get_ctx(request)
    base = ctx.settings.base_url.rstrip("/")
    path_of: Callable[[str], str] | None = (getattr(ctx.channels.get(inbox.kind), "inbound_path", None)
                                            if ctx.channels.has(inbox.kind) else None)
    path = path_of(inbox.public_id) if path_of is not None else f"/channels/{inbox.kind}/{inbox.public_id}"
    return base + path


def _services(request: Request) -> ChannelServices:
    services = get_ctx(request).channels.services
    if services is None:
        raise RuntimeError("the channel registry has no services bound (create_app binds them)")
    return services


def _links(request: Request, inbox: Inbox) -> list[tuple[str, str]]:
    registry = get_ctx(request).channels
    if not registry.has(inbox.kind):
        return []
    links: Callable[[Inbox], list[tuple[str, str]]] | None = getattr(registry.get(inbox.kind), "admin_links", None)
    return links(inbox) if links is not None else []


@router.get("", response_class=HTMLResponse)
def inbox_list(request: Request, user: Supervisor) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        inboxes = inboxes_service.list_for_org(session, user.org_id)
        session.expunge_all()
    labels = ctx.channels.labels()
    rows = [{"inbox": i, "label": labels.get(i.kind, i.kind), "url": callback_url(request, i),
             "links": _links(request, i)} for i in inboxes]
    return page(request, "admin/channels.html", user=user, rows=rows, kinds=connectable(request))


def _form_page(request: Request, user: User, adapter: type[ChannelAdapter], inbox: Inbox | None, *,
               name: str = "", values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               notice: str | None = None, once: dict[str, str] | None = None, code: int = 200) -> Response:
    ctx = get_ctx(request)
    stored: set[str] = set()
    if inbox is not None and values is None:
        config = inboxes_service.config_of(inbox, adapter.config_model,
                                           inboxes_service.secret_box(ctx.settings.secret_key))
        values = config.model_dump()
        name = name or inbox.name
    if inbox is not None and inbox.secrets_encrypted:
        config = inboxes_service.config_of(inbox, adapter.config_model,
                                           inboxes_service.secret_box(ctx.settings.secret_key))
        stored = {f for f in inboxes_service.secret_fields(adapter.config_model)
                  if getattr(config, f).get_secret_value()}
    fields = fields_of(adapter.config_model, values or {}, stored)
    return page(request, "admin/channel_form.html", status_code=code, user=user, adapter=adapter, inbox=inbox,
                inbox_name=name, fields=fields, errors=errors or {}, notice=notice, once=once or {},
                url=callback_url(request, inbox) if inbox is not None else None,
                url_label=getattr(adapter, "url_label", DEFAULT_URL_LABEL),
                links=_links(request, inbox) if inbox is not None else [])


@router.get("/new/{kind}", response_class=HTMLResponse)
def new_inbox(request: Request, user: Supervisor, kind: str) -> Response:
    require_admin(user)
    adapter = _adapter(request, kind)
    return _form_page(request, user, adapter, None, name=adapter.label, values={})


@router.post("/new/{kind}", response_class=HTMLResponse)
async def create_inbox(request: Request, user: Supervisor, kind: str) -> Response:
    require_admin(user)
    adapter = _adapter(request, kind)
    form = await request.form()
    name = str(form.get("name") or "")[:200]
    values = posted_values(adapter.config_model, form)
    box = inboxes_service.secret_box(get_ctx(request).settings.secret_key)
    instance = get_ctx(request).channels.adapter(kind)

    def write(session: Any) -> tuple[int, dict[str, str]]:
        actor = actor_of(request, user)
        inbox = inboxes_service.create(session, actor, adapter, box, name=name, data=values)
        return inbox.id, inboxes_service.provision(session, actor, instance, inbox, box, _services(request),
                                                   created=True)

    created = submit(request, str(form.get("csrf_token") or ""), write)
    if isinstance(created, Rejected):
        return _form_page(request, user, adapter, None, name=name, values=values,
                          errors=created.beside("form"), code=created.status)
    inbox_id, once = created
    if once:  # shown on the page that answers the POST, never again (a redirect would have to carry it)
        inbox, adapter = _load(request, user, inbox_id)
        return _form_page(request, user, adapter, inbox, notice=CREATED_NOTICE, once=once)
    return RedirectResponse(f"/admin/channels/{inbox_id}?created=1", status_code=303)


def _load(request: Request, user: User, inbox_id: int) -> tuple[Inbox, type[ChannelAdapter]]:
    with get_ctx(request).db.session() as session:
        inbox = inboxes_service.get(session, user.org_id, inbox_id)
        session.expunge(inbox)
    try:
        return inbox, get_ctx(request).channels.get(inbox.kind)
    except ChannelLoadError:
        raise NotFoundError("inbox", inbox_id) from None


@router.get("/{inbox_id}", response_class=HTMLResponse)
def edit_inbox(request: Request, user: Supervisor, inbox_id: PathId, created: str = "") -> Response:
    inbox, adapter = _load(request, user, inbox_id)
    return _form_page(request, user, adapter, inbox, notice=CREATED_NOTICE if created else None)


@router.post("/{inbox_id}", response_class=HTMLResponse)
async def update_inbox(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    require_admin(user)
    inbox, adapter = _load(request, user, inbox_id)
    form = await request.form()
    name = str(form.get("name") or "")[:200]
    values = posted_values(adapter.config_model, form)
    box = inboxes_service.secret_box(get_ctx(request).settings.secret_key)

    instance = get_ctx(request).channels.adapter(inbox.kind)

    def write(session: Any) -> dict[str, str]:
        actor = actor_of(request, user)
        row = inboxes_service.get(session, user.org_id, inbox_id, for_update=True)
        inboxes_service.update(session, actor, row, adapter, box, name=name, data=values)
        inboxes_service.set_enabled(session, actor, row, bool(form.get("enabled")))
        return inboxes_service.provision(session, actor, instance, row, box, _services(request), created=False)

    done = submit(request, str(form.get("csrf_token") or ""), write)
    if isinstance(done, Rejected):
        return _form_page(request, user, adapter, inbox, name=name, values=values, errors=done.beside("form"),
                          code=done.status)
    inbox, adapter = _load(request, user, inbox_id)
    return _form_page(request, user, adapter, inbox, notice="已保存", once=done)


@router.post("/{inbox_id}/delete", response_class=HTMLResponse)
async def delete_inbox(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    require_admin(user)
    inbox, adapter = _load(request, user, inbox_id)
    form = await request.form()
    box = inboxes_service.secret_box(get_ctx(request).settings.secret_key)
    instance = get_ctx(request).channels.adapter(inbox.kind)

    def write(session: Any) -> None:
        actor = actor_of(request, user)
        row = inboxes_service.get(session, user.org_id, inbox_id, for_update=True)
        inboxes_service.deprovision(session, actor, instance, row, box, _services(request))
        inboxes_service.delete(session, actor, row)

    done = submit(request, str(form.get("csrf_token") or ""), write)
    if isinstance(done, Rejected):
        return _form_page(request, user, adapter, inbox, errors=done.beside("form"), code=done.status)
    return RedirectResponse("/admin/channels", status_code=303)
