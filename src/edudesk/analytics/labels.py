"""Babel extraction of the dashboards' labels, which are built in Python rather than in templates.

Babel's own Python extractor stops at one level of call nesting, and a dashboard nests its columns in a tuple inside
``Panel(...)``, so most headers would be missed. This extractor walks the syntax tree instead: the label argument
of ``Column``/``Panel``/``Figure``/``DrillPage``/``Dashboard`` (second positional, or ``label=``/``title=``), a
panel's ``definition`` (sixth positional or ``definition=``), and every ``N_("…")`` (labels held in dicts: channel
names, hand-over reasons, titles). babel.cfg names it for ``src/edudesk/analytics/**.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from typing import IO, Any

__all__ = ["extract"]

# constructor → (positional indexes, keyword names) of the arguments that hold a label
LABEL_ARGS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "Column": ((1,), ("label",)),
    "Figure": ((1,), ("label",)),
    "Panel": ((1, 5), ("title", "definition")),
    "DrillPage": ((0,), ("title",)),
    "Dashboard": ((1,), ("title",)),
    "N_": ((0,), ()),
}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _labels(call: ast.Call, positions: tuple[int, ...], names: tuple[str, ...]) -> Iterator[ast.expr]:
    for index in positions:
        if index < len(call.args):
            yield call.args[index]
    for keyword in call.keywords:
        if keyword.arg in names:
            yield keyword.value


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
            options: Mapping[str, Any]) -> Iterator[tuple[int, None, str, list[str]]]:
    """Babel's extraction-method signature; yields (line, None, message, comments). The function name is None so
    that Babel takes the message as it is instead of looking the name up in its ``keywords`` table."""
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name not in LABEL_ARGS:
            continue
        for arg in _labels(node, *LABEL_ARGS[name]):
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                yield arg.lineno, None, arg.value, []
