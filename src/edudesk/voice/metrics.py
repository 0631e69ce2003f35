"""Call metrics (外呼数据) per campaign and per day: calls placed, connected and the connect rate, effective talk
time, outcomes, leads reached / interested / asking for a callback, and transfers to agents.

Definitions (docs/voice.md, "Admin, do-not-call, recordings and metrics"):

- a call counts on the local (Asia/Shanghai) day it was created, in the campaign it belongs to (none: "手动外呼");
- **placed**: the call left the queue (any state but ``queued`` and ``canceled``);
- **connected**: it was answered (``answered_at``); connect rate = connected ÷ placed;
- **talk seconds**: the sum of ``talk_seconds`` (effective talk time); the average is over connected calls;
- **outcomes**: placed calls per outcome code; ``interested`` and ``callbacks`` are two of those counts;
- **transfers**: calls an agent took over (``meta["transferred"]``);
- **leads reached**: distinct numbers among the connected calls.

Every figure but ``leads_reached`` adds up: the rows by campaign and the rows by day each sum to the total. A
number reached on two days is one lead in the total, so ``leads_reached`` of the total is the distinct count
over the whole range (at most the sum of the rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.localtime import LOCAL_TZ, utc_bounds
from edudesk.voice.campaigns import service as campaigns_service
from edudesk.voice.models import Call, CallOutcome, CallState
from edudesk.voice.service import VoiceError

MAX_DAYS = 366
NOT_PLACED = (CallState.queued, CallState.canceled)
NO_CAMPAIGN = "手动外呼"
OUTCOMES = tuple(o.value for o in CallOutcome)


@dataclass
class Figures:
    placed: int = 0
    connected: int = 0
    talk_seconds: float = 0.0
    transfers: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    reached: set[str] = field(default_factory=set)

    def add(
        self, state: CallState, outcome: CallOutcome | None, answered: bool, talk: float, phone: str, transferred: bool
    ) -> None:
        self.placed += 1
        if answered:
            self.connected += 1
            if phone:  # an erased person's calls keep counting, without their number
                self.reached.add(phone)
        self.talk_seconds += talk or 0.0
        if outcome is not None:
            self.outcomes[outcome.value] += 1
        if transferred:
            self.transfers += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "connected": self.connected,
            "connect_rate": round(self.connected / self.placed, 4) if self.placed else 0.0,
            "talk_seconds": round(self.talk_seconds, 1),
            "avg_talk_seconds": round(self.talk_seconds / self.connected, 1) if self.connected else 0.0,
            "outcomes": dict(self.outcomes),
            "leads_reached": len(self.reached),
            "interested": self.outcomes["interested"],
            "callbacks": self.outcomes["callback"],
            "transfers": self.transfers,
        }


@dataclass(frozen=True)
class Report:
    since: dt.date
    until: dt.date
    campaigns: list[dict[str, Any]]
    days: list[dict[str, Any]]
    total: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "campaigns": self.campaigns,
            "days": self.days,
            "total": self.total,
        }


# The campaigns' names by id for the org (a campaign deleted since shows as "任务 #id").
CampaignNames = Callable[[Session, int, list[int]], dict[int, str]]


def _default_names(session: Session, org_id: int, ids: list[int]) -> dict[int, str]:
    return campaigns_service.names(session, org_id, set(ids))


def check_range(since: dt.date, until: dt.date) -> None:
    if until < since:
        raise VoiceError("bad_range", "结束日期不能早于开始日期", "until")
    if (until - since).days >= MAX_DAYS:
        raise VoiceError("range_too_long", f"时间范围不能超过 {MAX_DAYS} 天", "until")


def compute(
    session: Session,
    org_id: int,
    since: dt.date,
    until: dt.date,
    *,
    campaign_id: int | None = None,
    names: CampaignNames | None = None,
) -> Report:
    """The org's figures for the local days ``since``–``until`` (both included)."""
    check_range(since, until)
    start, end = utc_bounds(since, until)
    stmt = select(
        Call.campaign_id,
        Call.created_at,
        Call.state,
        Call.outcome,
        Call.answered_at,
        Call.talk_seconds,
        Call.phone_e164,
        Call.meta,
    ).where(Call.org_id == org_id, Call.created_at >= start, Call.created_at < end, Call.state.not_in(NOT_PLACED))
    if campaign_id is not None:
        stmt = stmt.where(Call.campaign_id == campaign_id)
    by_campaign: dict[int | None, Figures] = {}
    by_day: dict[dt.date, Figures] = {}
    total = Figures()
    for cid, created, state, outcome, answered_at, talk, phone, meta in session.execute(stmt):
        day = created.astimezone(LOCAL_TZ).date()
        transferred = bool((meta or {}).get("transferred"))
        for figures in (by_campaign.setdefault(cid, Figures()), by_day.setdefault(day, Figures()), total):
            figures.add(state, outcome, answered_at is not None, float(talk or 0.0), phone, transferred)
    ids = sorted(i for i in by_campaign if i is not None)
    labels = (names or _default_names)(session, org_id, ids) if ids else {}
    campaigns = [
        {
            "campaign_id": cid,
            "name": labels.get(cid, f"任务 #{cid}") if cid is not None else NO_CAMPAIGN,
            **by_campaign[cid].as_dict(),
        }
        for cid in sorted(by_campaign, key=lambda c: (c is not None, c or 0))
    ]
    days = [{"day": day, **by_day[day].as_dict()} for day in sorted(by_day)]
    return Report(since=since, until=until, campaigns=campaigns, days=days, total=total.as_dict())


def today_counts(session: Session, org_id: int, today: dt.date) -> dict[str, Any]:
    """Today's figures for the overview page."""
    return compute(session, org_id, today, today).total
