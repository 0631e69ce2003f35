"""JSON POSTs to one API origin over kept-alive ``http.client`` connections: the send path of every reply.

Why not the app's pooled httpx client: httpx spends about 0.6 ms of CPU per request in its own Python (the request
and URL models, h11's state machine, httpcore's pool and trace hooks), ``http.client`` about 0.15 ms, and at 100
replies a second that difference alone is 5 % of a core. Everything else stays httpx's: the same TLS context
(``httpx.create_ssl_context``: certifi's roots, verification on), the same timeout for connecting, writing and
each read, no proxy from the environment, no redirects, and failures raised as httpx's exception types, so callers
handle them exactly as before (``httpx.TimeoutException`` → retried as a timeout, other ``httpx.HTTPError`` → retried
as a network error). Nothing is retried here: a request that may have reached the provider is not sent twice.

A connection is reused only while idle and not closed by the other side (a socket that is readable while idle has
been closed or sent something unasked: it is dropped, as httpcore does); at most ``max_idle`` stay open.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from typing import ClassVar
from urllib.parse import urlencode, urlsplit

import httpx

from edudesk.tls import client_context

USER_AGENT = "edudesk"


class JsonPoster:
    """POSTs bodies to ``base`` + path; thread-safe, one connection per request in flight."""

    scheme_ports: ClassVar[dict[str, int]] = {"http": 80, "https": 443}

    def __init__(self, base: str, timeout: float, *, max_idle: int = 20,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base)
        if parts.scheme not in self.scheme_ports or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or self.scheme_ports[parts.scheme]
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_idle = max_idle
        self._ssl = (ssl_context or client_context()) if self.https else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def post(self, path: str, params: dict[str, str], body: bytes, content_type: str) -> tuple[int, bytes]:
        """The status and body of the answer. Raises httpx.TimeoutException or another httpx.TransportError."""
        target = f"{self.prefix}{path}?{urlencode(params)}" if params else f"{self.prefix}{path}"
        headers = {"Content-Type": content_type, "Accept": "*/*", "User-Agent": USER_AGENT}
        conn = self._checkout()
        phase = "connect" if conn.sock is None else "write"
        try:
            if conn.sock is None:
                conn.connect()
                phase = "write"
            conn.request("POST", target, body=body, headers=headers)
            phase = "read"
            resp = conn.getresponse()
            content = resp.read()
        except Exception as exc:
            conn.close()
            raise _as_httpx(exc, phase) from exc
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._checkin(conn)
        return resp.status, content

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- the pool -----------------------------------------------------------------------------------------------

    def _checkout(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new()
            if _usable(conn):
                return conn
            conn.close()

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _new(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)


def _usable(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection the server has not closed (nothing to read while no request is out)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        if sock.fileno() < 0:
            return False
        # poll, not select: a server holding thousands of widget sockets hands out descriptors above select's
        # FD_SETSIZE (1024), where select raises and every idle connection would be dropped and redialled.
        idle = select.poll()
        idle.register(sock, select.POLLIN)
        events = idle.poll(0)
    except (OSError, ValueError):
        return False
    return not events


def _as_httpx(exc: Exception, phase: str) -> Exception:
    """httpx's exception for what went wrong, so that callers keep one set of except clauses."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return {"connect": httpx.ConnectTimeout, "write": httpx.WriteTimeout}.get(phase, httpx.ReadTimeout)(text)
    if isinstance(exc, http.client.HTTPException):  # a bad status line, a peer gone before answering
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, OSError):
        return {"connect": httpx.ConnectError, "write": httpx.WriteError}.get(phase, httpx.ReadError)(text)
    return exc


def poster_of(services: object, base: str, timeout: float) -> JsonPoster:
    """The process's poster for ``base``, kept beside the other channel services (one per app and origin)."""
    extras: dict[str, object] = services.extras  # type: ignore[attr-defined]
    key = f"weixin_jsonpost:{base}"
    found = extras.get(key)
    if found is None:
        found = extras.setdefault(key, JsonPoster(base, timeout))
    assert isinstance(found, JsonPoster)
    return found
