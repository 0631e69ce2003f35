"""Pure rules for canned replies: cleaning and checking what an agent typed, and filling placeholders.

No session and no HTTP: the service, the views and the demo seed share these, so a rule is written once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from edudesk.errors import DomainError

MAX_SHORTCUT = 32
MAX_TITLE = 100
MAX_TEXT = 2000
MAX_CATEGORY = 50
TITLE_FROM_TEXT = 20  # an empty title becomes the first words of the reply
# Letters, digits, CJK ideographs (basic block and extension A), "-" and "_": what fits after "/" in a chat box.
_SHORTCUT_OK = re.compile(r"[0-9a-z_\-\u3400-\u4dbf\u4e00-\u9fff]+")
# Control characters (NUL is refused by PostgreSQL text columns); a reply keeps its line breaks and tabs.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
PLACEHOLDERS = ("{visitor_name}", "{agent_name}")


class CannedError(DomainError):
    """A canned-reply rule was broken; ``field`` names the form field to show the message beside."""


class CannedForbidden(CannedError):
    status_code = 403


@dataclass(frozen=True)
class CannedInput:
    """What the form (or the demo seed) gives: raw, cleaned by ``clean``. ``shared`` = for the whole org."""

    shortcut: str
    text: str
    title: str = ""
    category: str = ""
    shared: bool = False


def normalise_shortcut(raw: str) -> str:
    """``／ＸＦ `` → ``xf``: full-width to half-width, trimmed, a typed leading "/" dropped, lower case."""
    return unicodedata.normalize("NFKC", raw).strip().lstrip("/").strip().lower()


def clean_shortcut(raw: str) -> str:
    shortcut = normalise_shortcut(raw)
    if not shortcut:
        raise CannedError("empty_shortcut", "请填写快捷短语", "shortcut")
    if len(shortcut) > MAX_SHORTCUT:
        raise CannedError("shortcut_too_long", f"快捷短语不能超过 {MAX_SHORTCUT} 个字符", "shortcut")
    if not _SHORTCUT_OK.fullmatch(shortcut):
        raise CannedError("bad_shortcut", "快捷短语只能包含字母、数字、汉字、- 和 _（不能有空格或标点）", "shortcut")
    return shortcut


def _one_line(raw: str) -> str:
    return _SPACES.sub(" ", _CONTROL.sub("", raw)).strip()


def clean_text(raw: str) -> str:
    text = _CONTROL.sub("", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise CannedError("empty_text", "请填写回复内容", "text")
    if len(text) > MAX_TEXT:
        raise CannedError("text_too_long", f"回复内容不能超过 {MAX_TEXT} 个字（现在 {len(text)} 个字）", "text")
    return text


def clean(data: CannedInput) -> CannedInput:
    """The input with every field cleaned and checked, first problem first (in form order)."""
    shortcut = clean_shortcut(data.shortcut)
    title = _one_line(data.title)
    if len(title) > MAX_TITLE:
        raise CannedError("title_too_long", f"标题不能超过 {MAX_TITLE} 个字", "title")
    category = _one_line(data.category)
    if len(category) > MAX_CATEGORY:
        raise CannedError("category_too_long", f"分类不能超过 {MAX_CATEGORY} 个字", "category")
    text = clean_text(data.text)
    if not title:
        title = _one_line(text.split("\n", 1)[0])[:TITLE_FROM_TEXT]
    return CannedInput(shortcut=shortcut, text=text, title=title, category=category, shared=data.shared)


def fill(text: str, *, visitor_name: str, agent_name: str) -> str:
    """Fills ``{visitor_name}`` (empty when the visitor has not said their name, so "{visitor_name}您好" still reads
    well) and ``{agent_name}``; any other brace text is left as written."""
    return text.replace("{visitor_name}", visitor_name).replace("{agent_name}", agent_name)
