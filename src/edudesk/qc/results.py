"""Reading results for the pages: the filtered list, and one conversation's inspection with its transcript cut
into plain and highlighted segments (the template escapes each piece; no HTML is ever built from message text)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.db import NotFoundError, org_query
from edudesk.errors import DomainError
from edudesk.localtime import local_today, utc_bounds
from edudesk.qc import reviews, ruleset
from edudesk.qc.models import REVIEW_STATE_LABELS, QcHit, QcInspection, QcReview
from edudesk.qc.rules import SEVERITY_LABELS
from edudesk.routing.models import SkillGroup

PAGE_SIZE = 50
DEFAULT_DAYS = 30
MAX_DAYS = 366


class FilterError(DomainError):
    status_code = 422


@dataclass(frozen=True)
class Filters:
    since: dt.date
    until: dt.date
    agent_id: int | None = None
    group_id: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    rule: str | None = None
    state: str | None = None

    def query(self) -> dict[str, str]:
        out = {"since": self.since.isoformat(), "until": self.until.isoformat()}
        for key in ("agent_id", "group_id", "min_score", "max_score", "rule", "state"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = str(value)
        return out


def _date(raw: str, field: str, default: dt.date) -> dt.date:
    if not raw.strip():
        return default
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise FilterError("bad_date", "日期格式应为 YYYY-MM-DD", field) from None


def _int(raw: str, field: str, low: int, high: int) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise FilterError("bad_number", f"请填写 {low}–{high} 的整数", field)
    return int(text)


def parse_filters(params: dict[str, str], today: dt.date | None = None) -> tuple[Filters, dict[str, str]]:
    """Filters from the query string; each bad value is reported beside its field and left out."""
    today = today or local_today()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def take(key: str, fn: Any) -> None:
        try:
            values[key] = fn()
        except FilterError as exc:
            errors[exc.field or key] = exc.message

    take("since", lambda: _date(params.get("since", ""), "since", today - dt.timedelta(days=DEFAULT_DAYS - 1)))
    take("until", lambda: _date(params.get("until", ""), "until", today))
    since = values.get("since", today - dt.timedelta(days=DEFAULT_DAYS - 1))
    until = values.get("until", today)
    if until < since:
        errors["until"] = "结束日期不能早于开始日期"
        since, until = today - dt.timedelta(days=DEFAULT_DAYS - 1), today
    elif (until - since).days + 1 > MAX_DAYS:
        errors["until"] = f"时间范围不能超过 {MAX_DAYS} 天"
        since = until - dt.timedelta(days=MAX_DAYS - 1)
    for key in ("agent_id", "group_id"):
        take(key, lambda key=key: _int(params.get(key, ""), key, 1, 2**31 - 1))
    for key in ("min_score", "max_score"):
        take(key, lambda key=key: _int(params.get(key, ""), key, 0, 100))
    rule = params.get("rule", "").strip()[:32] or None
    state = params.get("state", "").strip()
    if state and state not in {s.value for s in REVIEW_STATE_LABELS}:
        errors["state"] = "请选择复核状态"
        state = ""
    return Filters(since, until, values.get("agent_id"), values.get("group_id"), values.get("min_score"),
                   values.get("max_score"), rule, state or None), errors


@dataclass(frozen=True)
class ResultRow:
    conversation_id: int
    closed_at: dt.datetime
    agent: str
    group: str
    score: int
    final_score: int
    hit_count: int
    rules: list[str]
    review_state: str | None
    review_label: str
    revision: int
    stale: bool


def names(session: Session, org_id: int) -> tuple[dict[int, str], dict[int, str]]:
    users = dict(session.execute(select(User.id, User.display_name).where(User.org_id == org_id)).all())
    groups = dict(session.execute(select(SkillGroup.id, SkillGroup.name).where(SkillGroup.org_id == org_id)).all())
    return users, groups


def list_results(session: Session, org_id: int, f: Filters, page: int = 1, *,
                 only_agent: int | None = None) -> tuple[list[ResultRow], int]:
    start, end = utc_bounds(f.since, f.until)
    stmt = org_query(QcInspection, org_id).where(QcInspection.closed_at >= start, QcInspection.closed_at < end)
    agent_id = only_agent if only_agent is not None else f.agent_id
    if agent_id is not None:
        stmt = stmt.where(QcInspection.agent_id == agent_id)
    if f.group_id is not None:
        stmt = stmt.where(QcInspection.group_id == f.group_id)
    if f.min_score is not None:
        stmt = stmt.where(QcInspection.score >= f.min_score)
    if f.max_score is not None:
        stmt = stmt.where(QcInspection.score <= f.max_score)
    if f.rule:
        stmt = stmt.where(exists(select(QcHit.id).where(QcHit.org_id == org_id, QcHit.rule_key == f.rule,
                                                        QcHit.inspection_id == QcInspection.id)))
    if f.state:
        stmt = stmt.where(exists(select(QcReview.id).where(
            QcReview.org_id == org_id, QcReview.conversation_id == QcInspection.conversation_id,
            QcReview.state == f.state)))
    total = int(session.scalar(stmt.with_only_columns(func.count()).order_by(None)) or 0)
    rows = list(session.scalars(stmt.order_by(QcInspection.closed_at.desc(), QcInspection.id.desc())
                                .limit(PAGE_SIZE).offset((max(1, page) - 1) * PAGE_SIZE)))
    ids = [r.id for r in rows]
    hit_names: dict[int, list[str]] = {}
    for inspection_id, name in session.execute(select(QcHit.inspection_id, QcHit.rule_name).where(
            QcHit.org_id == org_id, QcHit.inspection_id.in_(ids)).distinct()):
        hit_names.setdefault(inspection_id, []).append(name)
    review_rows = {r.conversation_id: r for r in session.scalars(org_query(QcReview, org_id).where(
        QcReview.conversation_id.in_([r.conversation_id for r in rows])))}
    users, groups = names(session, org_id)
    current = ruleset.current(session, org_id).revision
    out = []
    for r in rows:
        review = review_rows.get(r.conversation_id)
        out.append(ResultRow(r.conversation_id, r.closed_at, users.get(r.agent_id or 0, "—"),
                             groups.get(r.group_id or 0, "未分组"), r.score, reviews.final_score(r, review),
                             r.hit_count, sorted(hit_names.get(r.id, [])),
                             review.state.value if review else None,
                             REVIEW_STATE_LABELS[review.state] if review else "", r.revision, r.revision < current))
    return out, total


# --- one conversation --------------------------------------------------------------------------------------------

@dataclass
class Segment:
    text: str
    hit: bool = False
    title: str = ""


@dataclass
class MessageView:
    id: int
    sender: str
    name: str
    at: dt.datetime
    segments: list[Segment]
    hits: list[QcHit] = field(default_factory=list)
    # A generated answer (docs/llm.md): the passages it cited, as stored with the message.
    sources: list[dict[str, object]] | None = None


@dataclass
class Detail:
    conversation: Conversation
    inspection: QcInspection
    review: QcReview | None
    hits: list[QcHit]
    messages: list[MessageView]
    agent: str
    group: str
    people: dict[int, str]
    current_revision: int
    severity_labels: dict[str, str]
    final_score: int

    @property
    def review_label(self) -> str:
        return REVIEW_STATE_LABELS[self.review.state] if self.review else "未抽检"


def _segments(text: str, hits: list[QcHit]) -> list[Segment]:
    spans = sorted((h.start, h.end, h.reason) for h in hits if 0 <= h.start < h.end <= len(text))
    out: list[Segment] = []
    at = 0
    for start, end, reason in spans:
        if start < at:  # overlapping spans: extend the highlight already open
            if end > at and out:
                out[-1].text += text[at:end]
                at = end
            continue
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], True, reason))
        at = end
    if at < len(text) or not out:
        out.append(Segment(text[at:]))
    return out


LABELS = {SenderKind.visitor: "访客", SenderKind.agent: "客服", SenderKind.bot: "机器人", SenderKind.system: "系统"}


def detail(session: Session, org_id: int, conversation_id: int, *, mask_phones: bool,
           only_agent: int | None = None) -> Detail:
    case = reviews.load(session, org_id, conversation_id)
    if only_agent is not None and case.inspection.agent_id != only_agent:
        raise NotFoundError("QcInspection", conversation_id)
    conv = session.scalars(org_query(Conversation, org_id).where(Conversation.id == conversation_id)).one()
    hits = list(session.scalars(org_query(QcHit, org_id).where(QcHit.inspection_id == case.inspection.id)
                                .order_by(QcHit.id)))
    by_message: dict[int, list[QcHit]] = {}
    for h in hits:
        if h.message_id is not None:
            by_message.setdefault(h.message_id, []).append(h)
    messages = []
    for m in session.scalars(org_query(Message, org_id).where(Message.conversation_id == conversation_id,
                                                               Message.internal.is_(False)).order_by(Message.id)):
        text = m.text or ""
        own = by_message.get(m.id, [])
        if mask_phones:
            masked = contacts_service.mask_phones_in(text)
            segments = _segments(masked, own) if len(masked) == len(text) else [Segment(masked)]
        else:
            segments = _segments(text, own)
        extra = m.extra or {}
        generated = list(extra.get("sources") or []) if extra.get("kind") == "llm" else None
        messages.append(MessageView(m.id, m.sender.value, m.sender_name or LABELS[m.sender], m.created_at,
                                    segments, own, generated))
    users, groups = names(session, org_id)
    current = ruleset.current(session, org_id).revision
    if mask_phones:
        session.flush()
        session.expunge_all()  # the masked copies below must never be flushed back
        for h in hits:
            h.matched = contacts_service.mask_phones_in(h.matched)
            h.reason = contacts_service.mask_phones_in(h.reason)
    return Detail(conv, case.inspection, case.review, hits, messages, users.get(case.inspection.agent_id or 0, "—"),
                  groups.get(case.inspection.group_id or 0, "未分组"), users, current, SEVERITY_LABELS,
                  case.final_score)
