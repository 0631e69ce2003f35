"""One check, on every HTTP route, for text that no database can store: lone surrogates, NUL, control characters.

A lone UTF-16 surrogate (``"a\\ud800"`` in JSON, which a browser's ``JSON.stringify`` can produce) reached the
database driver and came back as a 500 after part of the request had been written; NUL was stored by SQLite and
refused by PostgreSQL. Rather than trusting each of a hundred routes to remember ``CleanStr``, the app installs
``reject_unstorable_text`` as a dependency of every route: it reads the query string, the path, a form body and a
JSON body (already parsed and cached by FastAPI, so nothing is read twice) and answers 422 with the exact field
before the route runs. The rule itself is ``edudesk.inputs.text_problem``; the OpenAPI schema states it as
``NO_CONTROL_PATTERN`` on the API's string fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection, Request

from edudesk.inputs import text_problem
from edudesk.web import printable

# What the OpenAPI schema says about every text the API accepts (the same rule as ``text_problem``; lone
# surrogates cannot be written in a pattern, and no UTF-8 request can carry one except through a JSON escape).
NO_CONTROL_PATTERN = "^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in a parsed JSON document with where it is; object keys count as text too."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*loc, str(key)), str(key)
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def _reject(loc: tuple[str | int, ...], problem: str) -> None:
    field = printable(".".join(str(p) for p in loc[1:]))
    raise RequestValidationError([{"type": "unstorable_text", "loc": loc, "msg": f"{field} {problem}",
                                   "input": None}])


def _declared_form_fields(route: Any) -> set[str] | None:
    """The form fields a route reads, or None when it reads its form itself (then every field counts)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None or getattr(route, "body_field", None) is None:
        return None
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.body_params)
        pending.extend(current.dependencies)
    return names


async def reject_unstorable_text(conn: HTTPConnection) -> None:
    """FastAPI dependency installed on the app: 422 for the first field whose text cannot be stored."""
    if conn.scope["type"] != "http":
        return  # WebSockets check their frames themselves (an error frame, not an HTTP status)
    for name, value in conn.path_params.items():
        if isinstance(value, str) and (problem := text_problem(value)):
            _reject(("path", name), problem)
    for name, value in conn.query_params.multi_items():
        for text in (name, value):
            if problem := text_problem(text):
                _reject(("query", name), problem)
    if not isinstance(conn, Request) or conn.method in ("GET", "HEAD", "OPTIONS"):
        return
    content_type = conn.headers.get("content-type", "").split(";")[0].strip().lower()
    route = conn.scope.get("route")
    declares_body = getattr(route, "body_field", None) is not None
    if content_type in _FORM_TYPES:
        if content_type == "multipart/form-data" and not declares_body:
            return  # a route that reads its own multipart body keeps its own limits; it is parsed only there
        form = await conn.form()  # FastAPI parsed it already for routes with form fields: this is the cache
        declared = _declared_form_fields(route)
        for name, value in form.multi_items():
            if declared is not None and name not in declared:
                continue  # a field the route does not read is never stored (FastAPI ignores it)
            if isinstance(value, str) and (problem := text_problem(value)):
                _reject(("form", name), problem)
    elif content_type.endswith("json") and declares_body:
        try:
            document = await conn.json()  # cached by FastAPI
        except (ValueError, json.JSONDecodeError):
            return  # FastAPI reports malformed JSON itself
        reject_unstorable_json(document)


def reject_unstorable_json(document: Any, body: bytes | None = None) -> None:
    """The check of a parsed JSON body, for an endpoint that parses its own (the widget's beacon shortcut): the
    same 422 for the first string, or object key, that cannot be stored.

    ``body``, the bytes ``document`` was parsed from, allows one pass over the whole text instead of one per
    string: without a backslash there is no escape, so every string is a piece of the UTF-8 text as it stands
    (``json.loads`` reads UTF-16 and UTF-32 too, but their NUL bytes fail this check and take the long one)."""
    if body is not None and b"\\" not in body:
        try:
            whole = body.decode("utf-8")
        except UnicodeDecodeError:
            whole = None
        if whole is not None and text_problem(whole) is None:
            return
    for loc, text in _strings(document, ("body",)):
        if problem := text_problem(text):
            _reject(loc, problem)
