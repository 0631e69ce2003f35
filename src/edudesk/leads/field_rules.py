"""What a lead-card field definition may look like: key, label, type and options, checked the same way wherever a
field is made or edited (the admin page, the demo, scripts). Pure: no session, no HTTP.

- A key is the field's identity: values, bot scripts (``ask_field``), grading rules (``field:<key>``) and the API
  refer to it, so it is a short lowercase identifier and never changes after creation. Nor does the type: values
  already stored were read with it.
- Single and multi selects list their options, one per line on the form; the org's own select fields need at least
  one. Built-in selects may stay empty (年级 has its own list in the bot, 意向校区 and 意向科目 take what the visitor
  says).
- The phone and WeChat fields cannot be switched off: they are what 套电 captures and what staff call back on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from edudesk.errors import DomainError
from edudesk.leads.models import FieldType

MAX_KEY, MAX_LABEL, MAX_OPTION, MAX_OPTIONS = 40, 40, 40, 50
MAX_POSITION = 999
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SELECT_TYPES = frozenset({FieldType.single, FieldType.multi})
# Fields that stay on the card: the contact details themselves.
ALWAYS_ENABLED = frozenset({"phone", "wechat"})
TYPE_LABELS: dict[str, str] = {"text": "文本", "number": "数字", "phone": "手机号", "single": "单选", "multi": "多选",
                               "date": "日期"}


class FieldError(DomainError):
    status_code = 422


def clean_key(raw: str) -> str:
    key = raw.strip().lower()
    if not KEY_RE.fullmatch(key):
        raise FieldError("bad_key", "字段标识须以小写字母开头，只含小写字母、数字和下划线，不超过 40 个字符", "key")
    return key


def clean_label(raw: str) -> str:
    label = " ".join(raw.split())
    if not label:
        raise FieldError("bad_label", "字段名称不能为空", "label")
    if len(label) > MAX_LABEL:
        raise FieldError("bad_label", f"字段名称不超过 {MAX_LABEL} 个字", "label")
    return label


def clean_type(raw: str) -> FieldType:
    try:
        return FieldType(raw.strip())
    except ValueError:
        raise FieldError("bad_type", "字段类型只能是：" + "、".join(TYPE_LABELS.values()), "type") from None


def parse_options(raw: str) -> list[str]:
    """Options as typed on the form: one per line (blank lines ignored)."""
    return [line.strip() for line in raw.splitlines() if line.strip()]


def clean_options(kind: FieldType, options: Iterable[str], *, builtin: bool = False) -> list[str]:
    out = [" ".join(str(o).split()) for o in options]
    out = [o for o in out if o]
    if kind not in SELECT_TYPES:
        if out:
            raise FieldError("options_not_allowed", "只有单选、多选字段可以设置选项", "options")
        return []
    if not out and not builtin:
        raise FieldError("options_required", "单选、多选字段至少需要一个选项（每行一个）", "options")
    if len(out) > MAX_OPTIONS:
        raise FieldError("too_many_options", f"选项不超过 {MAX_OPTIONS} 个", "options")
    too_long = next((o for o in out if len(o) > MAX_OPTION), None)
    if too_long is not None:
        raise FieldError("bad_option", f"选项不超过 {MAX_OPTION} 个字：{too_long[:MAX_OPTION]}…", "options")
    seen: set[str] = set()
    for option in out:
        if option in seen:
            raise FieldError("duplicate_option", f"选项重复：{option}", "options")
        seen.add(option)
    return out


def clean_position(raw: int | str | None) -> int | None:
    """The card order (smaller first); None or blank: after the last field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise FieldError("bad_position", "排序须为整数", "position") from None
    if not 0 <= value <= MAX_POSITION:
        raise FieldError("bad_position", f"排序须在 0–{MAX_POSITION} 之间", "position")
    return value
