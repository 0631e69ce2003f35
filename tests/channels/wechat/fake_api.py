"""A fake of the WeChat Official Account API on 127.0.0.1: a real HTTP server in a thread, speaking the published
JSON (and multipart for media upload), with switches for what the real one does on a bad day.

Endpoints: ``/cgi-bin/token``, ``/cgi-bin/message/custom/send``, ``/cgi-bin/media/upload``, ``/cgi-bin/media/get``,
``/cgi-bin/message/template/send``, ``/cgi-bin/user/info``. Tokens are checked: a call with a token the fake did
not issue (or has expired) gets 40001, as WeChat answers.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_ID = "wx1234567890abcdef"
APP_SECRET = "s3cr3t-app-secret-000000000000000"


@dataclass
class Call:
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or {"filename", "content", "content_type"} for an upload


@dataclass
class FakeWeChat:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    # Switches.
    http_error: int = 0  # every API call answers this HTTP status (e.g. 500) while set
    busy: int = 0  # the next n sends answer errcode -1 (system busy)
    expire_next: int = 0  # the next n calls with a valid token find it expired (42001) and invalidate it
    token_errcode: int = 0  # /cgi-bin/token refuses with this errcode (40164: IP not whitelisted)
    window_closed: set[str] = field(default_factory=set)  # openids outside the 48-hour window (45015)
    unsubscribed: set[str] = field(default_factory=set)  # openids that unfollowed (43004)
    template_errcode: int = 0
    unionids: dict[str, str] = field(default_factory=dict)  # openid → unionid (user/info)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media_id → (content, content type)
    # What happened.
    calls: list[Call] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    uploads: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- reading what was sent ---------------------------------------------------------------------------------

    def sent(self, openid: str | None = None) -> list[dict[str, Any]]:
        """Customer-service messages WeChat accepted, in order."""
        with self.lock:
            return [c.body for c in self.calls if c.path == "/cgi-bin/message/custom/send"
                    and c.body.get("_accepted") and (openid is None or c.body.get("touser") == openid)]

    def texts(self, openid: str | None = None) -> list[str]:
        return [m["text"]["content"] for m in self.sent(openid) if m.get("msgtype") == "text"]

    def templates(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c.body for c in self.calls if c.path == "/cgi-bin/message/template/send"
                    and c.body.get("_accepted")]

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c.path == path)

    # --- answering ---------------------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, str, bytes]:
        with self.lock:
            call = Call(path, query, body)
            self.calls.append(call)
            if self.http_error:
                return self.http_error, "text/plain", b"upstream error"
            if path == "/cgi-bin/token":
                return self._json(self._token(query))
            token = query.get("access_token", "")
            if token not in self.valid_tokens:
                return self._json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
            if self.expire_next:
                self.expire_next -= 1
                self.valid_tokens.discard(token)
                return self._json({"errcode": 42001, "errmsg": "access_token expired"})
            if path == "/cgi-bin/media/get":
                found = self.media.get(query.get("media_id", ""))
                if found is None:
                    return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
                return 200, found[1], found[0]
            result = self._call(path, query, body)
            if isinstance(body, dict) and not result.get("errcode"):
                body["_accepted"] = True
                if "msgid" in result:
                    body["_msgid"] = result["msgid"]
            return self._json(result)

    def _json(self, data: dict[str, Any]) -> tuple[int, str, bytes]:
        return 200, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode()

    def _token(self, query: dict[str, str]) -> dict[str, Any]:
        if self.token_errcode:
            return {"errcode": self.token_errcode, "errmsg": "refused"}
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.app_id:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("secret") != self.app_secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        token = f"TOKEN-{next(self._ids)}"
        self.tokens_issued.append(token)
        self.valid_tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    def _call(self, path: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        if path == "/cgi-bin/message/custom/send":
            if self.busy:
                self.busy -= 1
                return {"errcode": -1, "errmsg": "system error"}
            to = body.get("touser", "")
            if to in self.unsubscribed:
                return {"errcode": 43004, "errmsg": "require subscribe"}
            if to in self.window_closed:
                return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
            kind = body.get("msgtype")
            if kind in ("image", "voice") and body.get(kind, {}).get("media_id") not in self.uploads:
                return {"errcode": 40007, "errmsg": "invalid media_id"}
            return {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/message/template/send":
            if self.template_errcode:
                return {"errcode": self.template_errcode, "errmsg": "template refused"}
            if body.get("touser") in self.unsubscribed:
                return {"errcode": 43004, "errmsg": "require subscribe"}
            return {"errcode": 0, "errmsg": "ok", "msgid": 200000 + next(self._ids)}
        if path == "/cgi-bin/media/upload":
            media_id = f"MEDIA-{next(self._ids)}"
            self.uploads[media_id] = body["content"]
            return {"type": query.get("type"), "media_id": media_id, "created_at": 1}
        if path == "/cgi-bin/user/info":
            openid = query.get("openid", "")
            info: dict[str, Any] = {"subscribe": 1, "openid": openid}
            if openid in self.unionids:
                info["unionid"] = self.unionids[openid]
            return info
        return {"errcode": 40066, "errmsg": "invalid url"}

    # --- serving -----------------------------------------------------------------------------------------------

    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body in one segment each without waiting for the client's ACK (Nagle's 40 ms stall).
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any = None
                ctype = self.headers.get("content-type", "")
                if ctype.startswith("multipart/form-data"):
                    body = _multipart(ctype, raw)
                elif raw:
                    body = json.loads(raw)
                status, out_type, out = fake.answer(method, parts.path, query, body)
                self.send_response(status)
                self.send_header("content-type", out_type)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _multipart(ctype: str, raw: bytes) -> dict[str, Any]:
    """The ``media`` part of a multipart upload (parsed with the standard library's MIME parser)."""
    message = BytesParser(policy=default_policy).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
    for part in message.iter_parts():  # type: ignore[attr-defined]
        if part.get_param("name", header="content-disposition") == "media":
            return {"filename": part.get_filename(), "content": part.get_payload(decode=True),
                    "content_type": part.get_content_type()}
    raise ValueError("no media part")
