"""edudesk's own middlewares hand a socket straight to the app: each returns the app's own awaitable instead of
awaiting it in a coroutine of its own, so no frame of theirs lives as long as a widget socket (thousands of them,
all evening; docs/performance.md, "Per-socket memory, round 2")."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import pytest
from starlette.types import ASGIApp

from edudesk.i18n import LocaleMiddleware, get_locale
from edudesk.internal_errors import InternalErrorMiddleware
from edudesk.security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    StaffSessionMiddleware,
    WidgetCorsMiddleware,
)
from edudesk.shortcuts import ShortcutMiddleware
from tests.test_events import run_in_fresh_loop

MIDDLEWARES: dict[str, Callable[[ASGIApp], Any]] = {
    "internal_errors": InternalErrorMiddleware,
    "security_headers": SecurityHeadersMiddleware,
    "body_limit": lambda app: BodyLimitMiddleware(app, max_bytes=10, upload_max_bytes=10, upload_paths=()),
    "widget_cors": lambda app: WidgetCorsMiddleware(app, prefixes=("/api/v1/widget/",)),
    "locale": LocaleMiddleware,
    "session": lambda app: StaffSessionMiddleware(app, secret_key="x" * 32),
    "shortcuts": lambda app: ShortcutMiddleware(app, shortcuts=(), stack=(), handlers={}),
}

SOCKET_SCOPE = {"type": "websocket", "path": "/ws/visitor", "headers": [(b"origin", b"https://school.example"),
                                                                       (b"accept-language", b"en-US,en;q=0.9")]}


class Inner:
    """The app below: records that it was called and returns a marker awaitable."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.marker = asyncio.sleep(0)

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        self.calls.append(scope)
        return self.marker


@pytest.mark.parametrize("name", sorted(MIDDLEWARES))
def test_a_socket_gets_the_apps_own_awaitable(name: str) -> None:
    inner = Inner()
    try:
        # In a context of its own: the locale middleware sets the socket's locale in its caller's context, as it
        # must, and that caller would otherwise be this test worker's for the rest of the run.
        result = contextvars.copy_context().run(MIDDLEWARES[name](inner), SOCKET_SCOPE, None, None)
        assert result is inner.marker, "the middleware wrapped the socket in a coroutine that lives as long as it"
        assert inner.calls == [SOCKET_SCOPE]
    finally:
        inner.marker.close()


def test_the_locale_is_still_set_for_a_socket() -> None:
    inner = Inner()

    def call() -> str:
        LocaleMiddleware(inner)(SOCKET_SCOPE, None, None)
        return get_locale()

    try:
        assert contextvars.copy_context().run(call) == "en"
    finally:
        inner.marker.close()


def test_the_consoles_sockets_still_get_the_staff_session() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope.get("session"))

    async def scenario() -> None:
        mw = StaffSessionMiddleware(inner, secret_key="x" * 32)
        await mw({"type": "websocket", "path": "/voice/calls/1/agent", "headers": []}, None, None)
        await mw({"type": "http", "method": "GET", "path": "/console", "headers": []}, None, None)
        await mw(dict(SOCKET_SCOPE), None, None)

    run_in_fresh_loop(scenario())
    assert seen == [{}, {}, None], "a console socket and a page get a session; the widget's socket has none"
