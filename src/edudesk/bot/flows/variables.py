"""Variables a bot script's texts may use, filled in by the host when the text is said.

Scripts speak about time ("老师明天一早联系您"), and a fixed phrase is wrong half the day: at 07:25 on a day the office
opens at 08:00, "明天一早" is a broken promise. So texts name the time by variable and the host fills it from the
org's business hours at the moment of speaking (``bot.timewords``):

- ``{next_open}`` — when humans are next at work: "今天上午 8:00", "明天上午 9:00", "周一上午 9:00"; "现在" while
  open;
- ``{reply_time}`` — when a teacher can answer: "稍后" while open (and not about to close), else
  "<next_open>上班后" ("明天上午 9:00上班后").

Only ``{name}`` with a letter-first identifier is a variable; other braces are plain text. An unknown name is an error
when the flow is saved (:func:`unknown`, reported beside the field by the editor), so a typo never reaches a
visitor as "{nxet_open}".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["VARIABLES", "render", "unknown"]

VARIABLES: Mapping[str, str] = {
    "next_open": "下次上班时间，如“明天上午 9:00”（营业中为“现在”）",
    "reply_time": "老师能回复的时间：营业中为“稍后”，下班后如“明天上午 9:00上班后”",
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unknown(text: str) -> list[str]:
    """The variable names ``text`` uses that do not exist, in order of appearance."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1) not in VARIABLES))


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every known variable that ``values`` has filled in; anything else stays as written."""
    if "{" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def problem(names: list[str]) -> str:
    """The editor's message for unknown variables."""
    known = "、".join(f"{{{name}}}" for name in VARIABLES)
    return f"未知的变量{'、'.join(f'「{{{n}}}」' for n in names)}，可用的变量：{known}"
