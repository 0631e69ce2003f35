"""Connected channel accounts: create, configure, enable, delete; settings validated by the adapter's config
model, its ``SecretStr`` fields encrypted at rest.

The admin never sees a stored secret again: a form field left empty keeps the stored value. Every change is
audited (without the secret values).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.channels.base import ChannelAdapter, ChannelServices, InboxChange, InboxInfo
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.inboxes.models import Inbox, InboxReceipt
from edudesk.secretbox import SecretBox

SECRET_PURPOSE = "channel-secrets"  # noqa: S105 (a key-derivation label)
NAME_MAX = 100


class InboxError(DomainError):
    pass


class InboxVersion(Protocol):
    """What the settings cache reads of an inbox: an ``Inbox`` row, or the columns of one read without the ORM (the
    delivery lane reads them in the statement that reads the message)."""

    @property
    def id(self) -> int: ...
    @property
    def org_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def public_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def updated_at(self) -> dt.datetime: ...
    @property
    def secrets_encrypted(self) -> str: ...
    @property
    def settings(self) -> dict[str, Any]: ...


@functools.lru_cache(maxsize=8)
def secret_box(app_secret: str) -> SecretBox:
    """One box per app secret: deriving its key (HKDF) on every callback and delivery was measurable."""
    return SecretBox(app_secret, SECRET_PURPOSE)


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The config fields stored encrypted: every ``SecretStr`` (optional or not)."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if annotation is SecretStr or SecretStr in args:
            out.append(name)
    return out


def _split(config: BaseModel) -> tuple[dict[str, Any], dict[str, str]]:
    hidden = set(secret_fields(type(config)))
    plain = config.model_dump(mode="json", exclude=hidden)
    secret: dict[str, str] = {}
    for name in hidden:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            secret[name] = value.get_secret_value()
    return plain, secret


def _error_of(exc: ValidationError) -> InboxError:
    first = exc.errors()[0]
    where = str(first["loc"][0]) if first.get("loc") else None
    return InboxError("invalid_settings", f"设置有误：{first.get('msg', '')}", where)


def validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _error_of(exc) from None


def config_of(inbox: InboxVersion, model: type[BaseModel], box: SecretBox) -> BaseModel:
    """The inbox's settings with its secrets decrypted, as the adapter's config model."""
    secret: dict[str, Any] = json.loads(box.decrypt(inbox.secrets_encrypted)) if inbox.secrets_encrypted else {}
    return model.model_validate({**(inbox.settings or {}), **secret})


def info_of(inbox: Inbox, adapter: type[ChannelAdapter], box: SecretBox) -> InboxInfo:
    return InboxInfo(id=inbox.id, org_id=inbox.org_id, kind=inbox.kind, public_id=inbox.public_id, name=inbox.name,
                     config=config_of(inbox, adapter.config_model, box))


# Decrypted settings per inbox version: Fernet + pydantic on every callback and every delivery cost about a
# millisecond each on the WeChat path, for settings that change only when an admin saves them. The key holds what
# the result is made of (row version, ciphertext, plain settings, the model and the box), so any change to the row,
# even one that forgets ``updated_at``, is a miss; the inbox id is in the key, so nothing is shared across inboxes.
_CONFIG_CACHE: OrderedDict[tuple[Any, ...], BaseModel] = OrderedDict()
_CONFIG_CACHE_MAX = 256
_config_lock = threading.Lock()


def cached_config(inbox: InboxVersion, model: type[BaseModel], box: SecretBox) -> BaseModel:
    """``config_of`` remembered per (inbox id, updated_at) and content. The model is shared: read it only."""
    key = (inbox.id, inbox.updated_at, inbox.secrets_encrypted,
           json.dumps(inbox.settings or {}, sort_keys=True, default=str), model, box)
    with _config_lock:
        found = _CONFIG_CACHE.get(key)
        if found is not None:
            _CONFIG_CACHE.move_to_end(key)
            return found
    config = config_of(inbox, model, box)
    with _config_lock:
        _CONFIG_CACHE[key] = config
        while len(_CONFIG_CACHE) > _CONFIG_CACHE_MAX:
            _CONFIG_CACHE.popitem(last=False)
    return config


def cached_info(inbox: InboxVersion, adapter: type[ChannelAdapter], box: SecretBox) -> InboxInfo:
    """``info_of`` with the settings from ``cached_config``."""
    return InboxInfo(id=inbox.id, org_id=inbox.org_id, kind=inbox.kind, public_id=inbox.public_id, name=inbox.name,
                     config=cached_config(inbox, adapter.config_model, box))


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InboxError("name_required", "请填写渠道名称", "name")
    if len(name) > NAME_MAX:
        raise InboxError("name_too_long", f"渠道名称不能超过 {NAME_MAX} 个字", "name")
    return name


def create(session: Session, actor: Actor, adapter: type[ChannelAdapter], box: SecretBox, *, name: str,
           data: dict[str, Any]) -> Inbox:
    config = validate(adapter.config_model, data)
    plain, secret = _split(config)
    now = utcnow()
    inbox = Inbox(org_id=actor.org_id, kind=adapter.kind, name=_name(name), public_id=secrets.token_urlsafe(18),
                  settings=plain, secrets_encrypted=box.encrypt(json.dumps(secret)) if secret else "",
                  state={}, enabled=True, created_at=now, updated_at=now)
    session.add(inbox)
    session.flush()
    audit_service.record(session, actor, "inbox.create", "inbox", inbox.id, kind=adapter.kind, name=inbox.name)
    return inbox


def update(session: Session, actor: Actor, inbox: Inbox, adapter: type[ChannelAdapter], box: SecretBox, *,
           name: str, data: dict[str, Any]) -> Inbox:
    """New settings; a secret field missing or empty in ``data`` keeps its stored value."""
    current = config_of(inbox, adapter.config_model, box)
    merged = current.model_dump()
    for key, value in data.items():
        if key in secret_fields(adapter.config_model) and (value is None or value == ""):
            continue
        merged[key] = value
    config = validate(adapter.config_model, merged)
    plain, secret = _split(config)
    inbox.name = _name(name)
    inbox.settings = plain
    inbox.secrets_encrypted = box.encrypt(json.dumps(secret)) if secret else ""
    inbox.updated_at = utcnow()
    audit_service.record(session, actor, "inbox.update", "inbox", inbox.id, kind=inbox.kind,
                         fields=sorted(k for k in data if k not in secret_fields(adapter.config_model)))
    return inbox


def set_enabled(session: Session, actor: Actor, inbox: Inbox, enabled: bool) -> None:
    inbox.enabled = enabled
    inbox.updated_at = utcnow()
    audit_service.record(session, actor, "inbox.enable" if enabled else "inbox.disable", "inbox", inbox.id)


def delete(session: Session, actor: Actor, inbox: Inbox) -> None:
    """Removes the account; its conversations stay (they keep their channel kind and lose the link)."""
    audit_service.record(session, actor, "inbox.delete", "inbox", inbox.id, kind=inbox.kind, name=inbox.name)
    session.delete(inbox)


def provision(session: Session, actor: Actor, adapter: ChannelAdapter, inbox: Inbox, box: SecretBox,
              services: ChannelServices, *, created: bool) -> dict[str, str]:
    """Runs the adapter's optional ``provision`` hook after the inbox was created or saved (same transaction);
    returns the values to show the admin once (empty when the adapter has no hook or nothing to show)."""
    hook = getattr(adapter, "provision", None)
    if hook is None:
        return {}
    session.flush()
    change = InboxChange(session=session, inbox=info_of(inbox, type(adapter), box), enabled=inbox.enabled,
                         created=created, actor=actor, services=services)
    return dict(hook(change) or {})


def deprovision(session: Session, actor: Actor, adapter: ChannelAdapter, inbox: Inbox, box: SecretBox,
                services: ChannelServices) -> None:
    """Runs the adapter's optional ``deprovision`` hook before the inbox is deleted (same transaction)."""
    hook = getattr(adapter, "deprovision", None)
    if hook is not None:
        hook(InboxChange(session=session, inbox=info_of(inbox, type(adapter), box), enabled=inbox.enabled,
                         created=False, actor=actor, services=services))


