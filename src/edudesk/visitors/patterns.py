"""URL patterns as admins type them, and matching a page URL against one. Pure: no session, no HTTP.

A pattern is one of
- a path prefix: ``/courses/math`` matches ``/courses/math`` and everything under it, on any host;
- a path glob: ``*price*``, ``/courses/*/fees`` (``*`` any characters, ``?`` one), on any host;
- either of those after a host: ``m.school.example/courses/math``, ``*.school.example/*price*`` (a host alone
  matches every page of that host; a host glob starts with ``*.``, any other leading ``*`` is a path glob).
Paths are compared percent-decoded (``/课程/数学`` matches the URL the browser sent as ``/%E8%AF%BE…``) and hosts
case-insensitively; the query string and fragment are ignored, so ``?utm_source=…`` never hides a course page.
"""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import unquote, urlsplit

from edudesk.errors import DomainError

MAX_PATTERN = 300
_HOST_RE = re.compile(r"^[a-z0-9*?][a-z0-9.*?-]*(:\d{1,5})?$")


class PatternError(DomainError):
    pass


def clean_pattern(raw: str, field: str = "pattern") -> str:
    """The pattern as stored, or a PatternError naming ``field`` (shown beside it)."""
    text = raw.strip()
    if not text:
        raise PatternError("empty_pattern", "请填写网址规则，例如 /courses/math 或 *price*", field)
    if len(text) > MAX_PATTERN:
        raise PatternError("too_long", f"网址规则不超过 {MAX_PATTERN} 个字符", field)
    if any(ch.isspace() or ord(ch) < 32 or ch in "<>\"'\\" for ch in text):
        raise PatternError("bad_pattern", "网址规则不能包含空格、引号或尖括号", field)
    if "://" in text:
        text = text.split("://", 1)[1]
    if not is_host_pattern(text):
        return text
    host = text.split("/", 1)[0].lower()
    if not _HOST_RE.match(host):
        raise PatternError("bad_pattern", "网址规则应以 / 或 * 开头，或以域名开头（如 m.school.example/courses）",
                           field)
    return host + text[len(host):]


def split_url(url: str) -> tuple[str, str]:
    """(host, decoded path) of a page URL; a bare path is accepted (no host)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "", ""
    host = (parts.hostname or "").lower()
    if parts.port:
        host = f"{host}:{parts.port}"
    return host, unquote(parts.path or "/")


def _path_matches(pattern: str, path: str) -> bool:
    if not pattern:
        return True
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(path, pattern)
    return path.startswith(pattern)


def is_host_pattern(pattern: str) -> bool:
    """A pattern names a host unless it starts with ``/`` or is a path glob (``*`` not followed by ``.``)."""
    return not pattern.startswith("/") and not (pattern.startswith("*") and not pattern.startswith("*."))


def matches(pattern: str, url: str) -> bool:
    """Whether the page ``url`` is one ``pattern`` (as stored by ``clean_pattern``) describes."""
    host, path = split_url(url)
    if not is_host_pattern(pattern):
        return _path_matches(unquote(pattern), path)
    host_part, _, rest = pattern.partition("/")
    if not fnmatch.fnmatchcase(host, host_part.lower()):
        return False
    return _path_matches(unquote("/" + rest) if rest else "", path)
