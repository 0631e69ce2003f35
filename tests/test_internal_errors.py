"""An unexpected exception is a logged, well-formed 500, and the keep-alive connection it happened on stays usable.

Before, Starlette answered 500 and re-raised; uvicorn then closed the connection, so the next request a client had
already sent on it was reset. These tests use a real uvicorn server and one httpx connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from edudesk import internal_errors
from tests.conftest import LiveServer, TwoOrgs, login


class Boom(Exception):
    pass


@pytest.fixture
def crashing_app(app: FastAPI) -> FastAPI:
    """The real app plus two test routes: one that fails the way a bug would, one that names the connection."""

    @app.get("/api/v1/test-boom", include_in_schema=False)
    def boom() -> None:
        raise Boom("secret detail that must not reach the client")

    @app.get("/console/test-boom", include_in_schema=False)
    def boom_page() -> None:
        raise Boom("secret detail that must not reach the client")

    @app.get("/test-peer", include_in_schema=False)
    def peer(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    return app


@pytest.fixture
def server(crashing_app: FastAPI) -> Iterator[LiveServer]:
    live = LiveServer(crashing_app).start()
    yield live
    live.stop()


class Recorder:
    """Stands in for the module's logger (structlog caches bound loggers, so capture_logs may miss them)."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def exception(self, event: str, **fields: object) -> None:
        self.events.append({"event": event, **fields})


def test_the_next_request_on_the_same_connection_works(server: LiveServer, orgs: TwoOrgs,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(internal_errors, "log", recorder)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        before = http.get("/test-peer").json()["port"]
        for _ in range(3):
            resp = http.get("/api/v1/test-boom")
            assert resp.status_code == 500
            assert resp.json() == {"error": {"code": "internal_error", "field": None,
                                             "message": "服务器内部错误，请稍后重试。我们已记录这个问题。"}}
            assert "secret detail" not in resp.text
            assert resp.headers.get("connection", "keep-alive") != "close"
            after = http.get("/test-peer")
            assert after.status_code == 200
            # The same TCP connection (same client port) carried the failed and the following request.
            assert after.json()["port"] == before
        assert http.get("/healthz").json()["ok"] is True
    crashed = [e for e in recorder.events if e["event"] == "unhandled_exception"]
    assert len(crashed) == 3 and crashed[0]["path"] == "/api/v1/test-boom" and crashed[0]["method"] == "GET"


def test_a_browser_gets_the_error_page_with_the_usual_headers(server: LiveServer, orgs: TwoOrgs) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        resp = http.get("/console/test-boom", headers={"accept": "text/html"})
        assert resp.status_code == 500 and resp.headers["content-type"].startswith("text/html")
        assert "服务器出错了" in resp.text and "secret detail" not in resp.text
        assert resp.headers["x-content-type-options"] == "nosniff"
        script = http.get("/console/test-boom", headers={"accept": "*/*"})
        assert script.status_code == 500 and script.json()["error"]["code"] == "internal_error"
        assert http.get("/login").status_code == 200


def test_the_test_client_sees_a_500_not_an_exception(crashing_app: FastAPI, client: TestClient,
                                                     orgs: TwoOrgs) -> None:
    login(client, orgs.a.slug, "admin")
    resp = client.get("/api/v1/test-boom")
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "internal_error"
