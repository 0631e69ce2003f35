"""A fake WeChat Official Account API on 127.0.0.1 (a real HTTP server in a thread) for the admin pages' calls:
``/cgi-bin/token``, ``/cgi-bin/qrcode/create``, ``/cgi-bin/showqrcode``, ``/cgi-bin/menu/create|get|delete``.

It checks what WeChat checks that matters here (the AppID/AppSecret, the access token, the menu's shape and
WeChat's limits) and records every request, so tests assert on what reached "WeChat". Switches let a test make
it refuse a call with an errcode (``refuse["menu/create"] = (48001, "api unauthorized")``) or expire the current
token (``expire_tokens()``: the next call with it gets 40001).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APPID = "wx0123456789abcdef"  # "wx" and 16 hex digits, as the adapter's config model requires
SECRET = "test-app-secret-0001"
JPEG = b"\xff\xd8\xff\xe0fake-qr-jpeg\xff\xd9"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class FakeWeChat:
    appid: str = APPID
    secret: str = SECRET
    calls: list[Call] = field(default_factory=list)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    menu: dict[str, Any] | None = None
    tickets: dict[str, str] = field(default_factory=dict)  # ticket → scene
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)  # "menu/create" → (errcode, errmsg)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    # --- the API -----------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        with self.lock:
            self.calls.append(Call(method, path, query, body))
            if path == "/cgi-bin/token":
                return self._json(self._token(query))
            if path == "/cgi-bin/showqrcode":
                if query.get("ticket") in self.tickets:
                    return 200, "image/jpg", JPEG
                return 404, "text/plain", b"no such ticket"
            if query.get("access_token") not in self.valid_tokens:
                return self._json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
            name = path.removeprefix("/cgi-bin/")
            if name in self.refuse:
                code, message = self.refuse[name]
                return self._json({"errcode": code, "errmsg": message})
            if path == "/cgi-bin/qrcode/create" and method == "POST":
                return self._json(self._qrcode(json.loads(body)))
            if path == "/cgi-bin/menu/create" and method == "POST":
                return self._json(self._menu_create(json.loads(body)))
            if path == "/cgi-bin/menu/get":
                if self.menu is None:
                    return self._json({"errcode": 46003, "errmsg": "menu no exist"})
                return self._json({"menu": self.menu})
            if path == "/cgi-bin/menu/delete":
                self.menu = None
                return self._json({"errcode": 0, "errmsg": "ok"})
            return 404, "text/plain", b"not found"

    @staticmethod
    def _json(data: dict[str, Any]) -> tuple[int, str, bytes]:
        return 200, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode()

    def _token(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        self.tokens_issued += 1
        token = f"TOKEN-{self.tokens_issued}"
        self.valid_tokens = {token}  # a new token invalidates the previous one, as on WeChat
        return {"access_token": token, "expires_in": 7200}

    def _qrcode(self, data: dict[str, Any]) -> dict[str, Any]:
        scene = (((data.get("action_info") or {}).get("scene") or {}).get("scene_str")) or ""
        if data.get("action_name") != "QR_LIMIT_STR_SCENE" or not 1 <= len(scene) <= 64:
            return {"errcode": 40053, "errmsg": "invalid action info"}
        ticket = f"gQ-{scene}-ticket=="
        self.tickets[ticket] = scene
        return {"ticket": ticket, "url": f"http://weixin.qq.com/q/{scene}"}

    def _menu_create(self, data: dict[str, Any]) -> dict[str, Any]:
        buttons = data.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return {"errcode": 40016, "errmsg": "invalid button size"}
        for b in buttons:
            if len(str(b.get("name", "")).encode()) > 16:
                return {"errcode": 40018, "errmsg": "invalid button name size"}
            subs = b.get("sub_button")
            if subs is not None and not 1 <= len(subs) <= 5:
                return {"errcode": 40023, "errmsg": "invalid sub button size"}
            for s in subs or []:
                if len(str(s.get("name", "")).encode()) > 60:
                    return {"errcode": 40025, "errmsg": "invalid sub button name size"}
        self.menu = {"button": [{**b, "sub_button": b.get("sub_button", [])} for b in buttons]}
        return {"errcode": 0, "errmsg": "ok"}

    # --- serving -----------------------------------------------------------------------------------------------

    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body in one segment each without waiting for the client's ACK (Nagle's 40 ms stall).
            disable_nagle_algorithm = True
            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, kind, payload = fake.handle(method, parts.path, query, body)
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
