"""The visitor socket on a real uvicorn server: limits that only a real server enforces."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import LiveServer, TwoOrgs


def new_token(server: LiveServer, org_key: str) -> str:
    return str(httpx.post(f"{server.url}/api/v1/widget/session", json={"org_key": org_key}, timeout=10).json()["token"])


def visitor_url(server: LiveServer, token: str) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/visitor?token={token}"


def test_a_frame_over_the_limit_closes_with_1009_and_stores_nothing(live_server: LiveServer, orgs: TwoOrgs) -> None:
    token = new_token(live_server, orgs.a.public_key)
    with connect(visitor_url(live_server, token), open_timeout=10, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "message", "client_id": "big", "text": "长" * 40_000}))
        with pytest.raises(ConnectionClosed) as exc:
            while True:
                ws.recv(timeout=10)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009  # message too big
    session = httpx.post(f"{live_server.url}/api/v1/widget/session",
                         json={"org_key": orgs.a.public_key, "token": token}, timeout=10).json()
    assert session["conversation_id"] is None and session["messages"] == []


def test_a_normal_conversation_over_a_real_socket(live_server: LiveServer, orgs: TwoOrgs) -> None:
    with connect(visitor_url(live_server, new_token(live_server, orgs.a.public_key)), open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "message", "client_id": "c1", "text": "你好"}))
        seen = set()
        while not {"ack", "bot"} <= seen:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] == "ack":
                seen.add("ack")
            elif frame["type"] == "message" and frame["message"].get("kind") == "smalltalk":
                seen.add("bot")


def test_frames_are_not_compressed_even_when_the_client_offers_it(live_server: LiveServer, orgs: TwoOrgs) -> None:
    # permessage-deflate cost the event loop ~40 % of its CPU under load for frames of a few hundred bytes.
    with connect(visitor_url(live_server, new_token(live_server, orgs.a.public_key)), open_timeout=10,
                 compression="deflate") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_edudesk_serve_hands_the_frame_limit_to_uvicorn() -> None:
    from edudesk.cli import server_options
    from edudesk.settings import Settings

    assert server_options(Settings(max_frame_bytes=8192))["ws_max_size"] == 8192
    assert server_options(Settings())["ws_max_size"] == 16 * 1024
    assert server_options(Settings())["ws"] == "websockets-sansio", "no task per socket of uvicorn's own"
