"""A cloud streaming ASR over a WebSocket (``EDUDESK_ASR_URL``, ``ws://`` or ``wss://``), for a vendor's
real-time recogniser or one's own server with a Chinese model.

The contract (one connection per recognised track of a call; an adapter in front of a vendor implements it):

    client → server  text    {"event": "start", "sample_rate": 8000|16000, "language": "zh-CN",
                              "call": "<call public id>"}
    client → server  binary  16-bit little-endian mono PCM, as it arrives (20–100 ms at a time)
    client → server  text    {"event": "stop"}                       the audio is over
    server → client  text    {"text": "…", "final": true|false, "start_ms": 0, "end_ms": 0,
                              "confidence": 0.93}                   results; the server endpoints utterances
    server → client  text    {"event": "error", "message": "…"}     the stream fails (logged; nothing more)

The recogniser interface is synchronous (``accept`` per chunk of audio), so each stream runs its connection in a
thread of its own: ``accept`` queues the audio and returns at once with whatever results have arrived, and never
waits on the network. ``finish`` sends ``stop`` and waits a little for the last final result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from edudesk.voice.engines.base import EngineStatus, Recognised

log = logging.getLogger(__name__)
FINISH_WAIT_SECONDS = 3.0
MAX_RESULT_CHARS = 2000


class HttpAsrStream:
    def __init__(self, url: str, sample_rate: int, call_public_id: str, *, open_timeout: float = 5.0) -> None:
        self._out: queue.Queue[bytes | str | None] = queue.Queue(maxsize=2000)
        self._results: queue.Queue[Recognised] = queue.Queue()
        self._done = threading.Event()
        self._failed = threading.Event()
        self.error: str | None = None
        start = json.dumps({"event": "start", "sample_rate": sample_rate, "language": "zh-CN", "call": call_public_id})
        self._thread = threading.Thread(
            target=self._run, args=(url, start, open_timeout), daemon=True, name=f"asr-{call_public_id[:8]}"
        )
        self._thread.start()

    def _run(self, url: str, start: str, open_timeout: float) -> None:
        try:
            with connect(url, open_timeout=open_timeout, max_size=64 * 1024) as ws:
                ws.send(start)
                reader = threading.Thread(target=self._read, args=(ws,), daemon=True)
                reader.start()
                while not self._failed.is_set():
                    try:
                        item = self._out.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    if item is None:
                        ws.send(json.dumps({"event": "stop"}))
                        break
                    ws.send(item)
                reader.join(FINISH_WAIT_SECONDS)
        except (OSError, WebSocketException, TimeoutError) as exc:
            if self.error is None:  # the server's own error, when it sent one, says more
                self.error = f"{exc.__class__.__name__}: {exc}"[:300]
                log.warning("cloud ASR stream failed: %s", self.error)
        finally:
            self._done.set()

    def _read(self, ws: Any) -> None:
        try:
            for raw in ws:
                if not isinstance(raw, str):
                    continue
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if data.get("event") == "error":
                    self.error = str(data.get("message", ""))[:300]
                    log.warning("cloud ASR error: %s", self.error)
                    self._failed.set()
                    return
                text = data.get("text")
                if not isinstance(text, str):
                    continue
                confidence = data.get("confidence")
                self._results.put(
                    Recognised(
                        text[:MAX_RESULT_CHARS],
                        bool(data.get("final")),
                        _int(data.get("start_ms")),
                        _int(data.get("end_ms")),
                        float(confidence) if isinstance(confidence, int | float) else None,
                    )
                )
                if data.get("final") and self._out.empty() and self._done.is_set():
                    return
        except (OSError, WebSocketException):
            return

    def _drain(self) -> list[Recognised]:
        out: list[Recognised] = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def accept(self, pcm: bytes) -> list[Recognised]:
        if not self._done.is_set():
            # A stuck connection: dropping audio beats blocking the call.
            with contextlib.suppress(queue.Full):
                self._out.put_nowait(pcm)
        return self._drain()

    def finish(self) -> list[Recognised]:
        if not self._done.is_set():
            with contextlib.suppress(queue.Full):
                self._out.put(None, timeout=1.0)
            self._done.wait(FINISH_WAIT_SECONDS)
        return self._drain()


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


class HttpRecogniser:
    name = "http"

    def __init__(self, url: str) -> None:
        self.url = url

    def status(self) -> EngineStatus:
        if not self.url.startswith(("ws://", "wss://")):
            return EngineStatus(self.name, False, "未配置语音识别服务：请设置 EDUDESK_ASR_URL（ws:// 或 wss://）")
        return EngineStatus(self.name, True, "云端流式语音识别")

    def stream(self, sample_rate: int, *, call_public_id: str, track: int = 0, phone_e164: str = "") -> HttpAsrStream:
        return HttpAsrStream(self.url, sample_rate, call_public_id)
