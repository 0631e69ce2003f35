"""Whether an org may switch grounded answers on: only after the grounded path was measured on its own labelled
questions (``llm_evaluations``, written by the ``llm.evaluate`` job of ``llm.assist.gate``) and the wrong-answer
rate stayed low.

The settings page only asks ``grounded_gate`` and shows its reason beside the switch. The rules (issue 18, item 6;
docs/llm.md, "Evaluation and the gate"): an evaluation exists; it scored at least ``MIN_QUESTIONS`` labelled
questions (with fewer, a single wrong answer is already 2 %); the endpoint answered at least 90 % of the questions
sent to it (a run against a dead endpoint measured nothing); and its wrong rate — every wrong answer a parent
would read, over all labelled questions — is at most 2 %."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.llm.models import LlmEvaluation

# Issue 18: the grounded path may be enabled only when its wrong-answer rate on the org's labelled questions
# stays at or below 2 %.
MAX_WRONG_RATE = 0.02
MIN_QUESTIONS = 50
# A run where more than this share of the calls got no answer (down, slow, over budget) is incomplete.
MAX_UNAVAILABLE = 0.1
NO_EVALUATION = "请先运行问答评估"


def latest_evaluation(session: Session, org_id: int) -> LlmEvaluation | None:
    return session.scalars(
        select(LlmEvaluation)
        .where(LlmEvaluation.org_id == org_id)
        .order_by(LlmEvaluation.created_at.desc(), LlmEvaluation.id.desc())
        .limit(1)
    ).first()


def decision(latest: LlmEvaluation | None) -> tuple[bool, str]:
    """(allowed, why) from an evaluation row (module docstring)."""
    if latest is None or latest.queries <= 0:
        return False, NO_EVALUATION
    if latest.queries < MIN_QUESTIONS:
        return False, (
            f"最近一次问答评估只有 {latest.queries} 个已标注的问题，至少需要 {MIN_QUESTIONS} 个"
            "（在“未解决问题”里处理更多问题，或给词条补充相似问后重新评估）"
        )
    if not (latest.report or {}).get("complete", True):
        return False, (
            "最近一次问答评估中大模型接口多次没有回答（失败、超时或额度用完），结果不完整，请检查接口后重新评估"
        )
    if latest.wrong_rate > MAX_WRONG_RATE:
        return False, (
            f"最近一次问答评估的答错率为 {_percent(latest.wrong_rate)}，高于 {_percent(MAX_WRONG_RATE)}，"
            "请先补充资料或调整后重新评估"
        )
    return True, f"最近一次问答评估：{latest.queries} 个问题，答错率 {_percent(latest.wrong_rate)}"


def grounded_gate(session: Session, org_id: int) -> tuple[bool, str]:
    """(allowed, why): the reason is shown to the admin beside the switch, Chinese first."""
    return decision(latest_evaluation(session, org_id))


def _percent(value: float) -> str:
    """A full-width ％: these reasons are shown through the page's gettext, where "%" is a format character."""
    return f"{value * 100:.1f}％"
