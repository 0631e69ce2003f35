"""What a lead form may look like, checked the same way wherever a form is saved. Pure: no session, no HTTP.

- A form is built from the lead card's fields (built-in and the org's own), each used at most once, with an
  optional label for this form, required or not, in the order given. The phone field is always on the form and
  always required: a submission without a number cannot be called back, and it is how a submission finds the
  parent's lead (the same phone from a chat is the same person).
- Allowed origins are web origins (``https://www.example.com``, ``https://*.example.com``), normalised as the
  widget's allow-list is; an empty list lets any site embed the form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edudesk.errors import DomainError
from edudesk.security import OriginError, normalize_origin

PHONE = "phone"
MAX_NAME, MAX_TITLE, MAX_INTRO, MAX_SUBMIT, MAX_SUCCESS, MAX_LABEL = 100, 100, 1000, 20, 300, 40
MAX_FIELDS, MAX_ORIGINS, MAX_ORDER = 30, 20, 999
DEFAULT_SUBMIT = "提交"
DEFAULT_SUCCESS = "提交成功！老师会尽快与您联系。"


class FormError(DomainError):
    status_code = 422


@dataclass(frozen=True)
class CardField:
    """A lead-card field as the builder offers it (read from the leads area by the service)."""

    key: str
    label: str
    type: str  # leads FieldType value: text, number, phone, single, multi, date
    options: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class FieldChoice:
    """One row of the builder's field table as posted."""

    key: str
    used: bool
    required: bool = False
    label: str = ""
    order: str = ""


@dataclass(frozen=True)
class FormInput:
    name: str
    title: str
    intro: str = ""
    submit_text: str = ""
    success_message: str = ""
    fields: Sequence[FieldChoice] = ()
    allowed_origins: str = ""  # one per line (commas and spaces separate too)
    enabled: bool = True


@dataclass(frozen=True)
class CleanForm:
    name: str
    title: str
    intro: str
    submit_text: str
    success_message: str
    fields: list[dict[str, Any]] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    enabled: bool = True


def _line(raw: str, limit: int, what: str, name: str, *, required: bool) -> str:
    text = " ".join(raw.split())
    if required and not text:
        raise FormError("required", f"请填写{what}", name)
    if len(text) > limit:
        raise FormError("too_long", f"{what}不超过 {limit} 个字", name)
    return text


def _order(raw: str, index: int, key: str) -> int:
    text = raw.strip()
    if not text:
        return MAX_ORDER + 1 + index  # unnumbered rows keep their order, after the numbered ones
    if not text.isdigit() or int(text) > MAX_ORDER:
        raise FormError("bad_order", f"排序须为 0–{MAX_ORDER} 的整数", f"order_{key}")
    return int(text)


def clean_fields(choices: Sequence[FieldChoice], card: Sequence[CardField]) -> list[dict[str, Any]]:
    """The form's fields in display order: card fields only, each once, phone always present and required."""
    known = {c.key: c for c in card}
    picked: dict[str, tuple[int, int, dict[str, Any]]] = {}
    for index, choice in enumerate(choices):
        if not (choice.used or choice.key == PHONE) or choice.key in picked:
            continue
        if choice.key not in known:
            raise FormError("unknown_field", f"名片上没有字段 {choice.key[:40]}", "fields")
        if not known[choice.key].enabled and choice.key != PHONE:
            raise FormError("disabled_field", f"字段「{known[choice.key].label}」已停用，不能放在表单上", "fields")
        label = _line(choice.label, MAX_LABEL, "字段显示名称", f"label_{choice.key}", required=False)
        spec = {"key": choice.key, "label": label, "required": choice.required or choice.key == PHONE}
        picked[choice.key] = (_order(choice.order, index, choice.key), index, spec)
    if PHONE not in picked:
        picked[PHONE] = (-1, -1, {"key": PHONE, "label": "", "required": True})
    if len(picked) > MAX_FIELDS:
        raise FormError("too_many_fields", f"一个表单最多 {MAX_FIELDS} 个字段", "fields")
    return [spec for _, _, spec in sorted(picked.values(), key=lambda p: (p[0], p[1]))]


def clean_origins(raw: str) -> list[str]:
    parts = [p for p in raw.replace(",", "\n").replace("，", "\n").split() if p]
    out: list[str] = []
    for part in parts:
        try:
            origin = normalize_origin(part)
        except OriginError as exc:
            raise FormError("bad_origin", str(exc), "allowed_origins") from None
        if origin not in out:
            out.append(origin)
    if len(out) > MAX_ORIGINS:
        raise FormError("too_many_origins", f"最多填写 {MAX_ORIGINS} 个网站来源", "allowed_origins")
    return out


def clean(data: FormInput, card: Sequence[CardField]) -> CleanForm:
    """Checks a posted form; raises FormError naming the input at fault."""
    name = _line(data.name, MAX_NAME, "表单名称", "name", required=True)
    title = _line(data.title, MAX_TITLE, "标题", "title", required=True)
    intro = data.intro.strip()
    if len(intro) > MAX_INTRO:
        raise FormError("too_long", f"说明文字不超过 {MAX_INTRO} 个字", "intro")
    submit_text = _line(data.submit_text, MAX_SUBMIT, "按钮文字", "submit_text", required=False) or DEFAULT_SUBMIT
    success = data.success_message.strip()
    if len(success) > MAX_SUCCESS:
        raise FormError("too_long", f"提交成功提示不超过 {MAX_SUCCESS} 个字", "success_message")
    return CleanForm(name=name, title=title, intro=intro, submit_text=submit_text,
                     success_message=success or DEFAULT_SUCCESS, fields=clean_fields(data.fields, card),
                     allowed_origins=clean_origins(data.allowed_origins), enabled=data.enabled)
