"""Pure rules for knowledge-base text: normalising for comparison, limits, and parsing the admin form's fields.

No session and no HTTP: the service, the importer and the views share these so a rule is written once.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from edudesk.errors import DomainError
from edudesk.localtime import local_text, local_today

MAX_QUESTION = 200
MAX_SIMILAR = 200
MAX_SIMILAR_PER_ENTRY = 500
MAX_ANSWER = 2000
MAX_IMAGES = 9
MAX_URL = 500
MAX_BUTTONS = 6
MAX_BUTTON_LABEL = 20
MAX_BUTTON_PAYLOAD = 200
MAX_RELATED = 10
MAX_CATEGORY_NAME = 50
# The CSV/XLSX format joins similar questions with this character, so it cannot be part of one.
SIMILAR_SEPARATOR = "|"

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and needs no tz database.
_SPACES = re.compile(r"\s+")
_URL_OK = re.compile(r"^(https?://[^\s<>\"']+|/static/[^\s<>\"']+)$", re.IGNORECASE)


class KbError(DomainError):
    """A knowledge-base rule was broken; ``field`` names the form field to show the message beside."""


def today_in_shanghai(now: dt.datetime | None = None) -> dt.date:
    """The calendar day entries' validity dates refer to."""
    return local_today(now)


def shanghai_time(value: dt.datetime) -> str:
    """Times on the knowledge-base pages are shown as the institution lives them."""
    return local_text(value)


def normalise(value: str) -> str:
    """Light normalisation for uniqueness: full-width → half-width (NFKC), trimmed, lower case, spaces collapsed.

    Deliberately lighter than the matcher's normalisation: two questions that differ in punctuation or wording are
    still different questions for the editor; only what a person would call "the same text" collides.
    """
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip().lower()


def clean_question(value: str, field: str = "question") -> str:
    value = _SPACES.sub(" ", value).strip()
    if not value:
        raise KbError("empty", "标准问不能为空", field)
    if len(value) > MAX_QUESTION:
        raise KbError("too_long", f"标准问不能超过 {MAX_QUESTION} 个字", field)
    return value


def clean_answer(value: str, field: str = "answer") -> str:
    # A lone CR is a line break too, and XLSX (XML) reads it back as LF: storing LF keeps export → import exact.
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        raise KbError("empty", "答案不能为空", field)
    if len(value) > MAX_ANSWER:
        raise KbError("too_long", f"答案不能超过 {MAX_ANSWER} 个字", field)
    return value


def clean_similar(values: list[str], question: str, field: str = "similar") -> list[str]:
    """Trims, drops blanks, the standard question itself and repeats (compared normalised), keeps the order."""
    seen = {normalise(question)}
    result: list[str] = []
    for raw in values:
        value = _SPACES.sub(" ", raw).strip()
        if not value:
            continue
        if len(value) > MAX_SIMILAR:
            raise KbError("too_long", f"相似问“{value[:20]}…”超过 {MAX_SIMILAR} 个字", field)
        if SIMILAR_SEPARATOR in value:
            raise KbError("bad_char", f"相似问“{value}”不能包含“{SIMILAR_SEPARATOR}”", field)
        norm = normalise(value)
        if norm in seen:
            continue
        seen.add(norm)
        result.append(value)
    if len(result) > MAX_SIMILAR_PER_ENTRY:
        raise KbError("too_many", f"一个词条最多 {MAX_SIMILAR_PER_ENTRY} 个相似问", field)
    return result


def split_lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace("\r\n", "\n").split("\n") if line.strip()]


def clean_images(values: list[str], field: str = "images") -> list[str]:
    urls = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if len(urls) > MAX_IMAGES:
        raise KbError("too_many", f"图片最多 {MAX_IMAGES} 张", field)
    for url in urls:
        if len(url) > MAX_URL or not _URL_OK.match(url):
            raise KbError("bad_url", f"图片地址须以 http://、https:// 或 /static/ 开头：{url[:60]}", field)
    return urls


def clean_buttons(values: list[dict[str, Any]], field: str = "buttons") -> list[dict[str, str]]:
    buttons: list[dict[str, str]] = []
    for item in values:
        label = str(item.get("label", "")).strip()
        payload = str(item.get("payload", "")).strip() or label
        if not label:
            raise KbError("empty", "按钮文字不能为空", field)
        if len(label) > MAX_BUTTON_LABEL:
            raise KbError("too_long", f"按钮文字不能超过 {MAX_BUTTON_LABEL} 个字：{label}", field)
        if len(payload) > MAX_BUTTON_PAYLOAD:
            raise KbError("too_long", f"按钮内容不能超过 {MAX_BUTTON_PAYLOAD} 个字", field)
        buttons.append({"label": label, "payload": payload})
    if len(buttons) > MAX_BUTTONS:
        raise KbError("too_many", f"快捷按钮最多 {MAX_BUTTONS} 个", field)
    return buttons


def parse_buttons(raw: str, field: str = "buttons") -> list[dict[str, str]]:
    """The form's ``文字|内容`` lines; without ``|`` the button sends its own text."""
    items = []
    for line in split_lines(raw):
        label, _, payload = line.replace("｜", "|").partition("|")
        items.append({"label": label, "payload": payload})
    return clean_buttons(items, field)


def parse_date(raw: str, field: str) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise KbError("bad_date", "日期格式应为 YYYY-MM-DD", field) from None


def check_dates(valid_from: dt.date | None, valid_until: dt.date | None) -> None:
    if valid_from and valid_until and valid_until < valid_from:
        raise KbError("bad_range", "结束日期不能早于开始日期", "valid_until")


def clean_category_name(value: str, field: str = "name") -> str:
    value = _SPACES.sub(" ", value).strip()
    if not value:
        raise KbError("empty", "分类名称不能为空", field)
    if len(value) > MAX_CATEGORY_NAME:
        raise KbError("too_long", f"分类名称不能超过 {MAX_CATEGORY_NAME} 个字", field)
    if "/" in value or "／" in value:  # the import reads the full-width slash as a level separator too
        raise KbError("bad_char", "分类名称不能包含“/”（“/”用来分隔层级）", field)
    return value
