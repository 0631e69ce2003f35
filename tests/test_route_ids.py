"""Every route that takes an integer from the URL answers a 4xx — never a 500 — for ids no row can have.

The routes are read from the application itself (``app.routes``), so a route added later is covered without
touching this file: for each integer path or query parameter of each HTTP route (API and staff pages alike) it
sends 2^31, 2^63, 2^64 and -1, once anonymously and once as a logged-in admin who also carries an API token with every
scope. Before this, ``GET /api/v1/attachments/99999999999999999999/x`` and about fifteen other routes answered 500
because the number reached the database driver.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass

import pytest
from fastapi import FastAPI, Form, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from edudesk.apitokens import service as apitokens_service
from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.db import Database
from tests.conftest import TwoOrgs, login

BAD_IDS = (2**31, 2**63, 2**64, -1)  # 2^31: the first id past PostgreSQL's 32-bit integer columns
PLACEHOLDER = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class IntParam:
    method: str
    path: str
    name: str
    where: str  # "path" or "query"
    path_ints: tuple[str, ...]


def _flat(dependant: Dependant, kind: str) -> list[typing.Any]:
    found = list(getattr(dependant, kind))
    for sub in dependant.dependencies:
        found += _flat(sub, kind)
    return found


def _is_int(annotation: object) -> bool:
    if annotation is int:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_int(arm) for arm in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_int(typing.get_args(annotation)[0])
    return False


def int_params(app: FastAPI) -> list[IntParam]:
    params: list[IntParam] = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        methods = route.methods or set()
        if dependant is None or not methods:  # mounts, WebSockets (tested by their own suite)
            continue
        path_ints = tuple(p.alias for p in _flat(dependant, "path_params") if _is_int(p.field_info.annotation))
        for method in sorted(methods - {"HEAD"}):
            for name in path_ints:
                params.append(IntParam(method, str(route.path), name, "path", path_ints))
            for p in _flat(dependant, "query_params"):
                if _is_int(p.field_info.annotation):
                    params.append(IntParam(method, str(route.path), p.alias, "query", path_ints))
    return params


def url_for(param: IntParam, bad: int) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if param.where == "path" and name == param.name:
            return str(bad)
        return "1" if name in param.path_ints else "x"

    url = PLACEHOLDER.sub(fill, param.path)
    return f"{url}?{param.name}={bad}" if param.where == "query" else url


def every_scope(database: Database, org_id: int) -> dict[str, str]:
    with database.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(org_id, label="t"), name="all",
                                                scopes=list(apitokens_service.SCOPES))
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_the_sweep_sees_every_kind_of_route(app: FastAPI) -> None:
    """The enumeration itself: public, API and staff routes, path and query parameters are all in it."""
    seen = {(p.path, p.name, p.where) for p in int_params(app)}
    for expected in (("/api/v1/attachments/{attachment_id}/{key}", "attachment_id", "path"),
                     ("/api/v1/tickets/{ticket_id}", "ticket_id", "path"),
                     ("/api/v1/tickets", "group_id", "query"),
                     ("/api/v1/leads", "page", "query"),
                     ("/console", "c", "query"),
                     ("/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}", "delivery_id", "path")):
        assert expected in seen, expected
    assert len(seen) > 80


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_huge_and_negative_ids_are_a_4xx_on_every_route(app: FastAPI, client: TestClient, database: Database,
                                                        orgs: TwoOrgs, who: str) -> None:
    headers: dict[str, str] = {}
    form: dict[str, str] = {}
    if who == "admin":
        form["csrf_token"] = login(client, orgs.a.slug, "admin")
        headers = every_scope(database, orgs.a.id)
    failures = []
    for param in int_params(app):
        for bad in BAD_IDS:
            url = url_for(param, bad)
            # A browser's Accept on staff pages (the error page path), JSON on the API (the error-object path).
            accept = "application/json" if url.startswith("/api/") else "text/html"
            resp = client.request(param.method, url, headers={**headers, "accept": accept},
                                  data=form if param.method != "GET" else None, follow_redirects=False)
            to_login = resp.status_code == 303 and resp.headers["location"] == "/login"
            if not (400 <= resp.status_code < 500 or (who == "anonymous" and to_login)):
                failures.append(f"{param.method} {url} → {resp.status_code}")
    assert not failures, "\n".join(failures)


def test_a_hand_parsed_form_id_past_2_63_is_a_4xx(app: FastAPI, client: TestClient, orgs: TwoOrgs) -> None:
    """Some staff forms take an id as text and parse it themselves (trials: the lead to book): the database
    refusing the number (SQLite raises OverflowError, PostgreSQL a DataError) is the input's fault, a 422."""
    @app.post("/admin/test-hand-parsed", include_in_schema=False)
    def hand_parsed(request: Request, contact_id: typing.Annotated[str, Form()] = "") -> None:
        with get_ctx(request).db.session() as session:
            contacts_service.get(session, orgs.a.id, int(contact_id))

    for accept in ("text/html", "application/json"):
        resp = client.post("/admin/test-hand-parsed", data={"contact_id": str(2**63)}, headers={"accept": accept})
        # PostgreSQL compares the number as numeric and finds nothing (404); SQLite cannot bind it (422).
        assert resp.status_code in (404, 422), (accept, resp.status_code, resp.text[:300])
