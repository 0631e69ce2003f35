"""sherpa-onnx streaming recognition from a model directory (``EDUDESK_ASR_MODEL_DIR``): the offline choice for
production, e.g. a streaming Zipformer transducer for Chinese (tokens.txt, encoder*.onnx, decoder*.onnx,
joiner*.onnx in one folder). sherpa-onnx is optional (``pip install sherpa-onnx``): it is imported only when this
engine is configured, and without it or without a model the engine says why, in the admin, instead of failing.
The model is loaded once per process and shared by every call; each call gets its own stream. sherpa-onnx
endpoints utterances itself (trailing silence rules), so results come out final per sentence.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from edudesk.voice.engines.base import EngineStatus, Recognised

MODEL_SAMPLE_RATE = 16000


def _model_files(folder: Path) -> dict[str, Path] | None:
    def one(pattern: str) -> Path | None:
        found = sorted(folder.glob(pattern))
        # int8 weights when both are there: a quarter of the memory, a few per cent of accuracy.
        found.sort(key=lambda p: ".int8." not in p.name)
        return found[0] if found else None

    tokens = folder / "tokens.txt"
    files = {"encoder": one("encoder*.onnx"), "decoder": one("decoder*.onnx"), "joiner": one("joiner*.onnx")}
    if not tokens.is_file():
        return None
    found = {k: v for k, v in files.items() if v is not None}
    return {"tokens": tokens, **found} if len(found) == len(files) else None


class SherpaStream:
    def __init__(self, recognizer: Any, sample_rate: int, lock: threading.Lock) -> None:
        self._recognizer = recognizer
        self._stream = recognizer.create_stream()
        self._rate = sample_rate
        self._lock = lock
        self._samples = 0
        self._segment_start = 0
        self._last = ""

    def _text(self) -> str:
        result = self._recognizer.get_result(self._stream)
        return (result if isinstance(result, str) else str(getattr(result, "text", ""))).strip()

    def _ms(self) -> int:
        return self._samples * 1000 // self._rate

    def accept(self, pcm: bytes) -> list[Recognised]:
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32) / 32768.0
        self._samples += samples.size
        out: list[Recognised] = []
        with self._lock:
            self._stream.accept_waveform(self._rate, samples)
            while self._recognizer.is_ready(self._stream):
                self._recognizer.decode_stream(self._stream)
            text = self._text()
            endpoint = self._recognizer.is_endpoint(self._stream)
            if endpoint:
                self._recognizer.reset(self._stream)
        if endpoint:
            if text:
                out.append(Recognised(text, True, self._segment_start, self._ms()))
            self._segment_start, self._last = self._ms(), ""
        elif text and text != self._last:
            self._last = text
            out.append(Recognised(text, False, self._segment_start, self._ms()))
        return out

    def finish(self) -> list[Recognised]:
        with self._lock:
            self._stream.input_finished()
            while self._recognizer.is_ready(self._stream):
                self._recognizer.decode_stream(self._stream)
            text = self._text()
        return [Recognised(text, True, self._segment_start, self._ms())] if text else []


class SherpaRecogniser:
    name = "sherpa"

    def __init__(self, model_dir: Path | None, *, threads: int = 2) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self._recognizer: Any = None
        self._load_lock = threading.Lock()
        self._decode_lock = threading.Lock()

    def status(self) -> EngineStatus:
        if self.model_dir is None:
            return EngineStatus(self.name, False, "未配置语音识别模型：请设置 EDUDESK_ASR_MODEL_DIR")
        if importlib.util.find_spec("sherpa_onnx") is None:
            return EngineStatus(self.name, False, "未安装 sherpa-onnx：请执行 pip install sherpa-onnx")
        if not self.model_dir.is_dir():
            return EngineStatus(self.name, False, f"语音识别模型目录不存在：{self.model_dir}")
        if _model_files(self.model_dir) is None:
            return EngineStatus(
                self.name, False, "模型目录缺少 tokens.txt、encoder*.onnx、decoder*.onnx 或 joiner*.onnx"
            )
        return EngineStatus(self.name, True, f"sherpa-onnx：{self.model_dir.name}")

    def _load(self) -> Any:
        with self._load_lock:
            if self._recognizer is None:
                status = self.status()
                if not status.ready:
                    raise RuntimeError(status.detail)
                assert self.model_dir is not None
                files = _model_files(self.model_dir)
                assert files is not None
                sherpa_onnx = importlib.import_module("sherpa_onnx")
                self._recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
                    tokens=str(files["tokens"]),
                    encoder=str(files["encoder"]),
                    decoder=str(files["decoder"]),
                    joiner=str(files["joiner"]),
                    num_threads=self.threads,
                    sample_rate=MODEL_SAMPLE_RATE,
                    feature_dim=80,
                    enable_endpoint_detection=True,
                    rule1_min_trailing_silence=1.2,
                    rule2_min_trailing_silence=0.6,
                    rule3_min_utterance_length=20.0,
                )
            return self._recognizer

    def stream(self, sample_rate: int, *, call_public_id: str, track: int = 0, phone_e164: str = "") -> SherpaStream:
        # The model resamples the call's 8 kHz audio itself (accept_waveform takes the input rate).
        return SherpaStream(self._load(), sample_rate, self._decode_lock)
