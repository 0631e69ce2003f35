"""A fake OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 (threads), scripted per test.

    fake = FakeOpenAI().start()
    fake.add("答案…[1]")                      # the next completion answers this (queue, first in first out)
    fake.add(Reply(status=500))               # then a server error
    fake.add(Reply("慢", delay=5))            # then a slow answer (the client's timeout fires first)
    fake.respond_with(lambda request: Reply(...))   # or a function of the request (used when the queue is empty)
    fake.base_url                             # http://127.0.0.1:PORT/v1

POST /v1/chat/completions answers a JSON completion, or with ``"stream": true`` Server-Sent Events
(``data: {chunk}`` lines, a last chunk with usage when ``stream_options.include_usage`` is set, ``data: [DONE]``).
GET /v1/models lists ``models``. Every request is recorded in ``requests`` (parsed JSON body and headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TEXT = "您好，这是一个测试回答。"


@dataclass
class Reply:
    text: str = DEFAULT_TEXT
    status: int = 200
    # Seconds before the response starts (a slow endpoint: longer than the client's timeout is a timeout).
    delay: float = 0.0
    # (prompt, completion) tokens reported in ``usage``; None: computed as len(prompt chars) // 2, len(text).
    usage: tuple[int, int] | None = None
    report_usage: bool = True
    # A raw body sent as it is (garbage: not JSON, not a completion).
    raw: bytes | None = None
    # Streaming: characters per chunk and seconds between chunks.
    chunk_chars: int = 4
    chunk_delay: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body.get("messages") or [])

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)


@dataclass
class FakeOpenAI:
    models: list[str] = field(default_factory=lambda: ["fake-model"])
    models_status: int = 200
    requests: list[Request] = field(default_factory=list)
    queue: deque[Reply] = field(default_factory=deque)
    handler: Callable[[Request], Reply] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *replies: Reply | str) -> FakeOpenAI:
        with self.lock:
            self.queue.extend(Reply(r) if isinstance(r, str) else r for r in replies)
        return self

    def respond_with(self, handler: Callable[[Request], Reply] | None) -> FakeOpenAI:
        self.handler = handler
        return self

    def completions(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            if self.queue:
                return self.queue.popleft()
        return self.handler(request) if self.handler is not None else Reply()

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/v1/models"):
                    with fake.lock:
                        fake.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, {}))
                    data = {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]}
                    body = json.dumps(data).encode() if fake.models_status == 200 else b'{"error":"nope"}'
                    self._send(fake.models_status, body)
                else:
                    self._send(404, b'{"error":{"message":"not found"}}')

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                if not self.path.rstrip("/").endswith("/v1/chat/completions"):
                    self._send(404, b'{"error":{"message":"not found"}}')
                    return
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = fake._next(request)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    if reply.status != 200:
                        self._send(reply.status, json.dumps({"error": {"message": "scripted failure"}}).encode())
                    elif reply.raw is not None:
                        self._send(200, reply.raw)
                    elif body.get("stream"):
                        self._stream(request, reply)
                    else:
                        self._send(200, json.dumps(_completion(request, reply)).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

            def _stream(self, request: Request, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(data: str) -> None:
                    payload = f"data: {data}\n\n".encode()
                    self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                    self.wfile.flush()

                text = reply.text
                step = max(reply.chunk_chars, 1)
                for start in range(0, len(text), step):
                    chunk = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": request.body.get("model", ""),
                        "choices": [
                            {"index": 0, "delta": {"content": text[start : start + step]}, "finish_reason": None}
                        ],
                    }
                    event(json.dumps(chunk, ensure_ascii=False))
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                include = (request.body.get("stream_options") or {}).get("include_usage")
                if include and reply.report_usage:
                    prompt, completion = _usage(request, reply)
                    event(
                        json.dumps(
                            {
                                "id": "chatcmpl-fake",
                                "choices": [],
                                "usage": {
                                    "prompt_tokens": prompt,
                                    "completion_tokens": completion,
                                    "total_tokens": prompt + completion,
                                },
                            }
                        )
                    )
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _usage(request: Request, reply: Reply) -> tuple[int, int]:
    return reply.usage or (max(len(request.prompt) // 2, 1), len(reply.text))


def _completion(request: Request, reply: Reply) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": request.body.get("model", ""),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}],
    }
    if reply.report_usage:
        prompt, completion = _usage(request, reply)
        data["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return data
