"""Every close code of docs/protocol.md reaches a real client over a real uvicorn server (issue 19: closing before
the handshake turned 4401/4403/4404 into HTTP 403, which browsers report as 1006). The rows are read from the doc."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from edudesk.audit.service import Actor
from edudesk.channels.web import routes
from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.conversations import views
from edudesk.orgs import service as orgs_service
from edudesk.realtime import SEND_QUEUE_LIMIT
from tests.channels.protocol_doc import table
from tests.conftest import LiveServer, TwoOrgs

Opener = Callable[[], ClientConnection]


def visitor_token(server: LiveServer, org_key: str, origin: str | None = None) -> str:
    headers = {"Origin": origin} if origin else {}
    resp = httpx.post(f"{server.url}/api/v1/widget/session", json={"org_key": org_key}, headers=headers, timeout=10)
    return str(resp.json()["token"])


def close_code(ws: ClientConnection, then: Callable[[ClientConnection], None] | None = None) -> tuple[int, str]:
    """Reads until the server closes; returns its close code and reason."""
    with ws, pytest.raises(ConnectionClosed) as exc:
        if then is not None:
            then(ws)
        while True:
            ws.recv(timeout=15)
    assert exc.value.rcvd is not None, "the server sent no close frame"
    return exc.value.rcvd.code, exc.value.rcvd.reason


def flood(app: FastAPI, agent: bool) -> Callable[[ClientConnection], None]:
    """Queues more frames for the socket than it may hold, in one turn of the server's loop (a client that stopped
    reading ends up the same way, only slower)."""
    hub = app.state.ctx.hub

    def run(ws: ClientConnection) -> None:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
        conns: set[Any] = set()
        for _ in range(200):  # sockets of earlier cases leave the hub as their handlers finish
            conns = {c for subs in list(hub._by_topic.values()) for c in subs if (c.user_id is not None) == agent}
            if len(conns) == 1:
                break
            time.sleep(0.05)
        assert len(conns) == 1
        conn = next(iter(conns))
        hub._loop.call_soon_threadsafe(lambda: [conn.offer({"type": "pong"}) for _ in range(SEND_QUEUE_LIMIT + 1)])
    return run


def oversized(ws: ClientConnection) -> None:
    assert json.loads(ws.recv(timeout=15))["type"] == "hello"
    ws.send(json.dumps({"type": "message", "client_id": "big", "text": "长" * 6000}, ensure_ascii=False))


def resync(app: FastAPI) -> Callable[[ClientConnection], None]:
    """The Redis bus came back after an outage: the hub sends every client away to catch up (docs/faults.md)."""
    hub = app.state.ctx.hub

    def run(ws: ClientConnection) -> None:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
        hub._loop.call_soon_threadsafe(hub.resync)
    return run


def scenarios(server: LiveServer, orgs: TwoOrgs, app: FastAPI) -> dict[tuple[str, str], Callable[[], tuple[int, str]]]:
    base = f"ws://127.0.0.1:{server.port}"

    def visitor(query: str = "", then: Callable[[ClientConnection], None] | None = None,
                token: str | None = None) -> Callable[[], tuple[int, str]]:
        def run() -> tuple[int, str]:
            tok = token if token is not None else visitor_token(server, orgs.a.public_key)
            ws = connect(f"{base}/ws/visitor?token={tok}{query}", open_timeout=15, max_size=None)
            return close_code(ws, then)
        return run

    def foreign_site() -> tuple[int, str]:
        """The org allows only its own site; the socket comes from another page."""
        with app.state.ctx.db.session() as session:
            org = orgs_service.get(session, orgs.a.id)
            orgs_service.set_widget_origins(session, Actor(org.id, label="test"), org, "https://school.example")
            session.commit()
        try:
            tok = visitor_token(server, orgs.a.public_key, origin="https://school.example")
            ws = connect(f"{base}/ws/visitor?token={tok}", open_timeout=15, max_size=None,
                         origin="https://evil.example")  # type: ignore[arg-type]
            return close_code(ws)
        finally:
            with app.state.ctx.db.session() as session:
                org = orgs_service.get(session, orgs.a.id)
                orgs_service.set_widget_origins(session, Actor(org.id, label="test"), org, "")
                session.commit()

    def agent(origin: str | None = None, then: Callable[[ClientConnection], None] | None = None,
              logged_in: bool = True) -> Callable[[], tuple[int, str]]:
        def run() -> tuple[int, str]:
            headers = {"Cookie": agent_cookie(server)} if logged_in else {}
            ws = connect(f"{base}/ws/agent", open_timeout=15, max_size=None, additional_headers=headers,
                         origin=origin)  # type: ignore[arg-type]
            return close_code(ws, then)
        return run

    def failing(target: Any, name: str, make: Callable[[], tuple[int, str]]) -> Callable[[], tuple[int, str]]:
        def broken(*args: Any) -> Any:
            raise OSError("database restarting")

        def run() -> tuple[int, str]:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(target, name, broken)
                return make()
        return run

    gone_org = VisitorTokens(app.state.ctx.settings.secret_key).issue(2**31 - 1)[0]
    return {
        ("4400", "visitor"): visitor("&after=abc"),
        ("4401", "visitor"): visitor(token="forged.token"),
        ("4403", "visitor"): foreign_site,
        ("4404", "visitor"): visitor(token=gone_org),
        ("4401", "agent"): agent(logged_in=False),
        ("4403", "agent"): agent(origin="https://evil.example"),
        ("1009", "both"): lambda: _both(visitor(then=oversized), agent(then=oversized)),
        ("1011", "both"): lambda: _both(failing(routes, "_connect_visitor", visitor()),
                                        failing(views, "user_from_session", agent())),
        ("1012", "both"): lambda: _both(visitor(then=resync(app)), agent(then=resync(app))),
        ("1013", "both"): lambda: _both(visitor(then=flood(app, agent=False)), agent(then=flood(app, agent=True))),
    }


def _both(first: Callable[[], tuple[int, str]], second: Callable[[], tuple[int, str]]) -> tuple[int, str]:
    one, two = first(), second()
    assert one[0] == two[0], (one, two)
    return one


def agent_cookie(server: LiveServer) -> str:
    from tests.conftest import PASSWORD, csrf_from

    with httpx.Client(base_url=server.url, timeout=10) as http:
        token = csrf_from(http.get("/login").text)
        resp = http.post("/login", data={"org": "alpha", "username": "agent", "password": PASSWORD,
                                         "csrf_token": token})
        assert resp.status_code == 303, resp.text
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def test_every_close_code_reaches_the_client_as_written(live_server: LiveServer, orgs: TwoOrgs, app: FastAPI) -> None:
    cases = scenarios(live_server, orgs, app)
    rows = table("Close codes")
    assert {(r["code"], r["socket"]) for r in rows} == set(cases)
    for row in rows:
        code, reason = cases[(row["code"], row["socket"])]()
        assert code == int(row["code"]), (row, code, reason)
        if code >= 4000:
            assert reason, row  # a short reason for whoever reads the browser's console