def get(session: Session, org_id: int, inbox_id: int, *, for_update: bool = False) -> Inbox:
    return get_in_org(session, Inbox, inbox_id, org_id, for_update=for_update)


@dataclass(frozen=True)
class InboxColumns:
    """An inbox's columns read without the ORM (a provider's callback, the delivery lane): what the settings cache
    and ``InboxInfo`` need. Satisfies ``InboxVersion``."""

    id: int
    org_id: int
    kind: str
    public_id: str
    name: str
    enabled: bool
    updated_at: dt.datetime
    secrets_encrypted: str
    settings: dict[str, Any]


_I = Inbox.__table__
INBOX_COLUMNS = (_I.c.id, _I.c.org_id, _I.c.kind, _I.c.public_id, _I.c.name, _I.c.enabled, _I.c.updated_at,
                 _I.c.secrets_encrypted, _I.c.settings)
_BY_PUBLIC_ID = select(*INBOX_COLUMNS).where(_I.c.public_id == bindparam("public_id")).limit(1)


def columns_by_public_id(session: Session, kind: str, public_id: str) -> InboxColumns:
    """``by_public_id`` as plain columns, in a statement built once (every callback reads it)."""
    row = session.execute(_BY_PUBLIC_ID, {"public_id": _callback_id(public_id)}).first()
    return InboxColumns(*_callback_inbox(row, kind, public_id))


