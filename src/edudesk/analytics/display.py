"""How a dashboard value is written for a person (the page's tables and cards) and for a spreadsheet (exports).

One function per purpose, by ``Column.kind``, so the table beside a chart, the headline card and the export agree:
a count is ``1,234``, a percent (a fraction 0..1) ``25.3%``, a duration ``1分05秒``, a score ``4.6``. Pure: the
translation function is passed in (Chinese by default), so the same code serves the page in either language.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from edudesk.analytics.shapes import Cell, ColumnKind

__all__ = ["EMPTY", "as_number", "export_value", "human", "number_format", "seconds_text"]

EMPTY = "—"
Translate = Callable[[str], str]


def _same(text: str) -> str:
    return text


def as_number(value: object) -> float | None:
    """The value as a finite number, or None (text that is not a number, NaN and infinities show as empty)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif not isinstance(value, str):
        return None
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def seconds_text(value: float, gettext: Translate = _same) -> str:
    """``65`` → ``1分05秒``; ``3725`` → ``1小时02分05秒``; ``5`` → ``5秒`` (rounded to the second)."""
    total = round(value)
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return sign + gettext("%(h)d小时%(m)02d分%(s)02d秒") % {"h": hours, "m": minutes, "s": seconds}
    if minutes:
        return sign + gettext("%(m)d分%(s)02d秒") % {"m": minutes, "s": seconds}
    return sign + gettext("%(s)d秒") % {"s": seconds}


def human(value: Cell, kind: ColumnKind, gettext: Translate = _same) -> str:
    """The value as the page shows it; ``—`` for no value (a rate over zero conversations has none)."""
    if kind == "text":
        return EMPTY if value is None or value == "" or isinstance(value, bool) else str(value)
    number = as_number(value)
    if number is None:
        return str(value) if isinstance(value, str) and value else EMPTY
    if kind == "count":
        return f"{round(number):,}"
    if kind == "percent":
        return f"{number * 100:.1f}%"
    if kind == "seconds":
        return seconds_text(number, gettext)
    return f"{number:.1f}" if number != round(number) or abs(number) < 10 else f"{number:,.0f}"


def export_value(value: Cell, kind: ColumnKind) -> str | int | float | None:
    """The value as a spreadsheet cell: numbers stay numbers (a percent as its fraction, shown as % by the XLSX
    format; a duration in whole seconds), text stays text (``spreadsheets`` neutralises formulas)."""
    if kind == "text":
        return None if value is None else str(value)
    number = as_number(value)
    if number is None:
        return value if isinstance(value, str) and value else None
    if kind == "count" or kind == "seconds":
        return round(number)
    if kind == "percent":
        return round(number, 4)
    return round(number, 2)


def number_format(kind: ColumnKind) -> str | None:
    """The XLSX number format of a column, so Excel shows a percent as ``25.3%``."""
    return {"count": "#,##0", "percent": "0.0%", "seconds": "0", "score": "0.0#"}.get(kind)
