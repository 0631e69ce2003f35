"""Edge helpers shared by every area's routes: templates, CSRF, JSON errors, the caller's address."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
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
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return local_text(parsed, fmt)
    return local_text(value, fmt)


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


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


def domain_error_response(exc: DomainError, status: int | None = None) -> JSONResponse:
    return error_response(status or exc.status_code, exc.code, exc.message, exc.field)


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.ctx.templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)
