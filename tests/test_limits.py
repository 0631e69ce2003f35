"""Rate limits (per address, per org; in memory and in Redis across instances) and request body limits, through the
real app on both databases (docs/limits.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from edudesk.app import create_app
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.ratelimit import Limiter, MemoryCounter, Rate, RateLimited, RedisCounter, parse_rate, rate_limit
from edudesk.settings import Settings
from tests.channels.test_web_routes import tiny_png
from tests.conftest import TwoOrgs, csrf_from

SESSION = "/api/v1/widget/session"
# Tests use week-long windows: a fixed window that ended between two calls of a test would reset its count.


def contacts(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Contact)) or 0)


def limited_client(settings: Settings, client_ip: str = "203.0.113.7", **rates: Any) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=rates))
    with TestClient(app, client=(client_ip, 40000)) as c:
        yield c


def assert_rate_limited(resp: Any) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(resp.headers["retry-after"]) <= 7 * 86400


# ---- the rule language and the counters ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "rate"), [("30/minute", Rate(30, 60)), ("10/15minute", Rate(10, 900)),
                                            (" 600 / hours ", Rate(600, 3600)), ("0/day", Rate(0, 86400))])
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "30", "30/fortnight", "-1/minute", "abc/minute", "1/0minute", "5/8day",
                                  "30/minute; DROP TABLE", "３０/minute"])
def test_bad_rates_are_refused_at_startup(text: str) -> None:
    with pytest.raises(ValueError, match=r"COUNT/PERIOD|period"):
        parse_rate(text)
    if text:
        with pytest.raises(ValidationError, match="rate_widget_session_per_ip"):
            Settings(rate_widget_session_per_ip=text)


def test_memory_windows_reset_and_retry_after_names_the_window_end() -> None:
    now = [1000.0]
    limiter = Limiter({("form", "ip"): Rate(2, 60)}, MemoryCounter(lambda: now[0]), secret="s")
    limiter.check("form", ip="198.51.100.1")
    limiter.check("form", ip="198.51.100.1")
    with pytest.raises(RateLimited) as caught:
        limiter.check("form", ip="198.51.100.1")
    assert caught.value.retry_after == 20  # the window [960, 1020) ends in 20 s
    limiter.check("form", ip="198.51.100.2")  # another address has its own count
    now[0] = 1020.0
    limiter.check("form", ip="198.51.100.1")  # a new window


def test_a_disabled_limiter_counts_nothing() -> None:
    limiter = Limiter({("form", "ip"): Rate(0, 60)}, MemoryCounter(), enabled=False)
    limiter.check("form", ip="198.51.100.1")


def test_counters_never_hold_the_address_itself(redis_url: str) -> None:

    namespace = f"edudesk-test-{uuid.uuid4().hex[:8]}"
    counter = RedisCounter(redis_url, namespace, MemoryCounter())
    Limiter({("form", "ip"): Rate(5, 60)}, counter, secret="k").check("form", ip="198.51.100.77")
    client = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in client.scan_iter(f"{namespace}:*")]
    assert len(keys) == 1 and "198.51.100.77" not in keys[0] and 0 < client.ttl(keys[0]) <= 61
    client.delete(*keys)
    counter.close()


def test_redis_limits_hold_across_instances(settings: Settings, redis_url: str, orgs: TwoOrgs) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url, "rate_widget_session_per_ip": "3/7day"})
    with TestClient(create_app(shared), client=("203.0.113.9", 1)) as one, \
            TestClient(create_app(shared), client=("203.0.113.9", 2)) as two:
        for c in (one, two, one):
            assert c.post(SESSION, json={"org_key": orgs.a.public_key}).status_code == 200
        assert_rate_limited(two.post(SESSION, json={"org_key": orgs.a.public_key}))
        assert_rate_limited(one.post(SESSION, json={"org_key": orgs.a.public_key}))

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{shared.redis_namespace}:rl:*"))
    assert keys  # the counts were in Redis, not in either process
    client.delete(*keys)


def test_an_unreachable_redis_falls_back_to_memory_and_still_limits() -> None:
    counter = RedisCounter("redis://127.0.0.1:1/0", "x", MemoryCounter())
    limiter = Limiter({("form", "ip"): Rate(1, 60)}, counter)
    limiter.check("form", ip="198.51.100.1")
    with pytest.raises(RateLimited):
        limiter.check("form", ip="198.51.100.1")
    counter.close()


# ---- widget sessions and the contacts table --------------------------------------------------------------------

def test_forty_anonymous_sessions_create_no_contact(settings: Settings, database: Database, orgs: TwoOrgs) -> None:
    for c in limited_client(settings, rate_widget_identity_per_ip="40/7day"):
        tokens = {c.post(SESSION, json={"org_key": orgs.a.public_key}).json()["token"] for _ in range(40)}
        assert len(tokens) == 40 and contacts(database) == 0
        # The 41st new identity from this address is refused; a returning visitor (with a token) is not.
        assert_rate_limited(c.post(SESSION, json={"org_key": orgs.a.public_key}))
        returning = c.post(SESSION, json={"org_key": orgs.a.public_key, "token": tokens.pop()})
        assert returning.status_code == 200 and returning.json()["contact_id"] is None
        assert contacts(database) == 0


def test_session_calls_are_limited_per_address_and_per_org(settings: Settings, orgs: TwoOrgs) -> None:
    app = create_app(settings.model_copy(update={"rate_widget_session_per_ip": "3/7day",
                                                 "rate_widget_session_per_org": "4/7day"}))
    with TestClient(app, client=("203.0.113.1", 1)) as first, TestClient(app, client=("203.0.113.2", 1)) as second:
        for _ in range(3):
            assert first.post(SESSION, json={"org_key": orgs.a.public_key}).status_code == 200
        assert_rate_limited(first.post(SESSION, json={"org_key": orgs.b.public_key}))  # per address, any org
        assert second.post(SESSION, json={"org_key": orgs.a.public_key}).status_code == 200
        assert_rate_limited(second.post(SESSION, json={"org_key": orgs.a.public_key}))  # org a has had its 4
        assert second.post(SESSION, json={"org_key": orgs.b.public_key}).status_code == 200  # org b has not


def test_uploads_are_limited(settings: Settings, orgs: TwoOrgs) -> None:
    for c in limited_client(settings, rate_upload_per_ip="2/7day"):
        token = c.post(SESSION, json={"org_key": orgs.a.public_key}).json()["token"]
        for _ in range(2):
            resp = c.post("/api/v1/widget/attachments", headers={"x-visitor-token": token},
                          files={"file": ("a.png", tiny_png(), "image/png")})
            assert resp.status_code == 201, resp.text
        assert_rate_limited(c.post("/api/v1/widget/attachments", headers={"x-visitor-token": token},
                                   files={"file": ("a.png", tiny_png(), "image/png")}))


def test_visitor_messages_are_limited_per_address(settings: Settings, orgs: TwoOrgs) -> None:
    for c in limited_client(settings, rate_message_per_ip="2/7day"):
        token = c.post(SESSION, json={"org_key": orgs.a.public_key}).json()["token"]
        with c.websocket_connect(f"/ws/visitor?token={token}") as ws:
            assert ws.receive_json()["type"] == "hello"
            acks = 0
            for i in range(3):
                ws.send_json({"type": "message", "client_id": f"m{i}", "text": f"你好 {i}"})
                while True:
                    frame = ws.receive_json()
                    if frame["type"] == "ack":
                        acks += 1
                        break
                    if frame["type"] == "error":
                        assert (frame["code"], frame["client_id"], i) == ("rate_limited", "m2", 2)
                        assert "秒后再试" in frame["message"]
                        break
            assert acks == 2


# ---- login and forms ---------------------------------------------------------------------------------------------

def test_login_posts_are_limited_per_address(settings: Settings, orgs: TwoOrgs) -> None:
    for c in limited_client(settings, rate_login_per_ip="2/7day"):
        csrf = csrf_from(c.get("/login").text)
        form = {"org": "alpha", "username": "agent", "password": "wrong-password", "csrf_token": csrf}
        assert c.post("/login", data=form).status_code == 400
        assert c.post("/login", data=form).status_code == 400
        blocked = c.post("/login", data={**form, "password": "correct-horse-42"})
        assert blocked.status_code == 429 and "登录尝试过于频繁" in blocked.text
        assert int(blocked.headers["retry-after"]) >= 1


def test_login_failures_follow_their_settings(settings: Settings, orgs: TwoOrgs) -> None:
    for c in limited_client(settings, rate_login_failures_per_account="2/hour"):
        csrf = csrf_from(c.get("/login").text)
        form = {"org": "alpha", "username": "agent", "password": "wrong-password", "csrf_token": csrf}
        assert [c.post("/login", data=form).status_code for _ in range(3)] == [400, 400, 429]
        blocked = c.post("/login", data={**form, "password": "correct-horse-42"})
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "3600"


def test_a_public_form_is_limited_in_one_line(settings: Settings, database: Database) -> None:
    router = APIRouter()

    @router.post("/forms/test", dependencies=[Depends(rate_limit("form"))])
    def submit() -> dict[str, bool]:
        return {"ok": True}

    app: FastAPI = create_app(settings.model_copy(update={"rate_form_per_ip": "2/7day"}))
    app.include_router(router)
    with TestClient(app) as c:
        assert [c.post("/forms/test").status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(c.post("/forms/test"))
    with pytest.raises(ValueError, match="unknown rate-limit kind"):
        rate_limit("forms")


# ---- request bodies ------------------------------------------------------------------------------------------------

def test_bodies_over_the_limit_are_refused(settings: Settings, orgs: TwoOrgs) -> None:
    for c in limited_client(settings, max_body_bytes=4096, max_upload_bytes=64 * 1024):
        big = {"org_key": orgs.a.public_key, "page_title": "x" * 500, "referrer": "y" * 5000}
        resp = c.post(SESSION, json=big)  # Content-Length says it at once
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            yield b'{"org_key": "' + orgs.a.public_key.encode() + b'", "referrer": "'
            for _ in range(10):
                yield b"z" * 1000
            yield b'"}'

        resp = c.post(SESSION, content=chunks(), headers={"content-type": "application/json"})
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
        resp = c.post(SESSION, content=b"{}", headers={"content-type": "application/json",
                                                        "content-length": "-5"})
        assert resp.status_code == 400
        # The upload route takes a file far above the general limit (up to its own).
        token = c.post(SESSION, json={"org_key": orgs.a.public_key}).json()["token"]
        image = tiny_png() + b"\0" * 20_000
        resp = c.post("/api/v1/widget/attachments", headers={"x-visitor-token": token},
                      files={"file": ("a.png", image, "image/png")})
        assert resp.status_code == 201, resp.text
