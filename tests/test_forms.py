"""``edudesk.forms.submit``, the one shape of every staff form post: CSRF first, one transaction, the error beside
its field. Driven through a tiny app of its own (on both databases) so each promise is checked on its own: a bad or
missing token writes nothing, a refused write leaves nothing behind, a good one commits exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from edudesk.db import Database, NotFoundError
from edudesk.errors import DomainError
from edudesk.forms import STALE, Rejected, as_raised, submit
from edudesk.web import CSRF_HEADER, csrf_token

PROBE = sa.Table("forms_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50), nullable=False, unique=True))


class Refused(DomainError):
    status_code = 409


def _write(session: Session, name: str, then: str) -> int:
    """Inserts a row, then does what ``then`` says: the row must survive only when nothing went wrong."""
    session.execute(PROBE.insert().values(name=name))
    if then == "domain":
        raise DomainError("bad_name", "名称不能用", "name")
    if then == "domain_409":
        raise Refused("taken", "已被占用")
    if then == "missing":
        raise NotFoundError("Probe", 1)
    return int(session.execute(sa.select(sa.func.count()).select_from(PROBE)).scalar_one())


def _answer(outcome: int | Rejected) -> Response:
    if isinstance(outcome, Rejected):
        return JSONResponse({"errors": outcome.beside("form"), "stale": outcome.stale}, status_code=outcome.status)
    return JSONResponse({"rows": outcome})


def make_app(database: Database) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="forms-test-secret")
    app.state.ctx = SimpleNamespace(db=database)

    @app.get("/token")
    def token(request: Request) -> Response:
        return JSONResponse({"token": csrf_token(request)})

    @app.post("/probe")
    def probe(request: Request, name: str = Form(""), then: str = Form("ok"), csrf_token: str = Form("")
              ) -> Response:
        return _answer(submit(request, csrf_token, lambda session: _write(session, name, then)))

    @app.post("/probe/raised")
    def probe_raised(request: Request, name: str = Form(""), then: str = Form("ok"), csrf_token: str = Form("")
                     ) -> Response:
        return _answer(submit(request, csrf_token, lambda session: _write(session, name, then), status=as_raised))

    @app.post("/probe/conflict")
    def probe_conflict(request: Request, name: str = Form(""), csrf_token: str = Form("")) -> Response:
        taken = Rejected("这个名称刚被别人保存", "conflict", 409, "name")
        return _answer(submit(request, csrf_token, lambda session: _write(session, name, "ok"), conflict=taken))

    return app


@pytest.fixture
def probe_db(database: Database) -> Iterator[Database]:
    PROBE.create(database.engine, checkfirst=True)
    try:
        yield database
    finally:
        PROBE.drop(database.engine, checkfirst=True)


@pytest.fixture
def form_client(probe_db: Database) -> Iterator[TestClient]:
    with TestClient(make_app(probe_db)) as client:
        yield client


def token_of(client: TestClient) -> str:
    return str(client.get("/token").json()["token"])


def names(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.execute(sa.select(PROBE.c.name).order_by(PROBE.c.id)).scalars())


@pytest.fixture
def commits(probe_db: Database) -> Iterator[list[int]]:
    seen: list[int] = []

    def count(session: Session) -> None:
        seen.append(1)

    event.listen(probe_db.sessionmaker, "after_commit", count)
    try:
        yield seen
    finally:
        event.remove(probe_db.sessionmaker, "after_commit", count)


@pytest.mark.parametrize("token", [None, "", "forged", "x" * 100])
def test_a_missing_or_wrong_token_is_refused_and_nothing_is_written(form_client: TestClient, probe_db: Database,
                                                                    commits: list[int], token: str | None) -> None:
    token_of(form_client)  # the session has a real token; the post does not carry it
    data: dict[str, Any] = {"name": "甲"}
    if token is not None:
        data["csrf_token"] = token
    resp = form_client.post("/probe", data=data)
    assert resp.status_code == 400
    assert resp.json() == {"errors": {"form": STALE}, "stale": True}
    assert names(probe_db) == [] and commits == []


def test_a_token_from_another_session_is_refused(form_client: TestClient, probe_db: Database) -> None:
    with TestClient(form_client.app) as other:
        foreign = token_of(other)
    token_of(form_client)
    resp = form_client.post("/probe", data={"name": "甲", "csrf_token": foreign})
    assert resp.status_code == 400 and names(probe_db) == []


def test_success_commits_once_and_returns_what_the_write_returned(form_client: TestClient, probe_db: Database,
                                                                  commits: list[int]) -> None:
    resp = form_client.post("/probe", data={"name": "甲", "csrf_token": token_of(form_client)})
    assert resp.status_code == 200 and resp.json() == {"rows": 1}
    assert names(probe_db) == ["甲"] and len(commits) == 1


def test_htmx_and_plain_posts_are_answered_alike(form_client: TestClient, probe_db: Database) -> None:
    token = token_of(form_client)
    plain = form_client.post("/probe", data={"name": "甲", "then": "domain", "csrf_token": token})
    htmx = form_client.post("/probe", data={"name": "甲", "then": "domain"},
                            headers={"HX-Request": "true", CSRF_HEADER: token})  # htmx sends the token as a header
    assert (plain.status_code, plain.json()) == (htmx.status_code, htmx.json()) == (
        422, {"errors": {"name": "名称不能用"}, "stale": False})
    ok = form_client.post("/probe", data={"name": "乙"}, headers={"HX-Request": "true", CSRF_HEADER: token})
    assert ok.status_code == 200 and names(probe_db) == ["乙"]


def test_a_domain_error_puts_the_message_beside_its_field_and_rolls_everything_back(
        form_client: TestClient, probe_db: Database, commits: list[int]) -> None:
    resp = form_client.post("/probe", data={"name": "甲", "then": "domain", "csrf_token": token_of(form_client)})
    assert resp.status_code == 422
    assert resp.json()["errors"] == {"name": "名称不能用"}
    assert names(probe_db) == [] and commits == []


def test_an_error_without_a_field_goes_to_the_default_slot_with_the_chosen_status(form_client: TestClient,
                                                                                  probe_db: Database) -> None:
    token = token_of(form_client)
    resp = form_client.post("/probe", data={"name": "甲", "then": "domain_409", "csrf_token": token})
    assert (resp.status_code, resp.json()["errors"]) == (422, {"form": "已被占用"})  # forms answer 422 by default
    resp = form_client.post("/probe/raised", data={"name": "甲", "then": "domain_409", "csrf_token": token})
    assert (resp.status_code, resp.json()["errors"]) == (409, {"form": "已被占用"})  # or the error's own status
    assert names(probe_db) == []


def test_a_race_on_a_unique_index_is_the_given_conflict_and_keeps_the_first(form_client: TestClient,
                                                                           probe_db: Database) -> None:
    token = token_of(form_client)
    assert form_client.post("/probe/conflict", data={"name": "甲", "csrf_token": token}).status_code == 200
    resp = form_client.post("/probe/conflict", data={"name": "甲", "csrf_token": token})
    assert resp.status_code == 409 and resp.json()["errors"] == {"name": "这个名称刚被别人保存"}
    assert names(probe_db) == ["甲"]


def test_an_integrity_error_nobody_expected_is_not_hidden(form_client: TestClient, probe_db: Database) -> None:
    token = token_of(form_client)
    form_client.post("/probe", data={"name": "甲", "csrf_token": token})
    with pytest.raises(sa.exc.IntegrityError):
        form_client.post("/probe", data={"name": "甲", "csrf_token": token})
    assert names(probe_db) == ["甲"]


def test_errors_that_are_not_the_forms_business_propagate_after_a_rollback(form_client: TestClient,
                                                                          probe_db: Database) -> None:
    with pytest.raises(NotFoundError):  # the app's handler turns it into its 404 page
        form_client.post("/probe", data={"name": "甲", "then": "missing", "csrf_token": token_of(form_client)})
    assert names(probe_db) == []


def test_rejected_as_json_is_the_api_error_body() -> None:
    resp = Rejected("名称不能用", "bad_name", 422, "name").as_json()
    assert resp.status_code == 422
    assert json.loads(bytes(resp.body)) == {"error": {"code": "bad_name", "message": "名称不能用", "field": "name"}}
    assert Rejected(STALE, "csrf", 400).beside("rule") == {"rule": STALE}
