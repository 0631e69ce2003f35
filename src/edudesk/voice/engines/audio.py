"""PCM helpers every engine needs: WAV in and out, resampling to the call's rate, and a bounded LRU of
synthesised prompts (the robot says the same lines on every call; synthesising them once is most of the speed)."""

from __future__ import annotations

import io
import math
import struct
import threading
import wave
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np


class AudioFormatError(ValueError):
    pass


def wav_to_pcm(data: bytes) -> tuple[bytes, int]:
    """The 16-bit mono PCM and rate of a WAV file. Also reads WAVs written to a pipe (espeak-ng --stdout), whose
    header carries a placeholder length: the data chunk is taken to the end of the bytes."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("不是 WAV 文件")
    pos, rate, channels, width = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", data[body : body + 8])
            width = struct.unpack("<H", data[body + 14 : body + 16])[0] // 8
            if fmt not in (1, 0xFFFE):
                raise AudioFormatError("只支持 PCM 编码的 WAV")
        elif chunk == b"data":
            if not rate or width != 2:
                raise AudioFormatError("只支持 16 位 PCM 的 WAV")
            end = len(data) if size in (0, 0xFFFFFFFF, 0x7FFFFFFF) or body + size > len(data) else body + size
            pcm = data[body:end]
            pcm = pcm[: len(pcm) - len(pcm) % (2 * channels)]
            if channels > 1:
                frames = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).astype(np.int32)
                pcm = frames.mean(axis=1).astype("<i2").tobytes()
            return pcm, rate
        pos = body + size + (size % 2)
    raise AudioFormatError("WAV 文件缺少音频数据")


def pcm_to_wav(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    """16-bit mono PCM from ``src`` Hz to ``dst`` Hz (polyphase filter: no aliasing on the way down to 8 kHz)."""
    if src == dst or not pcm:
        return pcm
    from scipy.signal import resample_poly  # here, not at import: scipy.signal costs ~60 MB in every process

    g = math.gcd(src, dst)
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    out = resample_poly(samples, dst // g, src // g)
    converted: bytes = np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()
    return converted


class PcmCache:
    """A bounded least-recently-used map of synthesised audio, shared by every call of the process."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, pcm: bytes) -> None:
        if len(pcm) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = pcm
            self._bytes += len(pcm)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)
