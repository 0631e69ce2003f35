"""Edge helpers shared by every area's routes: templates, CSRF, JSON errors, the caller's address."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape
from starlette.requests import HTTPConnection

from edudesk.errors import DomainError
from edudesk.i18n import Catalogues, get_locale
from edudesk.localtime import LOCAL_TZ, local_text

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
CSRF_SESSION_KEY = "csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def make_templates(catalogues: Catalogues) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
    )
    # Newstyle gettext marks what it returns as safe HTML, and pages pass messages through _() that quote input
    # (an error naming the bad value): escape first, so {{ _(error) }} is as safe as {{ error }}. No msgid is HTML.
    def gettext(text: str) -> str:
        return str(escape(catalogues.gettext(text)))

    def ngettext(singular: str, plural: str, n: int) -> str:
        return str(escape(catalogues.ngettext(singular, plural, n)))

    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["current_locale"] = get_locale
    env.globals["csrf_token"] = csrf_token
    # {{ when|local }}: a stored UTC time as the institution reads it (北京时间), never a bare UTC on a page.
    env.filters["local"] = _local
    env.globals["local_tz"] = LOCAL_TZ.key  # for the console's script, which formats live messages the same way
    return Jinja2Templates(env=env)


def _local(value: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``local_text`` that also takes the ISO strings of message dicts (the form the realtime frames carry)."""
    if isinstance(value, str):
        try:
            parsed: dt.datetime | None = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    return local_text(parsed, fmt)


def csrf_token(request: HTTPConnection) -> str:
    token = request.session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return str(token)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.session.get(CSRF_SESSION_KEY)
    candidate = submitted or request.headers.get(CSRF_HEADER)
    return bool(expected and candidate and hmac.compare_digest(str(expected), str(candidate)))


def wants_json(request: HTTPConnection) -> bool:
    """The API, scripts and the console's fetch calls get ``{"error": …}`` JSON rather than a page."""
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def browser_navigation(request: HTTPConnection) -> bool:
    """A person opened this URL in a browser (not a script, an htmx swap or the API): they get a page, not JSON."""
    return (not wants_json(request) and "text/html" in request.headers.get("accept", "")
            and request.headers.get("hx-request") != "true")


def printable(text: str) -> str:
    """``text`` with lone surrogates and control characters written as escapes: an error that names a bad field
    or echoes bad input must itself be encodable (a lone surrogate cannot be written as UTF-8)."""
    return "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else ascii(ch)[1:-1] for ch in text)


def allowed_methods(request: Request) -> list[str]:
    """Every HTTP method some route serves at this request's path (for the Allow header of a 405)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex, served = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and served and regex.match(request.url.path):
            methods |= set(served)
    return sorted(methods)


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": printable(message),
                                   "field": printable(field) if field is not None else None}}, status_code=status)


def domain_error_response(exc: DomainError, status: int | None = None) -> JSONResponse:
    return error_response(status or exc.status_code, exc.code, exc.message, exc.field)


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.ctx.templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _not_from_request_none() -> None:
    return None


def _not_from_request_ok() -> int:
    return 200


# A page renderer that is also a route takes its error text and status from the views that call it, never from the
# URL: ``?error=请拨打…&status_code=99999`` would otherwise put a stranger's words on a staff page (or crash the
# server with a status no HTTP response can carry). These dependencies always give the default on a request.
InternalText = Annotated[str | None, Depends(_not_from_request_none)]
InternalStatus = Annotated[int, Depends(_not_from_request_ok)]
InternalForm = Annotated[dict[str, str] | None, Depends(_not_from_request_none)]
