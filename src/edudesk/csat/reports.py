"""CSAT results per agent and per skill group over a range of Asia/Shanghai days.

- The period holds the conversations *resolved* in it (``resolved_at``; a conversation resolved again after the
  visitor wrote back counts once, on its last resolution). Those are the ones the visitor was asked to rate.
- *Rated* ones carry a score; the *response rate* is rated ÷ resolved.
- The *average* is of normalised scores (score − 1) / (scale − 1), each on the scale it was rated on, so ratings
  on 2, 3 and 5 points can be averaged together (see ``csat.service``). Ratings stored without a scale (before
  scales were configurable) were given on five stars.
- *Satisfied* (top box) is the best answer, or 4–5 of 5; *low* ratings (below the middle) are listed with their
  comments for follow-up.
- A conversation counts for the agent it was assigned to when resolved (none: "无接待人") and for its skill group
  (none: "未分组").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from edudesk.auth.models import User
from edudesk.conversations.models import Conversation
from edudesk.csat import service as csat_service
from edudesk.csat.service import CsatError
from edudesk.localtime import local_today, utc_bounds
from edudesk.routing.models import SkillGroup

DEFAULT_DAYS = 30
MAX_DAYS = 366
LOW_LIMIT = 100
NO_AGENT = "无接待人"
NO_GROUP = "未分组"


@dataclass(frozen=True)
class CsatRow:
    key: int | None  # the user's or the group's id; None: no agent / no group (or the total)
    label: str
    resolved: int
    rated: int
    score_total: float  # the sum of normalised scores (0..1 each)
    satisfied: int

    @property
    def response_rate(self) -> float:
        return self.rated / self.resolved if self.resolved else 0.0

    @property
    def average(self) -> float | None:
        """Mean normalised score, 0..1; None when nothing was rated."""
        return self.score_total / self.rated if self.rated else None

    @property
    def satisfied_share(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"id": self.key, "label": self.label, "resolved": self.resolved, "rated": self.rated,
                "response_rate": r(self.response_rate), "average": r(self.average),
                "satisfied_share": r(self.satisfied_share)}


@dataclass(frozen=True)
class LowScore:
    conversation_id: int
    rated_at: dt.datetime | None
    agent: str
    group: str
    score: int
    scale: int
    comment: str

    @property
    def score_label(self) -> str:
        return csat_service.score_label(self.score, self.scale)

    def as_dict(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id,
                "rated_at": self.rated_at.isoformat() if self.rated_at else None, "agent": self.agent,
                "group": self.group, "score": self.score, "scale": self.scale, "comment": self.comment}


@dataclass(frozen=True)
class CsatReport:
    start: dt.date
    end: dt.date
    by_agent: list[CsatRow]
    by_group: list[CsatRow]
    total: CsatRow
    low_scores: list[LowScore]

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.start.isoformat(), "until": self.end.isoformat(),
                "by_agent": [r.as_dict() for r in self.by_agent], "by_group": [r.as_dict() for r in self.by_group],
                "total": self.total.as_dict(), "low_scores": [low.as_dict() for low in self.low_scores]}


def default_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    end = today or local_today()
    return end - dt.timedelta(days=DEFAULT_DAYS - 1), end


def check_range(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise CsatError("bad_range", "结束日期不能早于开始日期", "until")
    if (end - start).days + 1 > MAX_DAYS:
        raise CsatError("range_too_long", f"时间范围不能超过 {MAX_DAYS} 天", "until")


def parse_range(since: str, until: str, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The form's ``since``/``until`` (YYYY-MM-DD, either may be empty: the last 30 days up to today)."""
    default_start, default_end = default_range(today)
    out: list[dt.date] = []
    for raw, fallback, field in ((since, default_start, "since"), (until, default_end, "until")):
        raw = raw.strip()
        if not raw:
            out.append(fallback)
            continue
        try:
            out.append(dt.date.fromisoformat(raw))
        except ValueError:
            raise CsatError("bad_date", f"“{raw}”不是有效日期，请写成 YYYY-MM-DD", field) from None
    start, end = out
    if not since.strip() and until.strip():
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    check_range(start, end)
    return start, end


