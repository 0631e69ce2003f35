"""A complete client of edudesk's API channel: send your users' messages, receive the replies.

Your app (a mini-program backend, a Douyin enterprise-account integration, a native app's server) does two
things:

1. When a user writes, POST the message to ``/api/v1/channels/<inbox>/messages`` with an API token that has the
   ``channels:write`` scope (``EdudeskChannel.send``). Give every message your own ``message_id`` and reuse it
   when you retry: edudesk stores and answers each message once.
2. Receive what the bot and the agents answer: edudesk POSTs a signed ``message.outbound`` event to the inbox's
   callback URL (``Receiver``). Check the signature with the secret shown when the inbox was created, answer
   2xx quickly, and de-duplicate by the event ``id`` (delivery is at least once, in order per conversation).

Run it as a console chat against your edudesk (Python 3.10+, ``pip install httpx``)::

    export EDUDESK_URL=https://kefu.example.edu.cn      # your edudesk
    export EDUDESK_TOKEN=edk_…                           # 管理 → 数据推送 → API 令牌, scope channels:write
    export EDUDESK_INBOX=…                               # the inbox's public id (its 接口地址 ends with it)
    export EDUDESK_SECRET=whsec_…                        # shown once when the API inbox was created
    python api_channel_client.py --listen 0.0.0.0:8080 --user parent-42

The inbox's 消息推送地址 must reach ``http://<this machine>:8080/edudesk``. Type a line to send it as the user;
replies are printed as they arrive. edudesk's test suite imports this file and runs it against a real server
(tests/channels/api/test_journey.py), so this example is known to work.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

MAX_BODY = 1024 * 1024


def verify_signature(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """True when the request really comes from edudesk and is fresh. ``headers`` with lower-case names;
    ``body`` the raw bytes as received (do not re-serialise the JSON)."""
    timestamp = headers.get("x-edudesk-timestamp", "")
    signature = headers.get("x-edudesk-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature)


class ApiChannelError(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status, self.code, self.field = status, error.get("code"), error.get("field")


class EdudeskChannel:
    """Sends users' messages to one API inbox. Network errors, 5xx and 429 are retried with the same
    ``message_id``, so a retry never makes the bot answer twice."""

    def __init__(self, base_url: str, token: str, inbox: str, *, http: httpx.Client | None = None,
                 attempts: int = 4) -> None:
        self.base_url, self.inbox, self.attempts = base_url.rstrip("/"), inbox, attempts
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = http or httpx.Client(timeout=15)

    def send(self, user_id: str, text: str = "", *, message_id: str | None = None, payload: str | None = None,
             image: bytes | None = None, name: str | None = None, campaign: str | None = None) -> dict[str, Any]:
        """Posts one message of ``user_id``; returns ``{"id", "conversation_id", "message_id"}`` (and
        ``"duplicate": True`` when edudesk had already stored this ``message_id``)."""
        body: dict[str, Any] = {"user_id": user_id, "message_id": message_id or uuid.uuid4().hex, "text": text}
        if payload is not None:
            body["payload"] = payload  # the button the user clicked: send its label as text, its payload here
        if image is not None:
            body["image"] = base64.b64encode(image).decode()
        if name:
            body["user"] = {"name": name}
        if campaign:
            body["campaign"] = campaign
        url = f"{self.base_url}/api/v1/channels/{self.inbox}/messages"
        for attempt in range(1, self.attempts + 1):
            try:
                resp = self.http.post(url, json=body, headers=self.headers)
            except httpx.TransportError:
                if attempt == self.attempts:
                    raise
                time.sleep(min(8.0, 0.5 * 2 ** attempt))
                continue
            if resp.status_code in (200, 201):
                return {**resp.json(), "duplicate": resp.status_code == 200}
            if (resp.status_code == 429 or resp.status_code >= 500) and attempt < self.attempts:
                time.sleep(min(30.0, float(resp.headers.get("retry-after", 0.5 * 2 ** attempt))))
                continue
            raise ApiChannelError(resp.status_code, resp.json().get("error", {}))
        raise AssertionError("unreachable")

    def transcript(self, user_id: str, after_id: int = 0) -> dict[str, Any]:
        """The user's messages after ``after_id`` (for a client that polls instead of receiving webhooks)."""
        user = quote(user_id, safe="")
        resp = self.http.get(f"{self.base_url}/api/v1/channels/{self.inbox}/conversations/{user}/messages",
                             params={"after_id": after_id}, headers=self.headers)
        if resp.status_code != 200:
            raise ApiChannelError(resp.status_code, resp.json().get("error", {}))
        return dict(resp.json())


class Receiver:
    """A small HTTP server for the inbox's callback URL: it refuses requests without a valid signature (401, so
    edudesk retries after a secret rotation), answers 200 at once, and hands each event to ``on_event`` once
    (``received`` keeps every verified request, resends included)."""

    def __init__(self, secret: str, on_event: Callable[[dict[str, Any]], None], *, host: str = "127.0.0.1",
                 port: int = 0, path: str = "/edudesk") -> None:
        self.secret, self.on_event, self.path = secret, on_event, path
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        if not verify_signature(self.secret, headers, body):
            with self._lock:
                self.refused += 1
            return 401
        event = json.loads(body)
        with self._lock:
            self.received.append(event)
            fresh = event["id"] not in self._seen
            self._seen.add(event["id"])
        if fresh:
            self.on_event(event)
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                length = int(self.headers.get("content-length") or 0)
                status = 404 if self.path != receiver.path else 413 if length > MAX_BODY else None
                if status is None:
                    body = self.rfile.read(length)
                    status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def show(event: dict[str, Any]) -> None:
    """Prints a ``message.outbound`` event the way a chat client would draw it."""
    if event["type"] != "message.outbound":
        print(f"[{event['type']}]")
        return
    data = event["data"]
    print(f"\n{data['sender']['name'] or data['sender']['kind']}: {data['text']}")
    for i, button in enumerate(data["buttons"], 1):
        print(f"   [{i}] {button['label']}")
    for url in data["images"] + ([data["attachment"]["url"]] if data["attachment"] else []):
        print(f"   (图片) {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8080", help="host:port of the callback receiver")
    parser.add_argument("--user", default="demo-user", help="the user id to chat as")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    channel = EdudeskChannel(os.environ["EDUDESK_URL"], os.environ["EDUDESK_TOKEN"], os.environ["EDUDESK_INBOX"])
    receiver = Receiver(os.environ["EDUDESK_SECRET"], show, host=host, port=int(port)).start()
    print(f"receiving at {receiver.url}; type a message (Ctrl-D to quit)")
    try:
        while True:
            line = input("> ").strip()
            if line:
                sent = channel.send(args.user, line)
                print(f"   (sent #{sent['id']} in conversation {sent['conversation_id']})")
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
