"""What a parent may submit: each value checked against its card field's type, the form's required fields, and the
phone number normalised exactly as a chat's is (``nlp.extract``: a valid CN mobile or landline, libphonenumber's
metadata). Pure: no session, no HTTP. An error names the field, so the form shows it beside that input.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edudesk.leadforms.rules import PHONE, CardField, FormError
from edudesk.nlp.extract.common import fold
from edudesk.nlp.extract.phones import find_phones

MAX_TEXT, MAX_ITEM, MAX_ITEMS, MAX_PHONE_CHARS = 200, 40, 20, 40
MAX_NUMBER = 1_000_000
_SPLIT = re.compile(r"[、,，;；/\s]+")
_NUMBER = re.compile(r"^\d{1,7}(?:\.\d{1,2})?$")


@dataclass(frozen=True)
class PublicField:
    """A field as the form shows it: the card field with this form's label and whether it is required."""

    key: str
    label: str
    type: str
    required: bool
    options: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "type": self.type, "required": self.required,
                "options": list(self.options)}


@dataclass(frozen=True)
class Accepted:
    values: dict[str, Any]  # normalised and non-empty, in the form's order
    phone: str  # as the card stores it: 11-digit mobile or "0571-88881234"
    phone_e164: str


def resolve(specs: Sequence[Mapping[str, Any]], card: Sequence[CardField]) -> list[PublicField]:
    """The form's fields that are still on the card. A card field switched off after the form was built leaves
    the form (its stored values stay on the card); the phone field cannot be switched off."""
    known = {c.key: c for c in card}
    out = []
    for spec in specs:
        c = known.get(str(spec.get("key")))
        if c is None or not (c.enabled or c.key == PHONE):
            continue
        out.append(PublicField(c.key, str(spec.get("label") or "") or c.label, c.type,
                               bool(spec.get("required")) or c.key == PHONE, c.options))
    return out


def normalise_phone(raw: str) -> tuple[str, str] | None:
    """(card value, E.164) when ``raw`` is one valid CN phone number and nothing else, else None."""
    text = fold(raw.strip())
    if not text or len(text) > MAX_PHONE_CHARS:
        return None
    found = find_phones(text)
    if len(found) != 1:
        return None
    p = found[0]
    if text[:p.start].strip() or text[p.end:].strip():
        return None
    return p.value, p.e164


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


def _text(f: PublicField, raw: Any) -> str:
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise FormError("bad_value", f"{f.label}格式不正确", f.key)
    text = " ".join(str(raw).split())
    if len(text) > MAX_TEXT:
        raise FormError("too_long", f"{f.label}不超过 {MAX_TEXT} 个字", f.key)
    return text


def _number(f: PublicField, raw: Any) -> int | float:
    text = fold(_text(f, raw)).replace(" ", "")
    if not _NUMBER.match(text) or float(text) > MAX_NUMBER:
        raise FormError("bad_number", f"{f.label}请填写数字", f.key)
    number = float(text)
    return int(number) if number.is_integer() else number


def _single(f: PublicField, raw: Any) -> str:
    text = _text(f, raw)
    if f.options and text not in f.options:
        raise FormError("bad_option", f"请从列表中选择{f.label}", f.key)
    return text


def _multi(f: PublicField, raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [p for p in _SPLIT.split(_text(f, raw)) if p]
    picked: list[str] = []
    for item in items:
        text = _text(f, item)
        if not text:
            continue
        if f.options and text not in f.options:
            raise FormError("bad_option", f"请从列表中选择{f.label}", f.key)
        if len(text) > MAX_ITEM:
            raise FormError("too_long", f"{f.label}的每一项不超过 {MAX_ITEM} 个字", f.key)
        if text not in picked:
            picked.append(text)
    if len(picked) > MAX_ITEMS:
        raise FormError("too_many", f"{f.label}最多选 {MAX_ITEMS} 项", f.key)
    return picked


def _date(f: PublicField, raw: Any) -> str:
    try:
        day = dt.date.fromisoformat(_text(f, raw))
    except ValueError:
        raise FormError("bad_date", f"{f.label}请填写日期，例如 2026-07-01", f.key) from None
    if not 1900 <= day.year <= 2100:
        raise FormError("bad_date", f"{f.label}不在有效范围内", f.key)
    return day.isoformat()


def _phone(f: PublicField, raw: Any) -> str:
    found = normalise_phone(str(raw)) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    if found is None:
        raise FormError("bad_phone", "请填写正确的手机号" if f.key == PHONE else f"{f.label}格式不正确", f.key)
    return found[0]


CHECKS = {"text": _text, "number": _number, "single": _single, "multi": _multi, "date": _date, "phone": _phone}


def accept(fields: Sequence[PublicField], posted: Mapping[str, Any]) -> Accepted:
    """The submitted values, checked in the form's order (the first error is the one shown). Keys the form does
    not show are ignored: a page drawn before the form changed still submits."""
    values: dict[str, Any] = {}
    for f in fields:
        raw = posted.get(f.key)
        if _empty(raw):
            if f.required:
                verb = "选择" if f.type in ("single", "multi", "date") else "填写"
                raise FormError("required", f"请{verb}{f.label}", f.key)
            continue
        value = CHECKS.get(f.type, _text)(f, raw)
        if value == "" or value == []:
            if f.required:
                raise FormError("required", f"请填写{f.label}", f.key)
            continue
        values[f.key] = value
    phone = normalise_phone(str(values.get(PHONE, "")))
    if phone is None:  # the phone field is always on the form and required: only a broken form gets here
        raise FormError("bad_phone", "请填写正确的手机号", PHONE)
    return Accepted(values, phone[0], phone[1])
