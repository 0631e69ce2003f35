"""The kept-alive JSON poster the reply path uses: it reuses connections, drops one the server closed, never sends a
request twice, and fails with httpx's exception types (what the adapters already handle)."""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from edudesk.channels.weixin.jsonpost import JsonPoster, _usable


class Server:
    """A keep-alive HTTP/1.1 server that echoes what it got and notes on which connection it came."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        self.status = 200
        self.close_after = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.requests.append({"path": self.path, "body": body, "peer": self.client_address,
                                       "type": self.headers.get("content-type")})
                if outer.delay:
                    time.sleep(outer.delay)
                data = json.dumps({"errcode": 0, "n": len(outer.requests)}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if outer.close_after:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


def test_posts_with_the_query_and_reuses_the_connection(server: Server) -> None:
    poster = JsonPoster(server.base, timeout=5)
    try:
        for n in range(3):
            status, content = poster.post("/send", {"access_token": "t k"}, "学费".encode(), "application/json")
            assert status == 200 and json.loads(content)["n"] == n + 1
    finally:
        poster.close()
    assert [r["path"] for r in server.requests] == ["/api/send?access_token=t+k"] * 3
    assert server.requests[0]["body"] == "学费".encode() and server.requests[0]["type"] == "application/json"
    assert len({r["peer"] for r in server.requests}) == 1  # one kept-alive connection


def test_a_connection_the_server_closed_is_not_reused(server: Server) -> None:
    poster = JsonPoster(server.base, timeout=5)
    try:
        server.close_after = True
        assert poster.post("/send", {}, b"{}", "application/json")[0] == 200
        server.close_after = False
        assert poster.post("/send", {}, b"{}", "application/json")[0] == 200
        assert poster.post("/send", {}, b"{}", "application/json")[0] == 200
    finally:
        poster.close()
    peers = [r["peer"] for r in server.requests]
    assert peers[0] != peers[1] and peers[1] == peers[2]


def test_an_idle_connection_closed_by_the_server_is_dropped_before_use(server: Server) -> None:
    poster = JsonPoster(server.base, timeout=5)
    try:
        assert poster.post("/send", {}, b"{}", "application/json")[0] == 200
        idle = poster._idle[0]
        assert idle.sock is not None
        idle.sock.shutdown(socket.SHUT_RD)  # as if the server had closed it while idle: readable, at EOF
        assert poster.post("/send", {}, b"{}", "application/json")[0] == 200
    finally:
        poster.close()
    assert len(server.requests) == 2  # nothing sent twice


def test_an_idle_connection_on_a_descriptor_above_1024_is_judged_like_any_other() -> None:
    """With thousands of widget sockets open, the poster's connections get descriptors beyond select()'s limit
    (FD_SETSIZE, 1024): an idle one must still be found usable, and one the server closed must not."""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= 2100:
        pytest.skip("the open-files limit does not reach descriptor 2000")
    ours, theirs = socket.socketpair()
    high = socket.socket(fileno=os.dup2(ours.fileno(), 2000))
    ours.close()
    conn = http.client.HTTPConnection("127.0.0.1")
    conn.sock = high
    try:
        assert _usable(conn), "an idle kept-alive connection is reused"
        theirs.close()
        assert not _usable(conn), "one the other side closed is dropped"
    finally:
        high.close()


def test_error_statuses_are_answers_not_exceptions(server: Server) -> None:
    server.status = 503
    poster = JsonPoster(server.base, timeout=5)
    try:
        assert poster.post("/send", {}, b"{}", "application/json")[0] == 503
    finally:
        poster.close()


def test_a_slow_answer_is_an_httpx_read_timeout_and_is_not_retried(server: Server) -> None:
    server.delay = 1.0
    poster = JsonPoster(server.base, timeout=0.2)
    try:
        with pytest.raises(httpx.ReadTimeout):
            poster.post("/send", {}, b"{}", "application/json")
        assert poster._idle == []  # the connection with a late answer on it is not reused
    finally:
        poster.close()
    time.sleep(1.0)
    assert len(server.requests) == 1


def test_nobody_listening_is_an_httpx_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    poster = JsonPoster(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(httpx.ConnectError):
        poster.post("/send", {}, b"{}", "application/json")


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        JsonPoster("ftp://example.invalid/", timeout=1)
    assert JsonPoster("https://api.weixin.qq.com", timeout=1).port == 443