def _in_period(org_id: int, start: dt.date, end: dt.date) -> ColumnElement[bool]:
    since, until = utc_bounds(start, end)
    return and_(Conversation.org_id == org_id, Conversation.resolved_at >= since, Conversation.resolved_at < until)


@dataclass
class _Tally:
    resolved: int = 0
    rated: int = 0
    score_total: float = 0.0
    satisfied: int = 0


def _tallies(session: Session, org_id: int, start: dt.date, end: dt.date, column: Any) -> dict[int | None, _Tally]:
    """Counts per (dimension, stored scale), folded into one tally per dimension value: one grouped query."""
    score = Conversation.csat_score
    rows = session.execute(
        select(column, Conversation.csat_scale, score, func.count())
        .where(_in_period(org_id, start, end))
        .group_by(column, Conversation.csat_scale, score)).all()
    out: dict[int | None, _Tally] = defaultdict(_Tally)
    for key, scale, value, n in rows:
        tally = out[key]
        tally.resolved += n
        if value is None:
            continue
        tally.rated += n
        tally.score_total += n * csat_service.normalised(value, scale)
        tally.satisfied += n if csat_service.is_satisfied(value, scale) else 0
    return out


def _row(key: int | None, label: str, t: _Tally) -> CsatRow:
    return CsatRow(key=key, label=label, resolved=t.resolved, rated=t.rated, score_total=t.score_total,
                   satisfied=t.satisfied)


def _names(session: Session, model: Any, label_column: Any, org_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i: name for i, name in session.execute(
        select(model.id, label_column).where(model.org_id == org_id, model.id.in_(sorted(ids))))}


def _rows(tallies: dict[int | None, _Tally], names: dict[int, str], none_label: str) -> list[CsatRow]:
    rows = [_row(key, names.get(key, none_label) if key is not None else none_label, t)
            for key, t in tallies.items()]
    return sorted(rows, key=lambda r: (-r.rated, -r.resolved, r.key is None, r.label))


def low_scores(session: Session, org_id: int, start: dt.date, end: dt.date, limit: int = LOW_LIMIT
               ) -> list[tuple[Conversation, str, str]]:
    score, scale = Conversation.csat_score, Conversation.csat_scale
    low = or_(and_(scale.is_(None), score <= 2), (score - 1) * 2 < scale - 1)  # normalised < 0.5
    convs = list(session.scalars(
        select(Conversation).where(_in_period(org_id, start, end), score.is_not(None), low)
        .order_by(Conversation.closed_at.desc(), Conversation.id.desc()).limit(limit)))
    agents = _names(session, User, User.display_name, org_id, {c.assignee_id for c in convs if c.assignee_id})
    groups = _names(session, SkillGroup, SkillGroup.name, org_id, {c.group_id for c in convs if c.group_id})
    return [(c, agents.get(c.assignee_id, NO_AGENT) if c.assignee_id else NO_AGENT,
             groups.get(c.group_id, NO_GROUP) if c.group_id else NO_GROUP) for c in convs]


def report(session: Session, org_id: int, start: dt.date, end: dt.date) -> CsatReport:
    check_range(start, end)
    by_agent = _tallies(session, org_id, start, end, Conversation.assignee_id)
    by_group = _tallies(session, org_id, start, end, Conversation.group_id)
    total = _Tally()
    for t in by_agent.values():
        total.resolved += t.resolved
        total.rated += t.rated
        total.score_total += t.score_total
        total.satisfied += t.satisfied
    agent_names = _names(session, User, User.display_name, org_id, {k for k in by_agent if k is not None})
    group_names = _names(session, SkillGroup, SkillGroup.name, org_id, {k for k in by_group if k is not None})
    lows = [LowScore(conversation_id=c.id, rated_at=c.closed_at, agent=agent, group=group, score=c.csat_score or 0,
                     scale=csat_service.scale_or_legacy(c.csat_scale), comment=c.csat_comment or "")
            for c, agent, group in low_scores(session, org_id, start, end)]
    return CsatReport(start=start, end=end, by_agent=_rows(by_agent, agent_names, NO_AGENT),
                      by_group=_rows(by_group, group_names, NO_GROUP), total=_row(None, "合计", total),
                      low_scores=lows)
