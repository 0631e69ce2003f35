"""Call recordings: stored as WAV files under the app's upload directory, named on the call by a storage key.

The media plane calls ``save_recording`` when a recorded call ends; the admin's call page streams the file
through an authorised, audited route (``call_views``); the retention job (``voice.jobs``) deletes recordings
older than the org's retention with ``purge_batch``. A key is built here and checked against the same pattern
before it becomes a path, so a key altered in the database cannot reach outside the recordings directory.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.db import NotFoundError, utcnow
from edudesk.settings import Settings
from edudesk.voice.models import ENDED_CALL_STATES, Call

ROOT = "voice"
# voice/<org>/<yyyymm>/<public id>.wav
KEY_RE = re.compile(r"^voice/\d{1,10}/\d{6}/[A-Za-z0-9_-]{8,64}\.wav$")
MAX_RECORDING_BYTES = 512 * 1024 * 1024  # 8 hours of 8 kHz 16-bit mono; a larger one is a bug upstream


class RecordingError(ValueError):
    pass


def _root(settings: Settings) -> Path:
    return settings.upload_dir / ROOT


def path_of(settings: Settings, key: str) -> Path:
    if not KEY_RE.match(key):
        raise RecordingError(f"not a recording key: {key[:80]!r}")
    return settings.upload_dir / key


def path_in(upload_dir: Path, key: str) -> Path | None:
    """``path_of`` for callers that hold only the upload directory (the privacy registry); None for a bad key."""
    return upload_dir / key if KEY_RE.match(key) else None


def save_recording(settings: Settings, call: Call, wav_bytes: bytes) -> str:
    """Writes the call's WAV (atomically: a reader never sees half a file) and sets ``recording_key`` and
    ``recording_bytes`` on the call; the caller commits. A call recorded twice keeps the last file."""
    return store(settings.upload_dir, call, wav_bytes)


def store(upload_dir: Path, call: Call, wav_bytes: bytes) -> str:
    """``save_recording`` for callers that hold only the upload directory (the media plane)."""
    if not wav_bytes.startswith(b"RIFF") or wav_bytes[8:12] != b"WAVE":
        raise RecordingError("a recording must be a WAV file")
    if len(wav_bytes) > MAX_RECORDING_BYTES:
        raise RecordingError("recording too large")
    month = (call.answered_at or call.created_at or utcnow()).strftime("%Y%m")
    key = f"{ROOT}/{call.org_id}/{month}/{call.public_id}.wav"
    path = upload_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rec-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(wav_bytes)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if call.recording_key and call.recording_key != key:
        old = path_in(upload_dir, call.recording_key)
        if old is not None:
            old.unlink(missing_ok=True)
    call.recording_key = key
    call.recording_bytes = len(wav_bytes)
    return key


def open_recording(settings: Settings, call: Call) -> Path:
    """The file of the call's recording; NotFoundError when it has none (never recorded, or deleted)."""
    if not call.recording_key:
        raise NotFoundError("recording", call.id)
    try:
        path = path_of(settings, call.recording_key)
    except RecordingError:
        raise NotFoundError("recording", call.id) from None
    if not path.is_file():
        raise NotFoundError("recording", call.id)
    return path


def delete_file(settings: Settings, key: str) -> bool:
    try:
        path = path_of(settings, key)
    except RecordingError:
        return False
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def delete_recording(settings: Settings, call: Call) -> bool:
    """Removes the file and the key on the call (the caller audits and commits); False when there was none."""
    if not call.recording_key:
        return False
    removed = delete_file(settings, call.recording_key)
    call.recording_key = None
    call.recording_bytes = 0
    return removed


@dataclass(frozen=True)
class PurgeBatch:
    calls: int
    files: int
    bytes: int


def purge_batch(session: Session, settings: Settings, org_id: int, before: dt.datetime, limit: int) -> PurgeBatch:
    """Deletes up to ``limit`` recordings of the org's calls that ended before ``before`` (files and keys)."""
    calls = session.scalars(
        select(Call)
        .where(
            Call.org_id == org_id,
            Call.recording_key.is_not(None),
            Call.state.in_(ENDED_CALL_STATES),
            Call.ended_at < before,
        )
        .order_by(Call.ended_at, Call.id)
        .limit(limit)
    ).all()
    files = size = 0
    for call in calls:
        size += call.recording_bytes
        files += delete_recording(settings, call)
    session.flush()
    return PurgeBatch(calls=len(calls), files=files, bytes=size)
