"""The review workflow: a reviewer's score and comment, the agent's one appeal, a supervisor's decision.

States (``ReviewState``)::

    (sampled) pending ──review──► reviewed ──appeal──► appealed ──decide──► upheld | overturned
    (no case)  ───────review (manual pick)──► reviewed
    (no case)  ───────appeal (against the automatic result)──► appealed

- reviewers are supervisors and admins; a case may be re-scored while it is ``reviewed`` (before any appeal);
- the agent whose conversation it is may appeal once, with a reason, against the reviewer's score or, when nobody
  reviewed it, against the automatic result; not while a sampled case waits for its review;
- a supervisor or admin decides: uphold (the score stands) or overturn (with the score it should have been);
  nobody decides on their own appeal, and the reviewer does not judge an appeal against their own review unless
  they are an admin (a small school may have one supervisor only: the admin is the second pair of eyes);
- every step writes an audit entry. The *final* score is the decision's, else the reviewer's, else the automatic one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import Role, User
from edudesk.db import NotFoundError, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.qc.models import QcInspection, QcReview, ReviewState

MAX_TEXT = 1000


class ReviewError(DomainError):
    status_code = 409


class ReviewInvalid(DomainError):
    status_code = 422


class ReviewForbidden(DomainError):
    status_code = 403


@dataclass(frozen=True)
class Case:
    inspection: QcInspection
    review: QcReview | None

    @property
    def final_score(self) -> int:
        return final_score(self.inspection, self.review)


def final_score(inspection: QcInspection, review: QcReview | None) -> int:
    if review is not None:
        if review.state == ReviewState.overturned and review.decision_score is not None:
            return review.decision_score
        if review.review_score is not None and review.state != ReviewState.pending:
            return review.review_score
    return inspection.score


def _actor(user: User) -> audit_service.Actor:
    return audit_service.Actor(org_id=user.org_id, user_id=user.id, label=user.username)


def load(session: Session, org_id: int, conversation_id: int, *, for_update: bool = False) -> Case:
    stmt = org_query(QcInspection, org_id).where(QcInspection.conversation_id == conversation_id)
    inspection = session.scalars(stmt).first()
    if inspection is None:
        raise NotFoundError("QcInspection", conversation_id)
    review_stmt = org_query(QcReview, org_id).where(QcReview.conversation_id == conversation_id)
    if for_update:
        review_stmt = review_stmt.with_for_update()
    return Case(inspection, session.scalars(review_stmt).first())


def _score(raw: str | int, field: str = "score") -> int:
    text = str(raw).strip()
    if not text.isdigit() or not 0 <= int(text) <= 100:
        raise ReviewInvalid("bad_score", "分数须为 0–100 的整数", field)
    return int(text)


def _text(raw: str, field: str, *, required: bool, what: str) -> str:
    text = (raw or "").strip()
    if required and len(text) < 2:
        raise ReviewInvalid("required", f"请填写{what}（至少 2 个字）", field)
    if len(text) > MAX_TEXT:
        raise ReviewInvalid("too_long", f"{what}不能超过 {MAX_TEXT} 个字", field)
    return text


def _staff(user: User) -> None:
    if user.role not in (Role.admin, Role.supervisor):
        raise ReviewForbidden("forbidden", "只有主管和管理员可以复核")


def review(session: Session, user: User, conversation_id: int, score: str | int, comment: str) -> QcReview:
    _staff(user)
    value = _score(score)
    text = _text(comment, "comment", required=value < 100, what="复核意见")
    case = load(session, user.org_id, conversation_id, for_update=True)
    row = case.review
    if row is None:
        row = QcReview(org_id=user.org_id, conversation_id=conversation_id, inspection_id=case.inspection.id,
                       agent_id=case.inspection.agent_id, reason="manual", state=ReviewState.pending)
        session.add(row)
    elif row.state not in (ReviewState.pending, ReviewState.reviewed):
        raise ReviewError("not_reviewable", "该会话已进入申诉流程，不能再修改复核结果", "score")
    row.state = ReviewState.reviewed
    row.reviewer_id, row.review_score, row.review_comment, row.reviewed_at = user.id, value, text, utcnow()
    session.flush()
    audit_service.record(session, _actor(user), "qc.review", "conversation", conversation_id, score=value,
                         automatic=case.inspection.score)
    return row


def appeal(session: Session, user: User, conversation_id: int, reason: str) -> QcReview:
    text = _text(reason, "reason", required=True, what="申诉理由")
    case = load(session, user.org_id, conversation_id, for_update=True)
    if case.inspection.agent_id != user.id:
        # Another agent's result is not theirs to see, let alone to appeal.
        raise NotFoundError("QcInspection", conversation_id)
    row = case.review
    if row is not None and (row.appealed_at is not None or row.state not in (ReviewState.reviewed,)):
        if row.appealed_at is not None:
            raise ReviewError("already_appealed", "每个质检结果只能申诉一次", "reason")
        raise ReviewError("not_appealable", "该会话正在等待复核，复核后才能申诉", "reason")
    if row is None:
        row = QcReview(org_id=user.org_id, conversation_id=conversation_id, inspection_id=case.inspection.id,
                       agent_id=user.id, reason="appeal")
        session.add(row)
    row.state = ReviewState.appealed
    row.appeal_reason, row.appealed_at = text, utcnow()
    session.flush()
    audit_service.record(session, _actor(user), "qc.appeal", "conversation", conversation_id,
                         score=final_score(case.inspection, None if row.review_score is None else row))
    return row


def decide(session: Session, user: User, conversation_id: int, outcome: str, score: str | int,
           comment: str) -> QcReview:
    _staff(user)
    if outcome not in ("uphold", "overturn"):
        raise ReviewInvalid("bad_outcome", "请选择维持或改判", "outcome")
    text = _text(comment, "decision_comment", required=True, what="处理意见")
    value = _score(score, "decision_score") if outcome == "overturn" else None
    case = load(session, user.org_id, conversation_id, for_update=True)
    row = case.review
    if row is None or row.state != ReviewState.appealed:
        raise ReviewError("not_appealed", "该会话没有待处理的申诉", "outcome")
    if row.agent_id == user.id:
        raise ReviewForbidden("own_appeal", "不能处理自己的申诉", "outcome")
    if row.reviewer_id == user.id and user.role != Role.admin:
        raise ReviewForbidden("own_review", "复核人不能处理针对自己复核结果的申诉，请由其他主管或管理员处理", "outcome")
    before = final_score(case.inspection, row)
    row.state = ReviewState.overturned if outcome == "overturn" else ReviewState.upheld
    row.decided_by, row.decision_score, row.decision_comment, row.decided_at = user.id, value, text, utcnow()
    session.flush()
    audit_service.record(session, _actor(user), "qc.decide", "conversation", conversation_id, outcome=outcome,
                         before=before, after=final_score(case.inspection, row))
    return row
