"""An org's voice settings (语音设置): whether calls are recorded, how long recordings are kept, and the notice the
robot says first. An org that never saved them gets the defaults (an unsaved row), so readers need no
special case."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.inputs import text_problem
from edudesk.voice.models import VoiceSettings
from edudesk.voice.service import VoiceError

RETENTION_MIN_DAYS = 0
RETENTION_MAX_DAYS = 3650
DEFAULT_RETENTION_DAYS = 90
NOTICE_MAX = 300
DEFAULT_NOTICE = "您好，这里是{机构}的智能语音助手，本次通话可能会被录音。"


def get_settings(session: Session, org_id: int) -> VoiceSettings:
    row = session.scalar(select(VoiceSettings).where(VoiceSettings.org_id == org_id))
    if row is None:
        row = VoiceSettings(
            org_id=org_id, record_calls=True, recording_retention_days=DEFAULT_RETENTION_DAYS, robot_notice=""
        )
    return row


def parse_retention(raw: str | int) -> int:
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 5:
        raise VoiceError(
            "bad_retention",
            f"保留天数须为 {RETENTION_MIN_DAYS}–{RETENTION_MAX_DAYS} 之间的整数",
            "recording_retention_days",
        )
    days = int(text)
    if not RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS:
        raise VoiceError(
            "bad_retention",
            f"保留天数须为 {RETENTION_MIN_DAYS}–{RETENTION_MAX_DAYS} 之间的整数",
            "recording_retention_days",
        )
    return days


def parse_notice(raw: str) -> str:
    notice = raw.strip()
    if len(notice) > NOTICE_MAX:
        raise VoiceError("notice_too_long", f"开场提示不能超过 {NOTICE_MAX} 个字", "robot_notice")
    problem = text_problem(notice)
    if problem:
        raise VoiceError("bad_notice", f"开场提示{problem}", "robot_notice")
    return notice


def save_settings(
    session: Session, actor: Actor, *, record_calls: bool, retention_days: str | int, robot_notice: str
) -> VoiceSettings:
    days = parse_retention(retention_days)
    notice = parse_notice(robot_notice)
    row = session.scalar(select(VoiceSettings).where(VoiceSettings.org_id == actor.org_id))
    if row is None:
        row = VoiceSettings(org_id=actor.org_id)
        session.add(row)
    before = (row.record_calls, row.recording_retention_days)
    row.record_calls = record_calls
    row.recording_retention_days = days
    row.robot_notice = notice
    session.flush()
    audit_service.record(
        session,
        actor,
        "voice_settings.update",
        "voice_settings",
        row.id,
        record_calls=record_calls,
        recording_retention_days=days,
        before={"record_calls": before[0], "recording_retention_days": before[1]},
    )
    return row
