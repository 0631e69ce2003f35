"""The last line of defence: an exception no handler knew becomes a logged, well-formed 500.

Starlette's ``ServerErrorMiddleware`` answers such an exception with a 500 and then re-raises it so that the server
can log it. uvicorn, seeing an exception after the response has started, closes the connection — so the *next*
request a client had already sent on that keep-alive connection was reset ("Connection reset by peer"), which
looked like a second, unrelated failure. This middleware sits just inside ``ServerErrorMiddleware``, logs the
exception once with the request's method and path, answers the API's error format (or the error page for a person
in a browser) and does not re-raise, so the connection stays usable. An exception after the response has already
started cannot be answered any more; it is re-raised, and the server drops that one broken connection.
"""

from __future__ import annotations

from collections.abc import Awaitable

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edudesk.web import browser_navigation, error_response, page

log = structlog.get_logger(__name__)

TITLE = "服务器出错了"
MESSAGE = "服务器内部错误，请稍后重试。我们已记录这个问题。"


class InternalErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A socket (or lifespan) passes straight through: returning the app's own awaitable keeps no frame of
        this middleware alive for as long as the socket is open (thousands of widget sockets, all evening)."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled_exception", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise
            await internal_error_response(Request(scope))(scope, receive, send)


def internal_error_response(request: Request) -> Response:
    """The 500 a client sees: no exception text, no stack — those are in the log only."""
    if browser_navigation(request):
        try:
            response: Response = page(request, "error.html", status_code=500, title=TITLE, message=MESSAGE)
            return response
        except Exception:  # the templates themselves may be what failed
            log.exception("error_page_failed")
            return PlainTextResponse(MESSAGE, status_code=500)
    return error_response(500, "internal_error", MESSAGE)
