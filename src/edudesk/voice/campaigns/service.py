"""Call campaigns: creating one from a form, starting it (the target snapshot), pause / resume / cancel, and its
progress. The dialer (``dialer``) and what a call's outcome does (``outcomes``) build on these rows.

A campaign's targets are a snapshot taken when it starts: the leads that pass its filters and have a phone,
one target per number, numbers on the do-not-call list kept as excluded rows with the reason, so the progress
page accounts for every lead the filters matched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead, LeadStatus
from edudesk.localtime import LOCAL_TZ, local_midnight
from edudesk.routing import service as routing_service
from edudesk.voice import service as voice_service
from edudesk.voice.campaigns import scheduling
from edudesk.voice.campaigns.models import (
    CallCampaign,
    CallTarget,
    CampaignError,
    CampaignState,
    TargetState,
)
from edudesk.voice.models import ACTIVE_CALL_STATES, Call, CallMode, CallState, DoNotCall, VoiceLine

MAX_NAME = 64
MAX_TARGETS = 50_000
LEVELS = ("A", "B", "C")


def asr_ready(settings: Any) -> tuple[bool, str]:
    """Whether the robot can hear: the configured recogniser (``settings.voice_asr``, "none" when unset) is usable.
    The voice engines' own status check replaces this at merge (docs/voice.md, "Speech engines")."""
    kind = str(getattr(settings, "voice_asr", "none") or "none")
    if kind == "none":
        return False, "未配置语音识别（ASR），机器人外呼任务无法启动"
    return True, ""


