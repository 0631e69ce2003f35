"""The beacon's shortcut (edudesk/shortcuts.py): the widget's requests skip the session and locale middlewares and
the routing, and get exactly the answer the long way gives — status, headers and body — for good beacons and
for every refusal; the requests it does not take go the long way.

Each request is sent twice: as the widget sends it (the shortcut) and with a harmless cookie (the shortcut leaves
requests with a cookie to the full stack). Which way a request went shows in whether the locale middleware ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from edudesk import events
from edudesk.db import Database
from edudesk.i18n import LocaleMiddleware
from edudesk.orgs.models import Org
from edudesk.ratelimit import Rate
from edudesk.visitors import beacons
from edudesk.visitors.models import PageView, Visit
from tests.channels.test_web_beacon import UA, beacon, stored, token
from tests.conftest import TwoOrgs

PATH = "/api/v1/widget/beacon"
LONG_WAY = {"Cookie": "probe=1"}


@pytest.fixture
def long_ways(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that went through the locale middleware, i.e. the full stack."""
    seen: list[str] = []
    original = LocaleMiddleware.__call__

    async def counting(self: LocaleMiddleware, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(LocaleMiddleware, "__call__", counting)
    return seen


def post(client: TestClient, body: dict[str, Any] | str | bytes, headers: dict[str, str] | None = None,
         content_type: str | None = "text/plain;charset=UTF-8") -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    sent = {**UA, **({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    return client.post(PATH, content=data, headers=sent)


def answer(resp: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body; the seconds a rate-limited answer names are left out (they tick between the two
    requests of ``both_ways`` whenever a second ends in between)."""
    headers = [(k, v) for k, v in resp.headers.multi_items() if k not in ("retry-after", "content-length")]
    return resp.status_code, headers, re.sub(rb"\d+ \xe7\xa7\x92", b"N \xe7\xa7\x92", resp.content)


def both_ways(client: TestClient, long_ways: list[str], body: dict[str, Any] | str | bytes,
              headers: dict[str, str] | None = None, *, outer_answers: bool = False, **kwargs: Any) -> Any:
    """Sends the request the short and the long way; asserts the answers are the same; returns the short one.
    ``outer_answers``: a middleware outside the locale one answers the long way (the app's body limit)."""
    before = len(long_ways)
    short = post(client, body, headers, **kwargs)
    assert len(long_ways) == before, "the shortcut did not take the widget's request"
    long = post(client, body, {**(headers or {}), **LONG_WAY}, **kwargs)
    assert len(long_ways) == before + (0 if outer_answers else 1), "a request with a cookie must go the long way"
    assert answer(short) == answer(long)
    return short


def good(orgs: TwoOrgs, key: str = "view0001", **view: Any) -> dict[str, Any]:
    body = beacon(orgs.a.public_key, token(orgs.a.id), key=key)
    body["view"].update(view)
    return body


def test_a_good_beacon_is_stored_and_answered_as_before(app: FastAPI, client: TestClient, database: Database,
                                                        orgs: TwoOrgs, long_ways: list[str]) -> None:
    seen: list[events.DomainEvent] = []
    app.state.ctx.bus.subscribe(lambda ev: seen.append(ev) if ev.type == beacons.PAGE_VIEWED else None)
    resp = both_ways(client, long_ways, good(orgs))
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "set-cookie" not in resp.headers and "content-type" not in resp.headers
    assert stored(app, database) == (1, 1)  # the same view twice: stored once
    assert [e.data["view_key"] for e in seen] == ["view0001", "view0001"]
    second = good(orgs, key="view0002", url="https://school.example/price")
    second["left"] = {"key": "view0001", "seconds": 42}
    assert post(client, second).status_code == 204
    assert stored(app, database) == (1, 2)
    with database.session() as session:
        assert dict(session.execute(select(PageView.view_key, PageView.seconds)).all()) == {
            "view0001": 42, "view0002": None}


MALFORMED: list[tuple[str | bytes, int, str, str | None]] = [
    ("not json", 400, "bad_json", None),
    ("[1, 2]", 400, "bad_json", None),
    (b"\xff\xfe{", 400, "bad_json", None),
    ("", 400, "bad_json", None),
    ("{}", 422, "invalid_request", "org_key"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "short", "url": "https://x"}}), 422,
     "invalid_request", "view.key"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x"}, "extra": 1}), 422,
     "invalid_request", "extra"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x"},
                 "left": {"key": "abcdefgh", "seconds": -1}}), 422, "invalid_request", "left.seconds"),
    (json.dumps({"org_key": [[[["k"]]]], "token": "t", "view": {"key": "abcdefgh", "url": "https://x"}}), 422,
     "invalid_request", "org_key"),
    # Text no database can store: the text guard answers first, even when the body is also invalid otherwise.
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x\u0000"}}), 422,
     "invalid_text", "view.url"),
    (json.dumps({"org_key": "k", "view": {"key": "abcdefgh", "url": "https://x", "title": "a\ud800"}}), 422,
     "invalid_text", "view.title"),
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x"}, "x\u0001": 1}),
     422, "invalid_text", "x\\x01"),
    # Written as it is, not escaped (the shortcut looks at an unescaped body in one pass), and in UTF-16.
    (json.dumps({"org_key": "k", "token": "t", "view": {"key": "abcdefgh", "url": "https://x", "title": "a\x7f"}},
                ensure_ascii=False), 422, "invalid_text", "view.title"),
    ("{}".encode("utf-16"), 422, "invalid_request", "org_key"),
    (json.dumps({"org_key": "a\x7f"}, ensure_ascii=False).encode("utf-16-le"), 422, "invalid_text", "org_key"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), MALFORMED)
