"""An org's own ticket fields (校区, 订单号, 退费金额 …): validating values against their definitions.

Pure: the definitions come in as rows, nothing is read or written here. Required fields are enforced when a ticket
is solved, not when it is created: most tickets are opened by routing at 23:00 from a visitor's message, when
nobody can know the order number yet; staff fill the fields while they work on it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from edudesk.errors import DomainError
from edudesk.tickets.models import TicketFieldDef

KINDS: dict[str, str] = {"text": "文本", "number": "数字", "select": "单选", "date": "日期"}
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TEXT_MAX = 500
NUMBER_MAX = 1e12
MAX_OPTIONS = 50
OPTION_MAX = 50
LABEL_MAX = 50


class FieldError(DomainError):
    status_code = 422


def _field(key: str) -> str:
    return f"custom_fields.{key}"


def clean_value(d: TicketFieldDef, raw: Any) -> str | float | int | None:
    """One value as stored: text trimmed, numbers as numbers, dates as YYYY-MM-DD; empty is None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if d.kind == "number":
        if isinstance(raw, bool):
            raise FieldError("bad_number", f"“{d.label}”须是数字", _field(d.key))
        try:
            number = float(str(raw).strip().replace(",", "")) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            raise FieldError("bad_number", f"“{d.label}”须是数字", _field(d.key)) from None
        if not math.isfinite(number) or abs(number) > NUMBER_MAX:
            raise FieldError("bad_number", f"“{d.label}”超出范围", _field(d.key))
        return int(number) if number.is_integer() else number
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise FieldError("bad_value", f"“{d.label}”的值无效", _field(d.key))
    text = str(raw).strip()
    if d.kind == "select":
        if text not in (d.options or []):
            raise FieldError("bad_option", f"“{d.label}”须是以下之一：{'、'.join(d.options or [])}", _field(d.key))
        return text
    if d.kind == "date":
        bad = FieldError("bad_date", f"“{d.label}”须是日期，例如 2026-09-01", _field(d.key))
        if not DATE_RE.match(text):
            raise bad
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise bad from None
    if len(text) > TEXT_MAX:
        raise FieldError("too_long", f"“{d.label}”不能超过 {TEXT_MAX} 个字", _field(d.key))
    return text


def merge(defs: Iterable[TicketFieldDef], current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket's custom fields after ``changes`` (key → raw value; empty clears). Unknown or disabled keys are
    refused, so a typo in an integration never silently drops data."""
    by_key = {d.key: d for d in defs if d.enabled}
    unknown = sorted(k for k in changes if k not in by_key)
    if unknown:
        raise FieldError("unknown_field", f"未知的工单字段：{', '.join(unknown)}", _field(unknown[0]))
    out = dict(current)
    for key, raw in changes.items():
        value = clean_value(by_key[key], raw)
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def missing_required(defs: Iterable[TicketFieldDef], values: Mapping[str, Any]) -> list[TicketFieldDef]:
    return [d for d in defs if d.enabled and d.required and values.get(d.key) in (None, "")]


def check_definition(key: str, label: str, kind: str, options: list[str]) -> tuple[str, str, str, list[str]]:
    """A field definition as an admin typed it, cleaned; every mistake names the form field at fault."""
    key, label, kind = key.strip().lower(), label.strip(), kind.strip()
    if not KEY_RE.match(key):
        raise FieldError("bad_key", "字段标识须以小写字母开头，只含小写字母、数字和下划线，最多 40 个字符", "key")
    if not label or len(label) > LABEL_MAX:
        raise FieldError("bad_label", f"字段名称不能为空，且不超过 {LABEL_MAX} 个字", "label")
    if kind not in KINDS:
        raise FieldError("bad_kind", "字段类型须是文本、数字、单选或日期", "kind")
    cleaned: list[str] = []
    for option in options:
        option = option.strip()
        if not option:
            continue
        if len(option) > OPTION_MAX:
            raise FieldError("bad_option", f"选项不能超过 {OPTION_MAX} 个字", "options")
        if option not in cleaned:
            cleaned.append(option)
    if kind == "select" and not cleaned:
        raise FieldError("no_options", "单选字段至少需要一个选项", "options")
    if len(cleaned) > MAX_OPTIONS:
        raise FieldError("too_many_options", f"最多 {MAX_OPTIONS} 个选项", "options")
    return key, label, kind, cleaned if kind == "select" else []