@dataclass(frozen=True)
class LeadSelection:
    """The lead-list filters a campaign is built from (all optional)."""

    status: str = ""
    level: str = ""
    grade: str = ""
    channel: str = ""
    touched_after: str = ""  # last follow-up on or after this local date (ISO)
    touched_before: str = ""  # … before this local date

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadSelection:
        return cls(**{k: str(data.get(k, "") or "") for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def checked(self) -> LeadSelection:
        if self.status and self.status not in {s.value for s in LeadStatus}:
            raise CampaignError("bad_status", "线索状态不正确", "status")
        if self.level and self.level not in LEVELS:
            raise CampaignError("bad_level", "意向等级只能是 A、B 或 C", "level")
        if self.grade and self.grade not in leads_service.GRADES:
            raise CampaignError("bad_grade", "年级不正确", "grade")
        if len(self.channel) > 32:
            raise CampaignError("bad_channel", "来源渠道不正确", "channel")
        for name in ("touched_after", "touched_before"):
            value = getattr(self, name)
            if value:
                try:
                    dt.date.fromisoformat(value)
                except ValueError:
                    raise CampaignError("bad_date", "日期格式应为 2026-10-01", name) from None
        return self

    def lead_filters(self) -> leads_service.LeadFilters:
        after = dt.date.fromisoformat(self.touched_after) if self.touched_after else None
        before = dt.date.fromisoformat(self.touched_before) if self.touched_before else None
        return leads_service.LeadFilters(
            status=self.status,
            level=self.level,
            grade=self.grade,
            channel=self.channel,
            touched_since=local_midnight(after) if after else None,
            touched_until=local_midnight(before) if before else None,
        )


def matching_leads(session: Session, org_id: int, selection: LeadSelection) -> int:
    """How many leads with a phone the filters match now (the form's live count)."""
    stmt = leads_service.filtered(org_id, selection.checked().lead_filters()).where(Lead.phone_e164.is_not(None))
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


@dataclass
class CampaignInput:
    """What the form sends, as typed (checked by ``_clean``)."""

    name: str = ""
    mode: str = "robot"
    line_id: str = ""
    flow_key: str = ""
    selection: LeadSelection = field(default_factory=LeadSelection)
    windows: str = ""
    skip_holidays: bool = True
    closed_days: str = ""
    max_attempts: str = "3"
    retry_minutes: str = "60"
    retry_growth: str = "1"
    max_concurrent: str = "2"
    handoff_group_id: str = ""
    default_owner_id: str = ""
    book_trials: bool = False


def _int(raw: str, name: str, label: str, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip()[:12])
    except ValueError:
        raise CampaignError("bad_number", f"{label}须为整数", name) from None
    if not low <= value <= high:
        raise CampaignError("out_of_range", f"{label}须在 {low} 到 {high} 之间", name)
    return value


def _optional_id(raw: str, name: str) -> int | None:
    return _int(raw, name, "选项", 1, 2**31 - 1) if str(raw).strip() else None


def _clean(session: Session, org_id: int, data: CampaignInput) -> dict[str, Any]:
    name = data.name.strip()
    if not name:
        raise CampaignError("empty_name", "请填写任务名称", "name")
    if len(name) > MAX_NAME:
        raise CampaignError("name_too_long", f"任务名称不能超过 {MAX_NAME} 个字", "name")
    try:
        mode = CallMode(data.mode)
    except ValueError:
        raise CampaignError("bad_mode", "外呼方式只能是机器人或坐席", "mode") from None
    line_id = _optional_id(data.line_id, "line_id")
    if line_id is None:
        raise CampaignError("no_line", "请选择外呼线路", "line_id")
    # Another org's line, group or user is a NotFoundError (404), as an id in a path would be.
    get_in_org(session, VoiceLine, line_id, org_id)
    flow_key = data.flow_key.strip()
    if len(flow_key) > 64:
        raise CampaignError("bad_flow", "话术流程标识不能超过 64 个字符", "flow_key")
    group_id = _optional_id(data.handoff_group_id, "handoff_group_id")
    if group_id is not None and group_id not in {g.id for g in routing_service.list_groups(session, org_id)}:
        raise NotFoundError("skill_group", group_id)
    owner_id = _optional_id(data.default_owner_id, "default_owner_id")
    if owner_id is not None:
        auth_service.get_user(session, org_id, owner_id)
    try:
        growth = float(data.retry_growth.strip()[:12] or "1")
    except ValueError:
        raise CampaignError("bad_number", "重试间隔倍数须为数字", "retry_growth") from None
    if not 1.0 <= growth <= 3.0:
        raise CampaignError("out_of_range", "重试间隔倍数须在 1 到 3 之间", "retry_growth")
    return {
        "name": name,
        "mode": mode,
        "line_id": line_id,
        "flow_key": flow_key or None,
        "filters": data.selection.checked().to_dict(),
        "windows": scheduling.parse_windows_text(data.windows),
        "skip_holidays": bool(data.skip_holidays),
        "closed_days": scheduling.parse_closed_days(data.closed_days.replace(",", "\n").splitlines()[:1000]),
        "max_attempts": _int(data.max_attempts, "max_attempts", "最多呼叫次数", 1, 20),
        "retry_minutes": _int(data.retry_minutes, "retry_minutes", "重试间隔（分钟）", 5, 7 * 24 * 60),
        "retry_growth": growth,
        "max_concurrent": _int(data.max_concurrent, "max_concurrent", "并发数", 1, 100),
        "handoff_group_id": group_id,
        "default_owner_id": owner_id,
        "book_trials": bool(data.book_trials),
    }


def create(session: Session, actor: audit_service.Actor, data: CampaignInput) -> CallCampaign:
    values = _clean(session, actor.org_id, data)
    campaign = CallCampaign(org_id=actor.org_id, state=CampaignState.draft, created_by=actor.label[:100], **values)
    session.add(campaign)
    session.flush()
    audit_service.record(session, actor, "voice.campaign.create", "call_campaign", campaign.id, name=campaign.name)
    return campaign


def get(session: Session, org_id: int, campaign_id: int, *, for_update: bool = False) -> CallCampaign:
    return get_in_org(session, CallCampaign, campaign_id, org_id, for_update=for_update)


def list_campaigns(session: Session, org_id: int, *, limit: int = 200) -> list[CallCampaign]:
    return list(session.scalars(org_query(CallCampaign, org_id).order_by(CallCampaign.id.desc()).limit(limit)))


def names(session: Session, org_id: int, ids: set[int]) -> dict[int, str]:
    """Campaign names by id (metrics and call lists show them)."""
    if not ids:
        return {}
    rows = session.execute(
        select(CallCampaign.id, CallCampaign.name).where(CallCampaign.org_id == org_id, CallCampaign.id.in_(ids))
    )
    return {i: n for i, n in rows}


def start_problems(session: Session, campaign: CallCampaign, settings: Any, *, now: dt.datetime) -> list[str]:
    """Why the campaign cannot start now (empty: it can)."""
    problems = []
    line = session.get(VoiceLine, campaign.line_id) if campaign.line_id else None
    if line is None or line.org_id != campaign.org_id:
        problems.append("外呼线路不存在，请重新选择")
    elif not line.enabled:
        problems.append(f"外呼线路“{line.name}”已停用")
    if campaign.mode == CallMode.robot:
        ok, why = asr_ready(settings)
        if not ok:
            problems.append(why)
    if campaign.skip_holidays:
        year = now.astimezone(LOCAL_TZ).year
        if scheduling.holiday_years_missing([year]):
            problems.append(
                f"节假日表没有 {year} 年的安排，请升级 chinese-calendar，或关闭“跳过法定节假日”并手动填写停呼日期"
            )
    return problems


def start(
    session: Session, actor: audit_service.Actor, campaign_id: int, settings: Any, *, now: dt.datetime | None = None
) -> CallCampaign:
    """draft → running: checks the line and the recogniser, then snapshots the targets."""
    now = now or utcnow()
    campaign = get(session, actor.org_id, campaign_id, for_update=True)
    state = campaign.state.move_to(CampaignState.running)
    problems = start_problems(session, campaign, settings, now=now)
    if problems:
        raise CampaignError("cannot_start", "；".join(problems), "state")
    counts = _snapshot_targets(session, campaign, now=now)
    campaign.state, campaign.started_at, campaign.updated_at = state, now, now
    audit_service.record(session, actor, "voice.campaign.start", "call_campaign", campaign.id, **counts)
    return campaign


def _snapshot_targets(session: Session, campaign: CallCampaign, *, now: dt.datetime) -> dict[str, int]:
    selection = LeadSelection.from_dict(campaign.filters or {})
    stmt = (
        leads_service.filtered(campaign.org_id, selection.lead_filters())
        .where(Lead.phone_e164.is_not(None))
        .order_by(Lead.id)
        .limit(MAX_TARGETS)
    )
    dnc = dict(
        session.execute(select(DoNotCall.phone_e164, DoNotCall.reason).where(DoNotCall.org_id == campaign.org_id)).all()
    )
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    duplicates = excluded = 0
    for lead in session.scalars(stmt):
        phone = lead.phone_e164 or ""
        if phone in seen:
            duplicates += 1
            continue
        seen.add(phone)
        row: dict[str, Any] = {
            "org_id": campaign.org_id,
            "campaign_id": campaign.id,
            "lead_id": lead.id,
            "contact_id": lead.contact_id,
            "phone_e164": phone,
            "state": TargetState.pending,
            "excluded_reason": "",
            "attempts": 0,
            "next_attempt_at": now,
            "counted_calls": [],
            "updated_at": now,
        }
        if phone in dnc:
            excluded += 1
            row.update(
                state=TargetState.excluded,
                next_attempt_at=None,
                excluded_reason=f"免打扰名单：{dnc[phone]}"[:100] if dnc[phone] else "免打扰名单",
            )
        rows.append(row)
    for chunk in range(0, len(rows), 1000):
        session.execute(insert(CallTarget), rows[chunk : chunk + 1000])
    return {"targets": len(rows), "excluded": excluded, "duplicates": duplicates}


def _move(
    session: Session,
    actor: audit_service.Actor,
    campaign_id: int,
    target: CampaignState,
    action: str,
    *,
    now: dt.datetime | None = None,
) -> CallCampaign:
    now = now or utcnow()
    campaign = get(session, actor.org_id, campaign_id, for_update=True)
    campaign.state = campaign.state.move_to(target)
    campaign.updated_at = now
    if target in (CampaignState.finished, CampaignState.canceled):
        campaign.ended_at = now
    if target != CampaignState.running:
        cancel_queued_calls(
            session, campaign, reason="外呼任务已暂停" if target == CampaignState.paused else "外呼任务已结束"
        )
    audit_service.record(session, actor, action, "call_campaign", campaign.id, state=target.value)
    return campaign


def pause(session: Session, actor: audit_service.Actor, campaign_id: int) -> CallCampaign:
    return _move(session, actor, campaign_id, CampaignState.paused, "voice.campaign.pause")


def resume(session: Session, actor: audit_service.Actor, campaign_id: int, settings: Any) -> CallCampaign:
    campaign = get(session, actor.org_id, campaign_id)
    campaign.state.move_to(CampaignState.running)  # refuse early, before the checks
    problems = start_problems(session, campaign, settings, now=utcnow())
    if problems:
        raise CampaignError("cannot_start", "；".join(problems), "state")
    return _move(session, actor, campaign_id, CampaignState.running, "voice.campaign.resume")


def cancel(session: Session, actor: audit_service.Actor, campaign_id: int) -> CallCampaign:
    return _move(session, actor, campaign_id, CampaignState.canceled, "voice.campaign.cancel")


def cancel_queued_calls(session: Session, campaign: CallCampaign, *, reason: str) -> int:
    """Calls of the campaign not dialled yet are canceled (their targets go back to pending, uncounted, through
    the call-ended job); calls under way finish normally."""
    calls = list(
        session.scalars(
            select(Call).where(
                Call.org_id == campaign.org_id, Call.campaign_id == campaign.id, Call.state == CallState.queued
            )
        )
    )
    for call in calls:
        voice_service.end_call(session, call, CallState.canceled, outcome=None, reason=reason)
    return len(calls)


@dataclass(frozen=True)
class Progress:
    targets: dict[str, int]
    calls: int
    connected: int
    active: int
    outcomes: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.targets.values())

    @property
    def finished(self) -> int:
        return sum(self.targets.get(s, 0) for s in ("done", "exhausted", "excluded"))


def progress(session: Session, org_id: int, campaign_ids: list[int]) -> dict[int, Progress]:
    """Targets by state, calls placed, connected, under way and outcomes, per campaign (a few grouped queries)."""
    out: dict[int, dict[str, Any]] = {
        i: {"targets": {}, "calls": 0, "connected": 0, "active": 0, "outcomes": {}} for i in campaign_ids
    }
    if not campaign_ids:
        return {}
    for cid, state, n in session.execute(
        select(CallTarget.campaign_id, CallTarget.state, func.count())
        .where(CallTarget.org_id == org_id, CallTarget.campaign_id.in_(campaign_ids))
        .group_by(CallTarget.campaign_id, CallTarget.state)
    ):
        out[cid]["targets"][TargetState(state).value] = int(n)
    calls = (
        select(Call.campaign_id, Call.state, Call.outcome, Call.answered_at.is_not(None), func.count())
        .where(Call.org_id == org_id, Call.campaign_id.in_(campaign_ids))
        .group_by(Call.campaign_id, Call.state, Call.outcome, Call.answered_at.is_not(None))
    )
    for call_campaign, call_state, outcome, answered, count in session.execute(calls):
        entry = out[int(call_campaign or 0)]
        entry["calls"] += int(count)
        if answered:
            entry["connected"] += int(count)
        if CallState(call_state) in ACTIVE_CALL_STATES:
            entry["active"] += int(count)
        if outcome is not None:
            key = getattr(outcome, "value", str(outcome))
            entry["outcomes"][key] = entry["outcomes"].get(key, 0) + int(count)
    return {cid: Progress(**data) for cid, data in out.items()}


@dataclass(frozen=True)
class TargetPage:
    rows: list[CallTarget]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def targets_page(
    session: Session, org_id: int, campaign_id: int, *, state: str = "", page: int = 1, per_page: int = 50
) -> TargetPage:
    stmt = org_query(CallTarget, org_id).where(CallTarget.campaign_id == campaign_id)
    if state in {s.value for s in TargetState}:
        stmt = stmt.where(CallTarget.state == state)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = max(1, min(page, 10_000))
    rows = list(session.scalars(stmt.order_by(CallTarget.id).offset((page - 1) * per_page).limit(per_page)))
    return TargetPage(rows, total, page, per_page)


def finish_if_done(session: Session, campaign: CallCampaign, *, now: dt.datetime) -> bool:
    """A running campaign with no target left to call finishes (conditional: only one instance does it)."""
    left = session.scalar(
        select(CallTarget.id)
        .where(
            CallTarget.campaign_id == campaign.id,
            CallTarget.state.in_([TargetState.pending, TargetState.calling]),
        )
        .limit(1)
    )
    if left is not None:
        return False
    done = session.execute(
        update(CallCampaign)
        .where(CallCampaign.id == campaign.id, CallCampaign.state == CampaignState.running)
        .values(state=CampaignState.finished, ended_at=now, updated_at=now)
    )
    return bool(getattr(done, "rowcount", 0))
