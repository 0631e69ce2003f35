"""Voice lines (外呼线路): create, edit, enable and delete an org's lines, their caller-number pool and their
adapter settings.

The settings are validated by the line kind's config model (``telephony/configs.py``) and stored whole, encrypted
with the app's secret box under a purpose of their own, as inbox secrets are (``inboxes.service``): a SIP password
or a carrier's signing secret is never shown again, and a secret field left empty on save keeps its stored
value. Every change is audited without the secret values.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.db import get_in_org, org_query
from edudesk.inboxes import service as inboxes_service
from edudesk.secretbox import SecretBox
from edudesk.voice import dnc
from edudesk.voice.models import ACTIVE_CALL_STATES, Call, LineKind, VoiceLine
from edudesk.voice.service import VoiceError
from edudesk.voice.telephony.configs import CONFIG_MODELS

SECRET_PURPOSE = "voice-lines"  # noqa: S105 (a key-derivation label; voice.telephony.lines uses this box)
NAME_MAX = 64
MAX_CALLER_NUMBERS = 200
MAX_CONCURRENT = 1000


@functools.lru_cache(maxsize=8)
def secret_box(app_secret: str) -> SecretBox:
    """One box per app secret (HKDF per call would be wasted work on every dial)."""
    return SecretBox(app_secret, SECRET_PURPOSE)


def config_model(kind: LineKind | str) -> type[BaseModel]:
    try:
        return CONFIG_MODELS[LineKind(kind)]
    except ValueError:
        raise VoiceError("bad_kind", "未知的线路类型", "kind") from None


def config_of(line: VoiceLine, box: SecretBox) -> BaseModel:
    """The line's settings, secrets decrypted, as its kind's config model (what the telephony adapter gets)."""
    data: dict[str, Any] = (
        json.loads(box.decrypt(line.config_encrypted.decode("ascii"))) if line.config_encrypted else {}
    )
    return config_model(line.kind).model_validate(data)


def stored_secrets(line: VoiceLine, box: SecretBox) -> set[str]:
    """The secret fields that hold a value (the form says "已保存" beside them)."""
    if not line.config_encrypted:
        return set()
    config = config_of(line, box)
    return {f for f in inboxes_service.secret_fields(type(config)) if getattr(config, f).get_secret_value()}


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first.get("loc") else None
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        raise VoiceError("invalid_config", f"设置有误：{message}", where) from None


def encrypt_config(config: BaseModel, box: SecretBox) -> bytes:
    """The whole config as JSON, secrets in clear inside, encrypted (the adapters decrypt it: telephony/lines.py)."""
    data = config.model_dump(mode="json")
    for name in inboxes_service.secret_fields(type(config)):
        value = getattr(config, name)
        data[name] = value.get_secret_value() if isinstance(value, SecretStr) else ""
    return box.encrypt(json.dumps(data, ensure_ascii=False)).encode("ascii")


def parse_caller_numbers(raw: str | list[str]) -> list[str]:
    """One number per line (or comma): each a valid Chinese number, stored in E.164; duplicates refused."""
    items = raw if isinstance(raw, list) else [p for line in raw.splitlines() for p in line.split(",")]
    items = [i.strip() for i in items if i.strip()]
    if len(items) > MAX_CALLER_NUMBERS:
        raise VoiceError("too_many_numbers", f"主叫号码最多 {MAX_CALLER_NUMBERS} 个", "caller_numbers")
    out: list[str] = []
    for item in items:
        try:
            e164 = dnc.normalise(item)
        except VoiceError:
            raise VoiceError("bad_caller_number", f"主叫号码格式不正确：{item[:40]}", "caller_numbers") from None
        if not e164.startswith("+86"):
            raise VoiceError("bad_caller_number", f"主叫号码须为中国大陆号码：{item[:40]}", "caller_numbers")
        if e164 in out:
            raise VoiceError("duplicate_caller_number", f"主叫号码重复：{item[:40]}", "caller_numbers")
        out.append(e164)
    return out


def _max_concurrent(value: int | str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise VoiceError("bad_max_concurrent", "最大并发数须为整数", "max_concurrent") from None
    if not 1 <= number <= MAX_CONCURRENT:
        raise VoiceError("bad_max_concurrent", f"最大并发数须在 1–{MAX_CONCURRENT} 之间", "max_concurrent")
    return number


def _name(session: Session, org_id: int, name: str, line_id: int | None) -> str:
    name = name.strip()
    if not name:
        raise VoiceError("name_required", "请填写线路名称", "name")
    if len(name) > NAME_MAX:
        raise VoiceError("name_too_long", f"线路名称不能超过 {NAME_MAX} 个字", "name")
    taken = session.scalar(select(VoiceLine.id).where(VoiceLine.org_id == org_id, VoiceLine.name == name))
    if taken is not None and taken != line_id:
        raise VoiceError("name_taken", "已有同名线路", "name")
    return name


def list_lines(session: Session, org_id: int) -> list[VoiceLine]:
    return list(session.scalars(org_query(VoiceLine, org_id).order_by(VoiceLine.id)))


def get_line(session: Session, org_id: int, line_id: int, *, for_update: bool = False) -> VoiceLine:
    return get_in_org(session, VoiceLine, line_id, org_id, for_update=for_update)


def create_line(
    session: Session,
    actor: Actor,
    box: SecretBox,
    *,
    name: str,
    kind: str,
    caller_numbers: str,
    max_concurrent: int | str,
    enabled: bool,
    data: dict[str, Any],
) -> VoiceLine:
    model = config_model(kind)
    line = VoiceLine(
        org_id=actor.org_id,
        name=_name(session, actor.org_id, name, None),
        kind=LineKind(kind),
        caller_numbers=parse_caller_numbers(caller_numbers),
        max_concurrent=_max_concurrent(max_concurrent),
        enabled=enabled,
    )
    line.config_encrypted = encrypt_config(_validate(model, data), box)
    session.add(line)
    session.flush()
    audit_service.record(
        session,
        actor,
        "voice_line.create",
        "voice_line",
        line.id,
        kind=line.kind.value,
        name=line.name,
        caller_numbers=len(line.caller_numbers),
    )
    return line


def update_line(
    session: Session,
    actor: Actor,
    line: VoiceLine,
    box: SecretBox,
    *,
    name: str,
    caller_numbers: str,
    max_concurrent: int | str,
    enabled: bool,
    data: dict[str, Any],
) -> VoiceLine:
    """New settings; a secret field missing or empty in ``data`` keeps its stored value."""
    model = config_model(line.kind)
    secrets = set(inboxes_service.secret_fields(model))
    merged: dict[str, Any] = {}
    if line.config_encrypted:
        current = config_of(line, box)
        merged = current.model_dump()
    for key, value in data.items():
        if key in secrets and (value is None or value == ""):
            continue
        merged[key] = value
    config = _validate(model, merged)
    line.name = _name(session, actor.org_id, name, line.id)
    line.caller_numbers = parse_caller_numbers(caller_numbers)
    line.max_concurrent = _max_concurrent(max_concurrent)
    changed_enabled = line.enabled != enabled
    line.enabled = enabled
    line.config_encrypted = encrypt_config(config, box)
    audit_service.record(
        session,
        actor,
        "voice_line.update",
        "voice_line",
        line.id,
        name=line.name,
        fields=sorted(k for k in data if k not in secrets or data[k]),
        caller_numbers=len(line.caller_numbers),
        max_concurrent=line.max_concurrent,
        **({"enabled": enabled} if changed_enabled else {}),
    )
    return line


def delete_line(session: Session, actor: Actor, line: VoiceLine) -> None:
    """Refused while a call on the line is queued or live; ended calls keep their record (line_id → NULL)."""
    busy = session.scalar(
        select(func.count(Call.id)).where(
            Call.org_id == line.org_id, Call.line_id == line.id, Call.state.in_(ACTIVE_CALL_STATES)
        )
    )
    if busy:
        raise VoiceError("line_busy", f"这条线路还有 {busy} 通未结束的呼叫，结束后才能删除")
    audit_service.record(
        session, actor, "voice_line.delete", "voice_line", line.id, kind=line.kind.value, name=line.name
    )
    session.delete(line)
