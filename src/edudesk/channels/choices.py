"""Choices on channels that cannot show buttons: offered as numbered lines, picked by number or by the label.

WeChat text messages (and SMS-like channels) have no buttons, so a bot's "转人工 / 留下联系方式" becomes
``回复数字选择：`` and one numbered line each; the visitor answers "1", "１", "一", "第二个" or the label's words.
Pure functions: the delivery job renders, the inbound orchestrator picks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

PROMPT = "回复数字选择："
_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUMBER = re.compile(r"^(?:第)?\s*([0-9]{1,2}|[一二两三四五六七八九十])\s*(?:个|项|号|条)?[.。、)）]?$")
_TRIM = " \t\r\n。.!！?？~～，,"


def render(text: str, buttons: Sequence[Mapping[str, str]]) -> str:
    """The message text followed by the choices as numbered lines (nothing added when there are none)."""
    labels = [str(b.get("label", "")).strip() for b in buttons]
    labels = [label for label in labels if label]
    if not labels:
        return text
    lines = [f"{i}. {label}" for i, label in enumerate(labels, 1)]
    head = text.rstrip()
    return "\n".join([*([head, ""] if head else []), PROMPT, *lines])


def _number(text: str) -> int | None:
    match = _NUMBER.match(text)
    if match is None:
        return None
    token = match.group(1)
    return int(token) if token.isdigit() else _CHINESE_DIGITS[token]


def pick(text: str, buttons: Sequence[Mapping[str, str]]) -> Mapping[str, str] | None:
    """The button the visitor's reply chooses: its number (1-based) or its label, whole; None otherwise, so an
    ordinary question is never mistaken for a choice."""
    if not buttons:
        return None
    said = unicodedata.normalize("NFKC", text).strip(_TRIM)
    if not said:
        return None
    number = _number(said)
    if number is not None:
        return buttons[number - 1] if 1 <= number <= len(buttons) else None
    folded = said.casefold()
    for button in buttons:
        label = unicodedata.normalize("NFKC", str(button.get("label", ""))).strip(_TRIM).casefold()
        if label and label == folded:
            return button
    return None
