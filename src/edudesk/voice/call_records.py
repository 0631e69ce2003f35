"""The org's call records as the admin reads them: a filtered, paged list and one call with its transcript."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.localtime import utc_bounds
from edudesk.voice.models import Call, CallMode, CallOutcome, CallTurn


@dataclass(frozen=True)
class CallFilters:
    since: dt.date | None = None
    until: dt.date | None = None
    campaign_id: int | None = None
    outcome: CallOutcome | None = None
    mode: CallMode | None = None
    agent_id: int | None = None
    phone: str = ""  # digits the number contains


@dataclass(frozen=True)
class CallPage:
    rows: list[Call]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def search(session: Session, org_id: int, filters: CallFilters, *, page: int = 1, per_page: int = 50) -> CallPage:
    """Newest first. Dates are local days (Asia/Shanghai), both included."""
    stmt = select(Call).where(Call.org_id == org_id)
    if filters.since is not None or filters.until is not None:
        start, end = utc_bounds(filters.since or dt.date(2000, 1, 1), filters.until or dt.date(2999, 12, 31))
        stmt = stmt.where(Call.created_at >= start, Call.created_at < end)
    if filters.campaign_id is not None:
        stmt = stmt.where(Call.campaign_id == filters.campaign_id)
    if filters.outcome is not None:
        stmt = stmt.where(Call.outcome == filters.outcome)
    if filters.mode is not None:
        stmt = stmt.where(Call.mode == filters.mode)
    if filters.agent_id is not None:
        stmt = stmt.where(Call.agent_id == filters.agent_id)
    digits = "".join(c for c in filters.phone if c.isdigit())[:20]
    if digits:
        stmt = stmt.where(Call.phone_e164.contains(digits, autoescape=True))
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = session.scalars(
        stmt.order_by(Call.created_at.desc(), Call.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return CallPage(list(rows), total, page, per_page)


def turns(session: Session, call: Call) -> list[CallTurn]:
    return list(
        session.scalars(
            select(CallTurn).where(CallTurn.org_id == call.org_id, CallTurn.call_id == call.id).order_by(CallTurn.seq)
        )
    )
