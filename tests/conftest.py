"""Shared fixtures: every database test runs on SQLite and PostgreSQL, with two orgs, through the real app.

PostgreSQL and Redis are real servers on 127.0.0.1. Outside CI an unreachable service skips its tests with a loud
reason; under CI (``CI=true``) it fails the run instead, so a green CI always means both backends were tested.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from edudesk import migrate
from edudesk.app import create_app
from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.cli import server_options
from edudesk.db import Database
from edudesk.models import Base
from edudesk.orgs import service as orgs_service
from edudesk.settings import Settings
from tests import hypothesis_settings  # noqa: F401  (registers and loads the hypothesis profile)
from tests.ports import free_port
from tests.private_redis import PrivateRedis

PG_ADMIN_DSN = os.environ.get("EDUDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("EDUDESK_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# One test process builds hundreds of apps: freezing the heap after each warm-up would keep their garbage cycles.
os.environ.setdefault("EDUDESK_FREEZE_HEAP", "false")
PASSWORD = "correct-horse-42"


def unavailable(what: str, why: str) -> None:
    message = f"{what} is unreachable ({why}); its tests are SKIPPED. Start it (make services) to run them."
    if IN_CI:
        pytest.fail(f"CI requires {what}: {why}")
    print(f"\n!!!! {message}\n")
    pytest.skip(message)


def _worker(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


_real_asyncio_run = asyncio.run


def _asyncio_run_anywhere(main: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
    """``asyncio.run``, also in a worker that has already run the browser tests: Playwright's sync API keeps an
    event loop running in the main thread for the session, and ``asyncio.run`` then refuses to start; there the
    coroutine runs on its own loop in a fresh thread instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _real_asyncio_run(main, **kwargs)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_real_asyncio_run, main, **kwargs).result()


@pytest.fixture(autouse=True)
def _asyncio_run_beside_a_running_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(asyncio, "run", _asyncio_run_anywhere)
    yield


@pytest.fixture(autouse=True)
def _locale_left_as_found() -> Iterator[None]:
    """A test that leaves its worker's UI language changed fails here, not some later test that renders Chinese."""
    from edudesk.i18n import DEFAULT, get_locale, set_locale

    yield
    left = get_locale()
    if left != DEFAULT:
        set_locale(DEFAULT)
        pytest.fail(f"the test left the UI locale at {left!r}; run what sets it in a context of its own")


@pytest.fixture(scope="session")
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    # One database per pytest process: parallel runs (xdist workers, or two developers) never share one.
    name = f"edudesk_test_{_worker(request)}_{os.getpid()}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", str(exc).strip().splitlines()[0])
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    migrate.upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """Argon2 is deliberately slow; tests hash the same few passwords hundreds of times, so remember them."""
    real = auth_service.hash_password
    cache: dict[str, str] = {}

    def cached(password: str) -> str:
        if password not in cache:
            cache[password] = real(password)
        return cache[password]

    auth_service.hash_password = cached  # type: ignore[assignment]
    yield
    auth_service.hash_password = real  # type: ignore[assignment]


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "edudesk.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def clean(db: Database) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    # DELETE beats TRUNCATE on the few rows a test leaves: TRUNCATE rewrites every table's files on PostgreSQL.
    with db.engine.begin() as conn:
        for t in reversed(tables):
            conn.execute(text(f'DELETE FROM "{t}"'))  # noqa: S608 (table names from our own metadata)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    clean(db)
    yield db
    db.dispose()


@pytest.fixture
def redis_url() -> str:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        unavailable("Redis", str(exc))
    return REDIS_URL


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis server of the test's own, which it may kill and restart: the shared one serves every other test."""
    server = PrivateRedis(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-" + "x" * 20, data_dir=tmp_path,
                    run_jobs_in_process=False, redis_namespace=f"edudesk-test-{uuid.uuid4().hex[:8]}")


@dataclass
class OrgFixture:
    id: int
    slug: str
    public_key: str
    users: dict[str, Any] = field(default_factory=dict)  # role → User


@dataclass
class TwoOrgs:
    a: OrgFixture
    b: OrgFixture


def make_org(db: Database, slug: str, name: str) -> OrgFixture:
    with db.session() as session:
        org = orgs_service.create_org(session, slug=slug, name=name)
        fx = OrgFixture(org.id, org.slug, org.public_key)
        actor = Actor(org.id, label="test")
        for role, display in (("admin", "校长"), ("supervisor", "主管"), ("agent", "王老师"), ("agent2", "李老师")):
            user = auth_service.create_user(session, actor, username=role, password=PASSWORD,
                                            display_name=display, role=role.rstrip("2"))
            fx.users[role] = user
        session.commit()
        for user in fx.users.values():
            session.expunge(user)
    return fx


@pytest.fixture
def orgs(database: Database) -> TwoOrgs:
    return TwoOrgs(make_org(database, "alpha", "阿尔法教育"), make_org(database, "beta", "贝塔培训"))


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: TestClient, org_slug: str, username: str, password: str = PASSWORD) -> str:
    """Logs in through the real form; returns the CSRF token of the new session."""
    token = csrf_from(client.get("/login").text)
    resp = client.post("/login", data={"org": org_slug, "username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    return csrf_from(client.get("/console").text)



class LiveServer:
    """A real uvicorn server on 127.0.0.1 in a background thread, for browsers and raw WebSocket clients."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The socket options `edudesk serve` uses, so the tests talk to the server as shipped.
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                   **server_options(app.state.ctx.settings)))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        # A deadline for a server that never starts, not a speed check: loaded CI machines start slowly (the warm-up
        # loads the embedding model), and 15 s failed there.
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()
