"""The call recorder: both sides of an answered call mixed into one mono WAV at the call's rate, stored with the
call (``calls.recording_key`` / ``recording_bytes``) when the org records calls.

The phone side arrives as a continuous stream; our side is queued in bursts (a prompt at a time), so our audio is
laid from the phone stream's position when it was queued, never before the end of our previous audio. Storage and
retention are ``voice.recordings``'.
"""

from __future__ import annotations

from edudesk.voice import audio
from edudesk.voice.media import Track

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
