"""How long each kind of personal data is kept, per org, and the admin's changes to it.

Defaults follow the rule of the 儿童个人信息网络保护规定 (art. 20: keep children's data no longer than the purpose
needs) for a school's sales and service: a year of transcripts for complaints and quality review, half a year for
uploaded pictures and for leads that went nowhere, three months for call recordings. "Keep forever" exists only
as an explicit choice on the admin page (stored as NULL), never as a default or a blank field.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import utcnow
from edudesk.errors import DomainError
from edudesk.privacy.models import RetentionPolicy

KINDS: tuple[str, ...] = ("conversations", "attachments", "recordings", "leads")
LABELS: dict[str, str] = {"conversations": "会话记录（消息、聊天记录）", "attachments": "附件（图片等上传文件）",
                          "recordings": "通话录音", "leads": "未转化线索（无试听、无报名）"}
DEFAULTS: dict[str, int] = {"conversations": 365, "attachments": 180, "recordings": 90, "leads": 180}
# A week at least: a typo ("1") must not wipe yesterday's conversations; ten years at most.
MIN_DAYS, MAX_DAYS = 7, 3650


class RetentionError(DomainError):
    pass


@dataclass(frozen=True)
class Policy:
    """Days per kind; None = kept until erased. ``saved`` is False while the org still runs on the defaults."""

    days: dict[str, int | None]
    saved: bool


def _row(session: Session, org_id: int) -> RetentionPolicy | None:
    return session.scalars(select(RetentionPolicy).where(RetentionPolicy.org_id == org_id)).first()


def policy(session: Session, org_id: int) -> Policy:
    row = _row(session, org_id)
    if row is None:
        return Policy(dict(DEFAULTS), saved=False)
    return Policy({k: getattr(row, f"{k}_days") for k in KINDS}, saved=True)


def parse_days(kind: str, raw: str, keep_forever: bool) -> int | None:
    """The admin form's value for one kind: a whole number of days, or None when "永久保留" is ticked."""
    if keep_forever:
        return None
    text = raw.strip()
    if not text.isdigit() or len(text) > 5:
        raise RetentionError("bad_days", f"{LABELS[kind]}：请填写 {MIN_DAYS}–{MAX_DAYS} 的天数，或勾选“永久保留”",
                             f"{kind}_days")
    days = int(text)
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise RetentionError("bad_days", f"{LABELS[kind]}：保留天数须在 {MIN_DAYS}–{MAX_DAYS} 之间", f"{kind}_days")
    return days


def save(session: Session, actor: audit_service.Actor, days: dict[str, int | None]) -> Policy:
    """Stores the org's policy (audited with before and after); the next purge run applies it."""
    if set(days) != set(KINDS):
        raise RetentionError("bad_kinds", "保留期限设置不完整")
    for kind, value in days.items():
        if value is not None and not MIN_DAYS <= value <= MAX_DAYS:
            raise RetentionError("bad_days", f"{LABELS[kind]}：保留天数须在 {MIN_DAYS}–{MAX_DAYS} 之间",
                                 f"{kind}_days")
    before = policy(session, actor.org_id)
    row = _row(session, actor.org_id)
    if row is None:
        row = RetentionPolicy(org_id=actor.org_id)
        session.add(row)
    for kind, value in days.items():
        setattr(row, f"{kind}_days", value)
    row.updated_at, row.updated_by = utcnow(), actor.label[:200]
    audit_service.record(session, actor, "privacy.retention", "org", actor.org_id, before=before.days, after=days)
    return Policy(dict(days), saved=True)
