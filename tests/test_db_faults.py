"""A database outage answers 503 ``database_unavailable`` (a page for a browser), and the app recovers by itself
once the database is back: here every server connection of the test's own database is terminated, as a PostgreSQL
restart does, and the next requests must work again without a restart of edudesk."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.websockets import WebSocketDisconnect

from edudesk.app import create_app
from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.db import Database
from edudesk.settings import Settings
from tests.conftest import PG_ADMIN_DSN, free_port

pytestmark = pytest.mark.pg


def terminate_backends(database: Database) -> int:
    """Kills every other server process connected to this test process's own database (no one else's)."""
    name = database.engine.url.database
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)


@pytest.fixture
def pg_settings(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=pg_url, secret_key="test-secret-" + "x" * 20, data_dir=tmp_path,
                    run_jobs_in_process=False)


def test_killed_connections_give_503_then_recover(pg_settings: Settings) -> None:
    app = create_app(pg_settings)
    db: Database = app.state.ctx.db
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert terminate_backends(db) >= 1
        resp = client.get("/healthz")
        # The dead connection surfaces as a clear, retryable error, never a 500 with a traceback ...
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "database_unavailable"
        assert resp.headers["retry-after"].isdigit()
        # ... and the pool has thrown the dead connections away: the next requests work without a restart.
        assert client.get("/healthz").status_code == 200
        with db.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1


def test_unreachable_database_503_json_and_page(tmp_path: Path) -> None:
    down = Settings(database_url=f"postgresql+psycopg://edudesk@127.0.0.1:{free_port()}/nothing?connect_timeout=2",
                    secret_key="s" * 32, data_dir=tmp_path)
    app = create_app(down)
    # No lifespan: nothing can start against a database that is not there; the routes still answer.
    client = TestClient(app)
    resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "database_unavailable"
    api = client.get("/api/v1/leads", headers={"Authorization": "Bearer edk_" + "x" * 40})
    assert api.status_code == 503 and api.json()["error"]["code"] == "database_unavailable"
    page = client.get("/healthz", headers={"Accept": "text/html"})
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "服务暂时不可用" in page.text


def test_visitor_socket_is_closed_with_1013_when_the_database_is_down(tmp_path: Path) -> None:
    """A close the widget recovers from (it reconnects and resends), not a handshake failure with no code."""
    down = Settings(database_url=f"postgresql+psycopg://edudesk@127.0.0.1:{free_port()}/nothing?connect_timeout=2",
                    secret_key="s" * 32, data_dir=tmp_path)
    client = TestClient(create_app(down))
    token, _ = VisitorTokens(down.secret_key).issue(1)
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(f"/ws/visitor?token={token}") as ws:
        ws.receive_json()
    assert closed.value.code == 1013
