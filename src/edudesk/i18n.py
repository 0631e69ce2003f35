"""Chinese-first UI text with English from Babel catalogues.

Message ids are the Chinese strings themselves; ``locale/<lang>/LC_MESSAGES/messages.po`` translates them. The
catalogues are read from the .po files at start-up (no compiled .mo files to keep in sync), and the request's
language lives in a context variable so that templates and services share it without passing it around.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable
from pathlib import Path

from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.types import ASGIApp, Receive, Scope, Send

LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("zh", "en")
DEFAULT = "zh"
LANG_COOKIE = "edudesk_lang"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("edudesk_locale", default=DEFAULT)


class Catalogues:
    def __init__(self, locale_dir: Path = LOCALE_DIR) -> None:
        self._messages: dict[str, dict[str, str]] = {}
        for lang in SUPPORTED:
            po = locale_dir / lang / "LC_MESSAGES" / "messages.po"
            if not po.exists():
                continue
            stat = po.stat()
            self._messages[lang] = _translations(po, lang, stat.st_mtime_ns, stat.st_size)

    def gettext(self, text: str) -> str:
        lang = _current.get()
        if lang == DEFAULT:
            return text
        return self._messages.get(lang, {}).get(text, text)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


@functools.lru_cache(maxsize=8)
def _translations(po: Path, lang: str, mtime_ns: int, size: int) -> dict[str, str]:
    """A catalogue's translations, parsed once per version of the file (keyed by its time and size): parsing the
    English .po is 50 ms, paid by every app built — once in a server, hundreds of times in the tests. The dict is
    shared and only read."""
    del mtime_ns, size  # part of the cache key only
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


def set_locale(lang: str) -> contextvars.Token[str]:
    return _current.set(lang if lang in SUPPORTED else DEFAULT)


def get_locale() -> str:
    return _current.get()


def pick_locale(cookie: str | None, accept_language: str | None) -> str:
    if cookie in SUPPORTED:
        return cookie
    if accept_language:
        first = accept_language.split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
    return DEFAULT


__all__ = ["Catalogues", "LocaleMiddleware", "Translations", "get_locale", "pick_locale", "set_locale"]


class LocaleMiddleware:
    """Sets the request's UI language from the language cookie or Accept-Language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine: it returns the app's own awaitable (run in this context, so with this locale), so no
        frame of it lives as long as a widget socket's request, which lasts all evening."""
        if scope["type"] in ("http", "websocket"):
            # In a function of its own: its locals (a dict of every header) are gone once the locale is set.
            set_locale(_request_locale(scope))
        return self.app(scope, receive, send)


def _request_locale(scope: Scope) -> str:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    cookie = None
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == LANG_COOKIE:
            cookie = value
    return pick_locale(cookie, headers.get("accept-language"))
