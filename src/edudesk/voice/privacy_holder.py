"""A person's calls in their data export and gone with their erasure (the privacy area's contact-data holder).

The export carries each call's facts and transcript, and the recordings as files in the zip. Erasure deletes the
transcripts and recordings of the contact's ended calls and strips the number from the call rows, which stay as
anonymous counts for the metrics (a live call is left to end; the next erasure or the retention job catches it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from edudesk.privacy.registry import Batch
from edudesk.voice import recordings
from edudesk.voice.models import ENDED_CALL_STATES, Call, CallTurn

ERASED_PHONE = ""


class CallsHolder:
    name = "voice_calls"

    def __init__(self, upload_dir: Path) -> None:
        self.upload_dir = upload_dir

    def _calls(self, session: Session, org_id: int, contact_id: int) -> list[Call]:
        return list(
            session.scalars(select(Call).where(Call.org_id == org_id, Call.contact_id == contact_id).order_by(Call.id))
        )

    def export(self, session: Session, org_id: int, contact_id: int) -> tuple[Any, list[tuple[str, Path]]]:
        out: list[dict[str, Any]] = []
        files: list[tuple[str, Path]] = []
        for call in self._calls(session, org_id, contact_id):
            turns = session.scalars(
                select(CallTurn).where(CallTurn.org_id == org_id, CallTurn.call_id == call.id).order_by(CallTurn.seq)
            )
            out.append(
                {
                    "phone": call.phone_e164,
                    "direction": call.direction.value,
                    "mode": call.mode.value,
                    "created_at": call.created_at,
                    "answered_at": call.answered_at,
                    "ended_at": call.ended_at,
                    "outcome": call.outcome.value if call.outcome else None,
                    "transcript": [{"speaker": t.speaker.value, "text": t.text, "start_ms": t.start_ms} for t in turns],
                }
            )
            path = recordings.path_in(self.upload_dir, call.recording_key) if call.recording_key else None
            if path is not None and path.is_file():
                files.append((f"calls/{call.public_id}.wav", path))
        return out, files

    def erase(self, session: Session, org_id: int, contact_id: int, now: dt.datetime) -> Batch:
        files: list[Path] = []
        turns = 0
        count = 0
        for call in self._calls(session, org_id, contact_id):
            if call.state not in ENDED_CALL_STATES:
                continue
            count += 1
            if call.recording_key:
                path = recordings.path_in(self.upload_dir, call.recording_key)
                if path is not None:
                    files.append(path)
            result = session.execute(delete(CallTurn).where(CallTurn.org_id == org_id, CallTurn.call_id == call.id))
            turns += int(result.rowcount or 0)  # type: ignore[attr-defined]
            call.recording_key = None
            call.recording_bytes = 0
            call.phone_e164 = ERASED_PHONE
            call.outcome_reason = ""
            call.contact_id = None
            call.meta = {k: v for k, v in (call.meta or {}).items() if k == "transferred"}
        session.flush()
        return Batch(count, files, {"call_turns": turns, "recordings": len(files)})
