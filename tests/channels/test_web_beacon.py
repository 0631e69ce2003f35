"""The page-view beacon (docs/protocol.md, "The beacon"): accepted views are stored in batches and announced;
forged, foreign and refused beacons store nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk import events
from edudesk.audit.service import Actor
from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.db import Database
from edudesk.orgs.models import Org
from edudesk.visitors import settings as trail_settings
from edudesk.visitors.models import PageView, Visit
from edudesk.visitors.runtime import Trail
from tests.conftest import TwoOrgs

SECRET = "test-secret-" + "x" * 20
UA = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"}
LANDING = "https://school.example/?utm_source=baidu&utm_medium=cpc&utm_campaign=kaoyan"


def token(org_id: int, visitor: str = "v_parent1") -> str:
    return VisitorTokens(SECRET).issue(org_id, visitor)[0]


def beacon(org_key: str, tok: str, key: str = "view0001", url: str = LANDING, left: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    return {"org_key": org_key, "token": tok, "view": {"key": key, "url": url, "title": "首页",
                                                       "referrer": "https://www.baidu.com/s?wd=%E8%80%83%E7%A0%94"},
            "left": left, **extra}


def send(client: TestClient, body: dict[str, Any] | str | bytes, *, headers: dict[str, str] | None = None,
         as_beacon: bool = True) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    content_type = "text/plain;charset=UTF-8" if as_beacon else "application/json"
    return client.post("/api/v1/widget/beacon", content=data, headers={"Content-Type": content_type, **UA,
                                                                       **(headers or {})})


def stored(app: FastAPI, database: Database) -> tuple[int, int]:
    trail: Trail = app.state.trail
    trail.writer.drain()
    with database.session() as session:
        return (session.scalar(select(func.count()).select_from(Visit)) or 0,
                session.scalar(select(func.count()).select_from(PageView)) or 0)


@pytest.fixture
def published(app: FastAPI) -> list[events.DomainEvent]:
    seen: list[events.DomainEvent] = []
    app.state.ctx.bus.subscribe(lambda ev: seen.append(ev) if ev.type == "visitor.page_viewed" else None)
    return seen


def test_a_page_view_is_stored_and_announced(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                             published: list[events.DomainEvent]) -> None:
    tok = token(orgs.a.id)
    assert send(client, beacon(orgs.a.public_key, tok)).status_code == 204
    second = beacon(orgs.a.public_key, tok, key="view0002", url="https://school.example/price",
                    left={"key": "view0001", "seconds": 42})
    assert send(client, second, as_beacon=False).status_code == 204
    assert stored(app, database) == (1, 2)
    with database.session() as session:
        visit = session.scalars(select(Visit)).one()
        assert (visit.org_id, visit.visitor_key, visit.page_views, visit.source_kind) == (orgs.a.id, "v_parent1", 2,
                                                                                          "ad")
        assert visit.source["search_keyword"] == "考研" and visit.device == "desktop" and visit.browser == "Chrome"
        assert visit.ip_prefix in ("", "testclient") or visit.ip_prefix.endswith("/24")
        seconds = {k: s for k, s in session.execute(select(PageView.view_key, PageView.seconds))}
        assert seconds == {"view0001": 42, "view0002": None}
    assert [(e.org_id, e.data["view_key"], e.data["landing"]) for e in published] == [
        (orgs.a.id, "view0001", True), (orgs.a.id, "view0002", False)]
    assert published[1].data["source"]["utm_campaign"] == "kaoyan" and published[1].data["contact_id"] is None
    assert published[0].topics == ()


def test_a_duplicate_beacon_is_stored_once(app: FastAPI, client: TestClient, database: Database,
                                           orgs: TwoOrgs) -> None:
    body = beacon(orgs.a.public_key, token(orgs.a.id))
    for _ in range(3):
        assert send(client, body).status_code == 204
    assert stored(app, database) == (1, 1)


def test_forged_and_foreign_beacons_are_refused(app: FastAPI, client: TestClient, database: Database,
                                                orgs: TwoOrgs) -> None:
    other_org_token = token(orgs.b.id)
    refused = send(client, beacon(orgs.a.public_key, other_org_token))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    forged = VisitorTokens("another-secret-" + "y" * 20).issue(orgs.a.id, "v_parent1")[0]
    assert send(client, beacon(orgs.a.public_key, forged)).status_code == 401
    assert send(client, beacon(orgs.a.public_key, token(orgs.a.id)[:-2] + "xx")).status_code == 401
    unknown = send(client, beacon("pk_forged_key", token(orgs.a.id)))
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "org_key"
    assert stored(app, database) == (0, 0)


def test_another_orgs_origin_is_refused(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        session.get_one(Org, orgs.a.id).widget_origins = ["https://school-a.example"]
        session.get_one(Org, orgs.b.id).widget_origins = ["https://school-b.example"]
        session.commit()
    body = beacon(orgs.a.public_key, token(orgs.a.id))
    resp = send(client, body, headers={"Origin": "https://school-b.example"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in resp.headers
    assert send(client, body).status_code == 403  # no Origin at all: only scripts omit it
    assert stored(app, database) == (0, 0)
    ok = send(client, body, headers={"Origin": "https://school-a.example"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "https://school-a.example"
    assert stored(app, database) == (1, 1)


@pytest.mark.parametrize("dnt", [{"DNT": "1"}, {"Sec-GPC": "1"}, {}])
def test_do_not_track_stores_nothing(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                     published: list[events.DomainEvent], dnt: dict[str, str]) -> None:
    body = beacon(orgs.a.public_key, token(orgs.a.id), **({} if dnt else {"dnt": True}))
    assert send(client, body, headers=dnt).status_code == 204
    assert stored(app, database) == (0, 0) and published == []


def test_the_trail_switched_off_stores_nothing(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                               published: list[events.DomainEvent]) -> None:
    with database.session() as session:
        trail_settings.save(session, Actor(orgs.a.id, label="test"), trail_enabled=False, retention_days=90)
        session.commit()
    app.state.trail.forget_gates()
    assert send(client, beacon(orgs.a.public_key, token(orgs.a.id))).status_code == 204
    assert send(client, beacon(orgs.b.public_key, token(orgs.b.id))).status_code == 204
    assert stored(app, database) == (1, 1)
    assert [e.org_id for e in published] == [orgs.b.id]


def test_crawlers_are_stored_but_not_announced(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                               published: list[events.DomainEvent]) -> None:
    resp = send(client, beacon(orgs.a.public_key, token(orgs.a.id)),
                headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36"})
    assert resp.status_code == 204 and published == []
    assert stored(app, database) == (1, 1)


@pytest.mark.parametrize(("body", "status", "field"), [
    ("not json", 400, None),
    ("[1, 2]", 400, None),
    (b"\xff\xfe{", 400, None),
    ("", 400, None),
    ("{}", 422, "org_key"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "short", "url": "https://x"}}), 422, "view.key"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "../../etc/pw", "url": "https://x"}}), 422,
     "view.key"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": ""}}), 422, "view.url"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x\u0000"}}), 422,
     "view.url"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x"},
                 "left": {"key": "abcdefgh", "seconds": -1}}), 422, "left.seconds"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x"}, "extra": 1}), 422,
     "extra"),
])
def test_malformed_beacons(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs, body: str | bytes,
                           status: int, field: str | None) -> None:
    resp = send(client, body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["field"] == field
    assert stored(app, database) == (0, 0)


def test_a_huge_beacon_is_refused(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    body = beacon(orgs.a.public_key, token(orgs.a.id), url="https://school.example/?q=" + "x" * 5000)
    resp = send(client, body)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"

    def chunks() -> Any:  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b" " * 1000

    resp = client.post("/api/v1/widget/beacon", content=chunks(), headers={"Content-Type": "text/plain"})
    assert resp.status_code == 413
    assert stored(app, database) == (0, 0)


def test_beacons_are_rate_limited(app: FastAPI, client: TestClient, orgs: TwoOrgs) -> None:
    from edudesk.ratelimit import Rate

    app.state.ctx.limiter.rules[("beacon", "ip")] = Rate(2, 7 * 86400)  # a week: a minute window may end mid-test
    body = beacon(orgs.a.public_key, token(orgs.a.id))
    assert [send(client, body).status_code for _ in range(3)] == [204, 204, 429]


def test_the_event_names_the_contact_once_known(app: FastAPI, client: TestClient, database: Database,
                                                orgs: TwoOrgs, published: list[events.DomainEvent]) -> None:
    from edudesk.contacts import service as contacts_service

    with database.session() as session:  # a contact from an earlier visit (their socket opened elsewhere)
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "v_parent1")
        session.commit()
    tok = token(orgs.a.id)
    assert send(client, beacon(orgs.a.public_key, tok, key="view0001")).status_code == 204
    stored(app, database)  # the writer found the contact while storing the first view
    assert send(client, beacon(orgs.a.public_key, tok, key="view0002",
                               left={"key": "view0001", "seconds": 3})).status_code == 204
    assert [e.data["contact_id"] for e in published] == [None, contact.id]
    with database.session() as session:
        assert set(session.scalars(select(Visit.contact_id))) == {contact.id}