def by_public_id(session: Session, kind: str, public_id: str) -> Inbox:
    """The inbox a provider's callback URL names. Unknown, disabled or of another kind: not found (404)."""
    inbox = session.scalars(select(Inbox).where(Inbox.public_id == _callback_id(public_id))).first()
    return _callback_inbox(inbox, kind, public_id)


def _callback_id(public_id: str) -> str:
    if not public_id or len(public_id) > 40:
        raise NotFoundError("inbox", public_id)
    return public_id


_Found = TypeVar("_Found")


def _callback_inbox(found: _Found | None, kind: str, public_id: str) -> _Found:
    """The one rule of both look-ups (an ``Inbox`` or a row of its columns): unknown, disabled or of another kind
    is not found."""
    columns: Any = found
    if found is None or columns.kind != kind or not columns.enabled:
        raise NotFoundError("inbox", public_id)
    return found


def list_for_org(session: Session, org_id: int, kind: str | None = None) -> list[Inbox]:
    stmt = org_query(Inbox, org_id).order_by(Inbox.id)
    if kind is not None:
        stmt = stmt.where(Inbox.kind == kind)
    return list(session.scalars(stmt))


def set_state(session: Session, inbox: Inbox, **values: Any) -> None:
    """Merges adapter state (a cursor); the caller holds the row (``get(..., for_update=True)``) when two
    processes could write it at once."""
    inbox.state = {**(inbox.state or {}), **values}


RECEIPT_KEY_MAX = 128


def first_receipt(session: Session, inbox: Inbox, key: str) -> bool:
    """True the first time a callback with this key reaches the inbox; False for a resend (in any instance)."""
    return first_receipt_of(session, inbox.org_id, inbox.id, key)


def _receipt_statement(insert: Any) -> Any:
    t = InboxReceipt.__table__
    return (insert(t).values(org_id=bindparam("r_org"), inbox_id=bindparam("r_inbox"), key=bindparam("r_key"),
                             created_at=bindparam("r_at"))
            .on_conflict_do_nothing(index_elements=["inbox_id", "key"]).returning(t.c.id))


# Built once per dialect: building it per callback cost as much as running it.
_RECEIPT = {"sqlite": _receipt_statement(sqlite_insert), "postgresql": _receipt_statement(pg_insert)}


def first_receipt_of(session: Session, org_id: int, inbox_id: int, key: str) -> bool:
    """``first_receipt`` by ids: one INSERT … ON CONFLICT DO NOTHING (no savepoint, no read of the inbox), which
    waits for a concurrent insert of the same key to commit or roll back on PostgreSQL and SQLite alike."""
    stmt = _RECEIPT["sqlite" if session.get_bind().dialect.name == "sqlite" else "postgresql"]
    params = {"r_org": org_id, "r_inbox": inbox_id, "r_key": key[:RECEIPT_KEY_MAX], "r_at": utcnow()}
    return session.execute(stmt, params).first() is not None


def forget_receipts(session: Session, before: Any) -> int:
    """Drops receipts older than ``before``: platforms resend within minutes, so a week is plenty."""
    result = session.execute(sql_delete(InboxReceipt).where(InboxReceipt.created_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
