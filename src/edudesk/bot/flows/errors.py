"""What is wrong with a flow definition, in Chinese, with the JSON path of the problem.

The admin form edits a flow as a tree of inputs; an error is only useful beside the input it concerns, so every
problem carries a path in the form the form uses to name its inputs: ``steps[2].options[1].goto``. Pydantic's own
errors (a missing prompt, too many buttons, an unknown step kind) and the graph checks (a dangling ``goto``, an
unreachable step, a loop) both end up as :class:`FlowProblem` rows of one :class:`FlowError`, so the admin sees
every problem at once rather than fixing them one save at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

__all__ = ["FlowError", "FlowProblem", "format_path"]

# Names of the discriminated-union members pydantic puts into an error location after the list index
# (("steps", 2, "ask_field", "prompt")); the admin form knows nothing of them, so they are dropped.
_KIND_TAGS = frozenset({"say", "ask_field", "ask_buttons", "branch", "offer_trial", "handover", "end",
                        "widget_opened", "faq_category", "keywords", "turns_without_contact", "off_hours"})

# A key written as is in a path; any other key (a typo such as "0." or "a b") is written quoted: ``["a b"]``.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Pydantic error type → Chinese message; ``{name}`` placeholders are filled from the error's context.
_MESSAGES = {
    "missing": "必填项",
    "extra_forbidden": "不支持的设置项",
    "string_too_short": "不能为空",
    "string_too_long": "太长了，最多 {max_length} 个字",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项，当前 {actual_length} 项",
    "string_pattern_mismatch": "格式不对：需以字母开头，只能包含字母、数字、下划线或短横线",
    "string_type": "应为文本",
    "string_unicode": "包含无法识别的字符（不成对的 UTF-16 代理项）",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "literal_error": "只能是 {expected}",
    "union_tag_invalid": "未知的类型「{tag}」，可选：{expected_tags}",
    "union_tag_not_found": "缺少类型（kind）",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "json_invalid": "不是有效的 JSON：{error}",
}


@dataclass(frozen=True)
class FlowProblem:
    """One problem: where (``steps[2].goto``; empty for the whole flow) and what, in Chinese."""

    path: str
    message: str


class FlowError(ValueError):
    """A flow definition that cannot be saved or run. ``problems`` lists them all, in definition order;
    ``path`` and ``message`` are the first one's, for callers that show a single error."""

    def __init__(self, problems: Sequence[FlowProblem]) -> None:
        if not problems:
            raise ValueError("FlowError needs at least one problem")
        self.problems = tuple(problems)
        super().__init__(str(self))

    @property
    def path(self) -> str:
        return self.problems[0].path

    @property
    def message(self) -> str:
        return self.problems[0].message

    def __str__(self) -> str:
        return "；".join(f"{p.path or '流程'}：{p.message}" for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        """The shape the API's error envelope carries: the first problem plus all of them."""
        return {"message": self.message, "field": self.path,
                "problems": [{"path": p.path, "message": p.message} for p in self.problems]}

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> FlowError:
        problems: list[FlowProblem] = []
        for err in exc.errors(include_url=False):
            ctx = err.get("ctx") or {}
            if err["type"] == "flow_graph":  # raised by our own checks, already with paths relative to ``loc``
                prefix = format_path(err["loc"])
                problems.extend(FlowProblem(_join(prefix, path), message) for path, message in ctx["problems"])
                continue
            problems.append(FlowProblem(format_path(err["loc"]), _message(err["type"], ctx, err["msg"])))
        return cls(list(dict.fromkeys(problems)))


def _join(prefix: str, path: str) -> str:
    if not prefix or not path:
        return prefix or path
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def _message(kind: str, ctx: dict[str, Any], fallback: str) -> str:
    if kind == "value_error":
        return str(ctx.get("error", fallback))
    template = _MESSAGES.get(kind)
    if template is None:
        return fallback
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


def format_path(loc: Sequence[str | int]) -> str:
    """``("steps", 2, "ask_field", "options", 1, "goto")`` → ``"steps[2].options[1].goto"``; a key that is not a
    name is quoted: ``("steps", 0, "a.b")`` → ``'steps[0]["a.b"]'``."""
    out = ""
    previous_was_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            previous_was_index = True
            continue
        if previous_was_index and part in _KIND_TAGS:
            previous_was_index = False
            continue
        if not _NAME.fullmatch(part):  # an unknown key such as "0." or "a.b": quoted, so the path stays exact
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
        else:
            out += f".{part}" if out else part
        previous_was_index = False
    return out
