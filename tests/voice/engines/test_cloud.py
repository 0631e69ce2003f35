"""The cloud adapters against fake servers on 127.0.0.1: the streaming ASR's WebSocket contract and the TTS's
HTTP contract (WAV or raw L16, errors), and the engine statuses when nothing is configured."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.server import ServerConnection, serve

from edudesk.settings import Settings
from edudesk.voice.engines import factory
from edudesk.voice.engines.audio import pcm_to_wav
from edudesk.voice.engines.cloud_tts import CloudTtsError, HttpSynthesiser
from edudesk.voice.engines.http_asr import HttpRecogniser
from edudesk.voice.engines.prompts import PromptSynthesiser, prompt_key
from edudesk.voice.engines.scripted import ScriptedRecogniser
from edudesk.voice.engines.sherpa import SherpaRecogniser
from tests.ports import free_port
from tests.voice.fakes import rms

TONE = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype("<i2").tobytes()


@pytest.fixture
def asr_server() -> Iterator[tuple[str, list[Any]]]:
    seen: list[Any] = []

    def handler(ws: ServerConnection) -> None:
        audio = 0
        for message in ws:
            if isinstance(message, str):
                data = json.loads(message)
                seen.append(data)
                if data.get("event") == "stop":
                    ws.send(json.dumps({"text": "再见", "final": True, "start_ms": 500, "end_ms": 600}))
                    return
                if data.get("call") == "broken":
                    ws.send(json.dumps({"event": "error", "message": "quota exceeded"}))
                    return
            else:
                audio += len(message)
                if audio == len(message):
                    ws.send(json.dumps({"text": "你", "final": False}))
                if audio >= 8000 and audio - len(message) < 8000:
                    ws.send(
                        json.dumps({"text": "你好", "final": True, "start_ms": 0, "end_ms": 500, "confidence": 0.9})
                    )
                    ws.send("not json")
                    ws.send(json.dumps(["odd"]))

    port = free_port()
    server = serve(handler, "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{port}/asr", seen
    server.shutdown()


def _collect(stream: Any, frames: int) -> list[Any]:
    out = []
    for _ in range(frames):
        out += stream.accept(b"\x01\x00" * 160)
    deadline = time.monotonic() + 5
    while not any(r.final for r in out) and time.monotonic() < deadline:
        time.sleep(0.01)
        out += stream.accept(b"")
    return out


def test_cloud_asr_contract(asr_server: tuple[str, list[Any]]) -> None:
    url, seen = asr_server
    recogniser = HttpRecogniser(url)
    assert recogniser.status().ready
    stream = recogniser.stream(8000, call_public_id="call-1")
    results = _collect(stream, 30)
    assert [r.text for r in results if r.final] == ["你好"]
    final = next(r for r in results if r.final)
    assert (final.end_ms, final.confidence) == (500, 0.9)
    assert [r.text for r in stream.finish()] == ["再见"]
    assert seen[0] == {"event": "start", "sample_rate": 8000, "language": "zh-CN", "call": "call-1"}
    assert seen[-1] == {"event": "stop"}


def test_cloud_asr_failures(asr_server: tuple[str, list[Any]]) -> None:
    url, _ = asr_server
    broken = HttpRecogniser(url).stream(8000, call_public_id="broken")
    time.sleep(0.2)
    assert broken.accept(b"\x00\x00" * 160) == [] and broken.finish() == []
    assert broken.error == "quota exceeded"
    nobody = HttpRecogniser(f"ws://127.0.0.1:{free_port()}/asr").stream(8000, call_public_id="x")
    assert nobody.accept(b"\x00\x00") == [] and nobody.finish() == []
    assert nobody.error
    assert not HttpRecogniser("").status().ready
    assert not HttpRecogniser("http://example.com").status().ready


class _TtsHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)  # type: ignore[attr-defined]
        if body["text"] == "坏":
            self.send_response(500)
            self.end_headers()
            return
        if body["text"] == "乱码":
            payload, kind = b"garbage", "audio/wav"
        elif body["text"] == "原始":
            payload, kind = TONE, "audio/L16; rate=16000"
        else:
            payload, kind = pcm_to_wav(TONE, 16000), "audio/wav"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tts_url() -> Iterator[tuple[str, list[Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TtsHandler)
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tts", server.requests  # type: ignore[attr-defined]
    server.shutdown()


def test_cloud_tts_contract(tts_url: tuple[str, list[Any]]) -> None:
    url, requests = tts_url

    async def run() -> None:
        tts = HttpSynthesiser(url)
        assert tts.status().ready
        pcm = await tts.synthesise("您好", 8000)
        assert len(pcm) == len(TONE) // 2 and rms(pcm) > 1000
        assert await tts.synthesise("您好", 8000) is pcm  # cached
        raw = await tts.synthesise("原始", 16000)
        assert raw == TONE
        for bad in ("坏", "乱码"):
            with pytest.raises(CloudTtsError):
                await tts.synthesise(bad, 8000)
        assert await tts.synthesise("   ", 8000) == b""
        await tts.aclose()
        down = HttpSynthesiser(f"http://127.0.0.1:{free_port()}/tts", timeout=1)
        with pytest.raises(CloudTtsError):
            await down.synthesise("您好", 8000)
        await down.aclose()

    asyncio.run(run())
    assert requests[0] == {"text": "您好", "sample_rate": 8000, "format": "wav"}
    assert len([r for r in requests if r["text"] == "您好"]) == 1
    assert not HttpSynthesiser("").status().ready


def test_recorded_prompts_first(tmp_path: Path) -> None:
    class Fallback:
        name = "fallback"

        def __init__(self) -> None:
            self.said: list[str] = []

        def status(self) -> Any:
            return factory.EngineStatus("fallback", True)

        async def synthesise(self, text: str, sample_rate: int) -> bytes:
            self.said.append(text)
            return b"\x00\x00" * 10

    (tmp_path / f"{prompt_key('您好，我是小安。')}.wav").write_bytes(pcm_to_wav(TONE, 16000))
    (tmp_path / "bye.wav").write_bytes(pcm_to_wav(TONE[:3200], 16000))
    (tmp_path / "broken.wav").write_bytes(b"RIFFxxxxWAVEjunk")
    (tmp_path / "prompts.json").write_text(
        json.dumps({"再见。": "bye.wav", "坏的": "broken.wav", "逃逸": "../etc/passwd.wav"}, ensure_ascii=False),
        "utf-8",
    )
    fallback = Fallback()
    prompts = PromptSynthesiser(tmp_path, fallback=fallback)

    async def run() -> None:
        assert len(await prompts.synthesise(" 您好，我是小安。", 8000)) == len(TONE) // 2
        assert len(await prompts.synthesise("再见。", 16000)) == 3200
        assert await prompts.synthesise("坏的", 8000) == b"\x00\x00" * 10  # unreadable: synthesised instead
        assert await prompts.synthesise("逃逸", 8000) == b"\x00\x00" * 10

    asyncio.run(run())
    assert fallback.said == ["坏的", "逃逸"]
    assert prompts.status().ready and "3 条录音" in prompts.status().detail
    assert not PromptSynthesiser(tmp_path / "missing").status().ready


def S(**kw: Any) -> Settings:
    return Settings(database_url="sqlite:///./unused.db", **kw)


def test_statuses_with_nothing_configured(tmp_path: Path) -> None:
    settings = S(voice_asr="none")
    recogniser = factory.build_recogniser(settings)
    status = recogniser.status()
    assert not status.ready and "未配置语音识别" in status.detail
    with pytest.raises(RuntimeError):
        recogniser.stream(8000, call_public_id="x")
    report = factory.report(recogniser, factory.build_synthesiser(settings))
    assert not report.robot_ready and any("未配置语音识别" in r for r in report.reasons)
    assert "无效" in factory.build_recogniser(S(voice_asr="whisper")).status().detail
    assert isinstance(factory.build_recogniser(S(voice_asr="scripted")), ScriptedRecogniser)
    sherpa = factory.build_recogniser(S(voice_asr="sherpa"))
    assert not sherpa.status().ready and "EDUDESK_ASR_MODEL_DIR" in sherpa.status().detail
    # With a directory: either sherpa-onnx is not installed (optional) or the model files are missing.
    detail = SherpaRecogniser(tmp_path).status().detail
    assert "sherpa-onnx" in detail or "tokens.txt" in detail
    assert isinstance(factory.build_synthesiser(S(voice_prompt_dir=tmp_path)), PromptSynthesiser)
    assert not factory.build_synthesiser(S(voice_tts="x")).status().ready
    assert not factory.build_synthesiser(S(voice_tts="http")).status().ready
