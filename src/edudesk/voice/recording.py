"""The call recorder: both sides of an answered call mixed into one mono WAV at the call's rate, stored with the
call (``calls.recording_key`` / ``recording_bytes``) when the org records calls.

The phone side arrives as a continuous stream; our side is queued in bursts (a prompt at a time), so our audio is
laid from the phone stream's position when it was queued, never before the end of our previous audio. The voice
admin's ``voice.recordings`` owns storage and retention; ``save_recording`` here is the minimal store the lead
reconciles with it (same key layout: ``recordings/<org>/<public id>.wav`` under the upload directory).
"""

from __future__ import annotations

from pathlib import Path

from edudesk.voice import audio
from edudesk.voice.media import Track
from edudesk.voice.models import Call

# A recording stops growing after this long (a line left open for hours must not fill the memory).
MAX_SECONDS = 3 * 3600


class Recorder:
    """An ``AudioTap``: mixes what it hears; ``wav()`` at the end."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.mix = bytearray()
        self._phone_at = 0
        self._ours_at = 0
        self._limit = MAX_SECONDS * sample_rate * audio.WIDTH

    def __call__(self, track: Track, pcm: bytes) -> None:
        if track == Track.phone:
            at = self._phone_at
            self._phone_at += len(pcm)
        else:
            at = max(self._ours_at, self._phone_at)
            self._ours_at = at + len(pcm)
        if at + len(pcm) <= self._limit:
            audio.mix_into(self.mix, at, pcm)

    def wav(self) -> bytes:
        return audio.wav_bytes(bytes(self.mix), self.sample_rate)


def save_recording(upload_dir: Path, call: Call, wav: bytes) -> None:
    """Writes the WAV and names it on the call (the caller commits)."""
    key = f"recordings/{call.org_id}/{call.public_id}.wav"
    path = upload_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(wav)
    tmp.replace(path)
    call.recording_key = key
    call.recording_bytes = len(wav)