def test_malformed_beacons_get_the_same_refusal(app: FastAPI, client: TestClient, database: Database,
                                                orgs: TwoOrgs, long_ways: list[str], body: str | bytes,
                                                status: int, code: str, field: str | None) -> None:
    resp = both_ways(client, long_ways, body, {"Accept": "text/html"})  # a page only for a person, never here
    assert (resp.status_code, resp.json()["error"]["code"], resp.json()["error"]["field"]) == (status, code, field)
    assert resp.headers["content-type"] == "application/json"
    assert stored(app, database) == (0, 0)


@pytest.mark.parametrize("content_type", [None, "application/json", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "text/html"])
def test_any_content_type_is_read_as_json(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                          long_ways: list[str], content_type: str | None) -> None:
    assert both_ways(client, long_ways, good(orgs), content_type=content_type).status_code == 204
    bad = both_ways(client, long_ways, good(orgs, url="https://x\u0007"), content_type=content_type)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_text")
    assert stored(app, database) == (1, 1)


def test_huge_beacons_are_refused_by_the_same_limits(app: FastAPI, client: TestClient, database: Database,
                                                     orgs: TwoOrgs, long_ways: list[str]) -> None:
    over_beacon = both_ways(client, long_ways, good(orgs, url="https://school.example/?q=" + "x" * 5000))
    assert over_beacon.status_code == 413 and "4096" in over_beacon.json()["error"]["message"]
    over_app = both_ways(client, long_ways, "x" * (3 * 1024 * 1024), outer_answers=True)  # the app's limit
    assert over_app.status_code == 413 and over_app.json()["error"]["message"] == "请求内容过大（上限 2 MB）"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b" " * 1000

    before = len(long_ways)
    streamed = client.post(PATH, content=chunks(), headers={"Content-Type": "text/plain"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "too_large"
    assert len(long_ways) == before
    assert stored(app, database) == (0, 0)


def test_org_key_and_token_are_checked_the_same_way(app: FastAPI, client: TestClient, database: Database,
                                                    orgs: TwoOrgs, long_ways: list[str]) -> None:
    unknown = both_ways(client, long_ways, beacon("pk_forged_key", token(orgs.a.id)))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_org")
    foreign = both_ways(client, long_ways, beacon(orgs.a.public_key, token(orgs.b.id)))
    assert (foreign.status_code, foreign.json()["error"]["field"]) == (401, "token")
    forged = both_ways(client, long_ways, beacon(orgs.a.public_key, token(orgs.a.id)[:-2] + "xx"))
    assert forged.status_code == 401
    assert both_ways(client, long_ways, good(orgs), {"DNT": "1"}).status_code == 204
    assert stored(app, database) == (0, 0)


def test_origins_get_the_same_cors_answers(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                           long_ways: list[str]) -> None:
    with database.session() as session:
        session.get_one(Org, orgs.a.id).widget_origins = ["https://school-a.example"]
        session.commit()
    refused = both_ways(client, long_ways, good(orgs), {"Origin": "https://school-b.example"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers and refused.headers["vary"] == "Origin"
    assert both_ways(client, long_ways, good(orgs)).status_code == 403  # no Origin: only scripts omit it
    assert stored(app, database) == (0, 0)
    ok = both_ways(client, long_ways, good(orgs), {"Origin": "https://school-a.example"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "https://school-a.example"
    assert ok.headers["access-control-expose-headers"] == "Retry-After"
    assert stored(app, database) == (1, 1)


def test_the_rate_limit_answers_429_with_retry_after(app: FastAPI, client: TestClient, orgs: TwoOrgs,
                                                     long_ways: list[str]) -> None:
    app.state.ctx.limiter.rules[("beacon", "ip")] = Rate(2, 7 * 86400)
    assert [post(client, good(orgs)).status_code for _ in range(3)] == [204, 204, 429]
    assert long_ways == []
    limited = both_ways(client, long_ways, good(orgs))
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) > 0


def test_over_https_the_answer_carries_hsts(app: FastAPI, orgs: TwoOrgs, long_ways: list[str]) -> None:
    with TestClient(app, base_url="https://testserver") as secure:
        resp = both_ways(secure, long_ways, good(orgs))
    assert resp.status_code == 204 and resp.headers["strict-transport-security"].startswith("max-age=")


def test_an_unexpected_error_is_the_same_logged_500(app: FastAPI, client: TestClient, orgs: TwoOrgs,
                                                    long_ways: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(beacons, "prepare", broken)
    resp = both_ways(client, long_ways, good(orgs), {"Origin": "https://school-a.example"})
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "internal_error"
    assert "boom" not in resp.text and resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["access-control-allow-origin"] == "https://school-a.example"


def test_an_unreachable_database_is_the_same_503(app: FastAPI, client: TestClient, orgs: TwoOrgs,
                                                 long_ways: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def down(public_key: str) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    app.state.trail.forget_gates()
    monkeypatch.setattr(app.state.trail, "gate", down)
    resp = both_ways(client, long_ways, good(orgs))
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "database_unavailable"


def test_hostile_text_is_stored_verbatim(app: FastAPI, client: TestClient, database: Database, orgs: TwoOrgs,
                                         long_ways: list[str]) -> None:
    title = "<script>alert('x')</script>\"><img src=x onerror=alert(1)> C:\\temp 「引号」"
    url = "https://school.example/?q=' OR 1=1; DROP TABLE visitor_page_views; --&x=<b>"
    referrer = "javascript:alert(document.cookie)"
    assert post(client, good(orgs, title=title, url=url, referrer=referrer)).status_code == 204
    assert long_ways == []
    assert stored(app, database) == (1, 1)
    with database.session() as session:
        view = session.scalars(select(PageView)).one()
        assert (view.title, view.url, view.referrer) == (title, url, referrer)
        visit = session.scalars(select(Visit)).one()
        assert (visit.current_title, visit.landing_url) == (title, url)


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", PATH, {}, 405),
    ("POST", PATH + "?x=1", {}, 204),
    ("POST", PATH + "?x=%00", {}, 422),  # the text guard reads the query string
    ("POST", PATH, {"Cookie": "edudesk_lang=en"}, 204),
])
def test_what_the_shortcut_does_not_take_goes_the_long_way(client: TestClient, orgs: TwoOrgs,
                                                           long_ways: list[str], method: str, path: str,
                                                           headers: dict[str, str], status: int) -> None:
    resp = client.request(method, path, content=json.dumps(good(orgs)), headers={**UA, **headers})
    assert resp.status_code == status
    assert long_ways == [PATH]


def test_the_openapi_document_still_describes_the_beacon(client: TestClient) -> None:
    operation = client.get("/api/openapi.json").json()["paths"][PATH]["post"]
    assert "204" in operation["responses"] and "429" in operation["responses"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("BeaconRequest")
