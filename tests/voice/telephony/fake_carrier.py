"""A fake media-stream carrier on 127.0.0.1: a real HTTP server that receives our signed originate requests and,
like a carrier whose callee answered, connects a WebSocket client to the media URL and plays a script."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from edudesk.voice.media import Audio, Dtmf, Played, audio_frame
from edudesk.webhooks import signing

# A script gets the open connection and the originate request; it returns what it wants the test to see.
Script = Callable[[ClientConnection, dict[str, Any]], Any]


@dataclass
class Stream:
    request: dict[str, Any]
    result: Any = None
    close_code: int | None = None
    close_reason: str = ""
    received: list[Any] = field(default_factory=list)


def receive_until_closed(ws: ClientConnection, stream: Stream, timeout: float = 10.0) -> None:
    try:
        while True:
            stream.received.append(ws.recv(timeout=timeout))
    except ConnectionClosed:
        pass
    except TimeoutError:
        return


class FakeCarrier:
    def __init__(self, secret: str, scripts: Callable[[dict[str, Any]], Script | None], status: int = 200) -> None:
        self.secret = secret
        self.scripts = scripts
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.streams: list[Stream] = []
        self.bad_signatures = 0
        self.threads: list[threading.Thread] = []
        carrier = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = signing.verify(
                    carrier.secret,
                    self.headers.get("X-Edudesk-Timestamp", ""),
                    body,
                    self.headers.get("X-Edudesk-Signature", ""),
                )
                if not ok:
                    carrier.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                request = json.loads(body)
                carrier.requests.append(request)
                self.send_response(carrier.status)
                self.end_headers()
                self.wfile.write(b"{}")
                script = carrier.scripts(request)
                if script is not None and carrier.status == 200:
                    thread = threading.Thread(target=carrier._play, args=(request, script), daemon=True)
                    carrier.threads.append(thread)
                    thread.start()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/originate"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _play(self, request: dict[str, Any], script: Script) -> None:
        stream = Stream(request)
        self.streams.append(stream)
        if getattr(script, "bridges_a_phone", False):  # an async script that opens the stream itself
            stream.result = script(None, request)  # type: ignore[arg-type]
            return
        with connect(request["media_url"], open_timeout=10) as ws:
            try:
                stream.result = script(ws, request)
                receive_until_closed(ws, stream)
            finally:
                stream.close_code = ws.close_code
                stream.close_reason = ws.close_reason or ""

    def join(self, timeout: float = 30.0) -> None:
        for thread in list(self.threads):
            thread.join(timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def phone_bridge(make_phone: Callable[[dict[str, Any]], Any]) -> Script:
    """A carrier whose callee is a ``tests.voice.fakes.FakePhone``: the phone's side goes out as media frames
    (audio, dtmf, the echo of our marks, stop), and what edudesk sends is played to the phone."""

    async def bridge(request: dict[str, Any]) -> Any:
        phone = make_phone(request)
        async with aconnect(request["media_url"], open_timeout=10) as ws:
            await ws.send(json.dumps({"event": "start", "token": request["call_id"], "sample_rate": 8000}))

            async def downlink() -> None:
                try:
                    async for message in ws:
                        if isinstance(message, bytes):
                            await phone.play(message[1:])
                            continue
                        frame = json.loads(message)
                        if frame["event"] == "mark":
                            await phone.mark(frame["name"])
                        elif frame["event"] == "clear":
                            await phone.clear()
                        elif frame["event"] == "hangup":
                            await phone.hangup(frame.get("reason", ""))
                except ConnectionClosed:
                    pass
                await phone.hangup("stream closed")

            task = asyncio.create_task(downlink())
            while True:
                event = await phone.receive()
                if isinstance(event, Audio):
                    await ws.send(audio_frame(event.pcm))
                elif isinstance(event, Dtmf):
                    await ws.send(json.dumps({"event": "dtmf", "digit": event.digit}))
                elif isinstance(event, Played):
                    await ws.send(json.dumps({"event": "mark", "name": event.name}))
                else:
                    if event.by == "customer":
                        await ws.send(json.dumps({"event": "stop", "reason": event.reason}))
                    break
            task.cancel()
        return phone

    def script(ws: ClientConnection, request: dict[str, Any]) -> Any:
        return asyncio.run(bridge(request))

    script.bridges_a_phone = True  # type: ignore[attr-defined]
    return script
