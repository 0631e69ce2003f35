"""Requests answered ahead of most of the middleware stack: a channel's hottest endpoint, exactly as the stack would.

The widget's page-view beacon comes once per page view of every visitor of every institution; through the whole
stack (eight middlewares, FastAPI's matching over some three hundred routes, its dependency solving) it cost about
four times the work of the route itself (docs/performance.md, "Page-view beacons", round 2). A ``Shortcut`` names
such an endpoint, a plain ASGI app, and the middlewares whose effect its answers do not need (the session and the
locale: a beacon reads no session and renders no text). ``ShortcutMiddleware``, the outermost of the app's own
middlewares, sends the requests the shortcut ``takes`` through a copy of the app's middleware list without those
— the same classes with the same arguments, so security headers, CORS, body limits and internal errors stay
exactly what they are — and the app's exception handlers (a rate limit's 429, a validation error's 422, an
unreachable database's 503). Everything else, and every request the shortcut does not take (say, one carrying a
cookie the session middleware would answer to), goes the long way, unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Shortcut:
    """``app`` answers the HTTP requests to exactly ``path`` that ``takes`` (given the scope) accepts; ``skips``:
    the middleware classes that have no effect on such a request (the shortcut's claim, which its tests check by
    comparing its answers with the long way's)."""

    path: str
    app: ASGIApp
    takes: Callable[[Scope], bool]
    skips: tuple[type, ...] = ()


class ShortcutMiddleware:
    """Add it last (the outermost of the app's middlewares). ``stack`` and ``handlers`` are the app's own
    ``user_middleware`` list and ``exception_handlers`` dict: read when the stack is built (the first request),
    so whatever the factory added after this middleware is there too."""

    def __init__(self, app: ASGIApp, *, shortcuts: Iterable[Shortcut], stack: Sequence[Middleware],
                 handlers: Mapping[Any, Any]) -> None:
        self.app = app
        # Like FastAPI's own stack: the 500 / Exception handler belongs to the server-error middleware outside.
        exception_handlers = {key: value for key, value in handlers.items() if key not in (500, Exception)}
        self._routes: dict[str, tuple[Callable[[Scope], bool], ASGIApp]] = {}
        for shortcut in shortcuts:
            chain: ASGIApp = ExceptionMiddleware(shortcut.app, handlers=exception_handlers)
            for cls, args, kwargs in reversed(stack):
                if cls is not ShortcutMiddleware and cls not in shortcut.skips:
                    chain = cls(chain, *args, **kwargs)
            self._routes[shortcut.path] = (shortcut.takes, chain)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Returns the awaitable of whichever app answers, so no frame of this middleware lives as long as a
        widget socket (as the other middlewares, docs/performance.md "Per-socket memory, round 2")."""
        if scope["type"] == "http":
            route = self._routes.get(scope["path"])
            if route is not None and not scope.get("root_path") and route[0](scope):
                return route[1](scope, receive, send)
        return self.app(scope, receive, send)
