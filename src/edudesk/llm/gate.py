"""Whether an org may switch grounded answers on: only after the grounded path was measured on its own labelled
questions (``llm_evaluations``, written by ``edudesk eval faq --llm``) and the wrong-answer rate stayed low.

The evaluation side (item 6 of issue 18) owns the measurement and may tighten this check; the settings page only
asks ``grounded_gate`` and shows its reason beside the switch."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.llm.models import LlmEvaluation

# Issue 18: the grounded path may be enabled only when its wrong-answer rate on the org's labelled questions
# stays at or below 2 %.
MAX_WRONG_RATE = 0.02
NO_EVALUATION = "请先运行问答评估"


def latest_evaluation(session: Session, org_id: int) -> LlmEvaluation | None:
    return session.scalars(
        select(LlmEvaluation)
        .where(LlmEvaluation.org_id == org_id)
        .order_by(LlmEvaluation.created_at.desc(), LlmEvaluation.id.desc())
        .limit(1)
    ).first()


def grounded_gate(session: Session, org_id: int) -> tuple[bool, str]:
    """(allowed, why): the reason is shown to the admin beside the switch, Chinese first."""
    latest = latest_evaluation(session, org_id)
    if latest is None or latest.queries <= 0:
        return False, NO_EVALUATION
    if latest.wrong_rate > MAX_WRONG_RATE:
        return False, (
            f"最近一次问答评估的答错率为 {latest.wrong_rate:.1%}，高于 {MAX_WRONG_RATE:.0%}，"
            "请先补充资料或调整后重新评估"
        )
    return True, f"最近一次问答评估：{latest.queries} 个问题，答错率 {latest.wrong_rate:.1%}"
