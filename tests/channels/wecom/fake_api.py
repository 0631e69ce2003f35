"""A fake WeCom API on 127.0.0.1: a real HTTP server in a thread that answers the calls the 微信客服 adapter makes
(gettoken, kf/sync_msg with its cursor, kf/send_msg, kf/send_msg_on_event, kf/customer/batchget, media/upload,
media/get) the way WeCom does, with switches for the failures the tests provoke."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Upload:
    kind: str
    filename: str
    content: bytes
    content_type: str


@dataclass
class FakeWeCom:
    corp_id: str
    secret: str
    # What the server holds: the message log sync_msg pages through, media, customers' unionids.
    messages: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 1000
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    unionids: dict[str, str] = field(default_factory=dict)
    welcome_codes: set[str] = field(default_factory=set)
    # What the adapter did.
    token_fetches: int = 0
    sync_calls: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    on_event: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    customer_calls: int = 0
    # Switches.
    fail_sends: bool = False  # kf/send_msg answers HTTP 502 (an outage)
    busy_sends: bool = False  # kf/send_msg answers errcode -1 (system busy)
    sends_before_busy: int | None = None  # that many sends succeed, then the rest answer -1
    fail_sync: bool = False  # kf/sync_msg answers HTTP 503
    expire_token_once: bool = False  # the next call with a valid token is refused with 42001 (token expired)
    send_errcode: int = 0  # kf/send_msg answers this errcode (95002: outside 48 hours, 95018: session state)
    sync_gate: threading.Event | None = None  # while set to an unset Event, sync_msg waits for it
    sync_entered: threading.Event = field(default_factory=threading.Event)
    _tokens: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeWeCom:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body in one segment each without waiting for the client's ACK (Nagle's 40 ms stall).
            disable_nagle_algorithm = True
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                fake.handle(self, self.rfile.read(length))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.sync_gate is not None:
            self.sync_gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- what tests put on the server ----------------------------------------------------------------------------

    def add(self, item: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.messages.append(item)
        return item

    def customer_text(self, user: str, text: str, open_kfid: str, msgid: str | None = None) -> dict[str, Any]:
        return self.add({"msgid": msgid or f"m{next(self._ids)}", "open_kfid": open_kfid, "external_userid": user,
                         "send_time": int(time.time()), "origin": 3, "msgtype": "text", "text": {"content": text}})

    def customer_item(self, user: str, open_kfid: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.add({"msgid": f"m{next(self._ids)}", "open_kfid": open_kfid, "external_userid": user,
                         "send_time": int(time.time()), "origin": 3, "msgtype": msgtype, msgtype: body})

    def event(self, event: dict[str, Any], send_time: int | None = None) -> dict[str, Any]:
        return self.add({"msgid": f"e{next(self._ids)}", "send_time": send_time or int(time.time()), "origin": 4,
                         "msgtype": "event", "event": event})

    def enter_session(self, user: str, open_kfid: str, *, scene: str = "", scene_param: str = "",
                      welcome_code: str | None = None, send_time: int | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"event_type": "enter_session", "open_kfid": open_kfid, "external_userid": user,
                                 "scene": scene, "scene_param": scene_param}
        if welcome_code:
            self.welcome_codes.add(welcome_code)
            event["welcome_code"] = welcome_code
        return self.event(event, send_time)

    def texts_to(self, user: str) -> list[str]:
        """Every text that reached ``user``, through send_msg or a welcome code, in order."""
        out = []
        for call in sorted(self.sent + self.on_event, key=lambda c: c["_seq"]):
            if call.get("touser", user) == user and call.get("msgtype") == "text":
                out.append(call["text"]["content"])
        return out

    # --- the server ----------------------------------------------------------------------------------------------

    def handle(self, req: BaseHTTPRequestHandler, body: bytes) -> None:
        parsed = urllib.parse.urlsplit(req.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        path = parsed.path.removeprefix("/cgi-bin/")
        if path == "gettoken":
            self.reply(req, self.gettoken(query))
            return
        if (path == "kf/send_msg" and self.fail_sends) or (path == "kf/sync_msg" and self.fail_sync):
            self.reply(req, {"error": "bad gateway"}, status=502)
            return
        refused = self.check_token(query.get("access_token", ""))
        if refused is not None:
            self.reply(req, refused)
            return
        if path == "media/get":
            found = self.media.get(query.get("media_id", ""))
            if found is None:
                self.reply(req, {"errcode": 40007, "errmsg": "invalid media_id"})
                return
            req.send_response(200)
            req.send_header("Content-Type", found[1])
            req.send_header("Content-Disposition", 'attachment; filename="photo.png"')
            req.send_header("Content-Length", str(len(found[0])))
            req.end_headers()
            req.wfile.write(found[0])
            return
        if path == "media/upload":
            self.reply(req, self.upload(query.get("type", ""), req.headers.get("content-type", ""), body))
            return
        data = json.loads(body or b"{}")
        handler = {"kf/sync_msg": self.sync_msg, "kf/send_msg": self.send_msg,
                   "kf/send_msg_on_event": self.send_msg_on_event,
                   "kf/customer/batchget": self.batchget}.get(path)
        if handler is None:
            self.reply(req, {"errcode": 404, "errmsg": "no such api"}, status=404)
            return
        self.reply(req, handler(data))

    def reply(self, req: BaseHTTPRequestHandler, data: dict[str, Any], status: int = 200) -> None:
        raw = json.dumps(data, ensure_ascii=False).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(raw)))
        req.end_headers()
        req.wfile.write(raw)

    def gettoken(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        with self._lock:
            self.token_fetches += 1
            token = f"tok-{self.token_fetches}"
            self._tokens = {token}  # a new token invalidates the previous one, as WeCom does
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}

    def check_token(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            if token not in self._tokens:
                return {"errcode": 40014, "errmsg": "invalid access_token"}
            if self.expire_token_once:
                self.expire_token_once = False
                self._tokens = set()
                return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def sync_msg(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.sync_calls.append(data)
            mine = [m for m in self.messages
                    if m.get("open_kfid", m.get("event", {}).get("open_kfid")) in (data.get("open_kfid"), None)]
            start = int(str(data.get("cursor") or "c0")[1:])
            page = mine[start:start + min(self.page_size, int(data.get("limit") or 1000))]
            end = start + len(page)
        self.sync_entered.set()
        if self.sync_gate is not None:  # the answer is decided; a slow network delivers it later
            self.sync_gate.wait(timeout=30)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": f"c{end}", "has_more": int(end < len(mine)),
                "msg_list": page}

    def send_msg(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.sends_before_busy is not None:
            if self.sends_before_busy <= 0:
                return {"errcode": -1, "errmsg": "system busy"}
            self.sends_before_busy -= 1
        if self.busy_sends:
            return {"errcode": -1, "errmsg": "system busy"}
        if self.send_errcode:
            return {"errcode": self.send_errcode, "errmsg": "refused by the test"}
        with self._lock:
            self.sent.append({**data, "_seq": next(self._ids)})
        return {"errcode": 0, "errmsg": "ok", "msgid": data.get("msgid") or "auto"}

    def send_msg_on_event(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if data.get("code") not in self.welcome_codes:
                return {"errcode": 95018, "errmsg": "invalid code"}
            self.welcome_codes.discard(data["code"])
            self.on_event.append({**data, "_seq": next(self._ids)})
        return {"errcode": 0, "errmsg": "ok", "msgid": data.get("msgid") or "auto"}

    def batchget(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.customer_calls += 1
        users = data.get("external_userid_list") or []
        return {"errcode": 0, "errmsg": "ok",
                "customer_list": [{"external_userid": u, "nickname": "家长", **(
                    {"unionid": self.unionids[u]} if u in self.unionids else {})} for u in users]}

    def upload(self, kind: str, content_type: str, body: bytes) -> dict[str, Any]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "media":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                with self._lock:
                    self.uploads.append(Upload(kind, part.get_filename() or "", payload,
                                               part.get_content_type()))
                    media_id = f"media-{len(self.uploads)}"
                return {"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id}
        return {"errcode": 41005, "errmsg": "media data missing"}
