"""CSAT settings (the org's question and scale) and the scoring rules every report shares.

Scores are 1..scale: 2 = 不满意/满意, 3 = 不满意/一般/满意, 5 = stars. To compare ratings given on different scales
(an org may change its scale; each conversation keeps the one it was rated on), a score is normalised to
(score − 1) / (scale − 1), so 0 is the worst and 1 the best answer. "Satisfied" (top box) is the best answer, or
4–5 on the five-point scale; "low" is below the middle (1 on the two- and three-point scales, 1–2 of 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.errors import DomainError
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org

SCALES = (2, 3, 5)
DEFAULT_QUESTION = "您对本次服务满意吗？"
DEFAULT_SCALE = 5
# Conversations rated before the scale was configurable were rated on five stars.
LEGACY_SCALE = 5
MAX_QUESTION = 200
SCALE_LABELS = {2: "两级：满意 / 不满意", 3: "三级：不满意 / 一般 / 满意", 5: "五星"}
# What each score means on each scale: the widget's buttons and the reports' labels.
SCORE_LABELS = {
    2: ("不满意", "满意"),
    3: ("不满意", "一般", "满意"),
    5: ("很不满意", "不满意", "一般", "满意", "非常满意"),
}


class CsatError(DomainError):
    pass


@dataclass(frozen=True)
class CsatSettings:
    question: str
    scale: int

    def as_widget(self) -> dict[str, Any]:
        """The ``csat`` object of the widget protocol (docs/protocol.md)."""
        return {"question": self.question, "scale": self.scale}


def settings_of(org: Org) -> CsatSettings:
    scale = org.csat_scale if org.csat_scale in SCALES else DEFAULT_SCALE
    return CsatSettings(question=org.csat_question or DEFAULT_QUESTION, scale=scale)


def get_settings(session: Session, org_id: int) -> CsatSettings:
    return settings_of(orgs_service.get(session, org_id))


def widget_config(org: Org) -> dict[str, Any]:
    return settings_of(org).as_widget()


def save_settings(session: Session, actor: audit_service.Actor, *, question: str, scale: int) -> CsatSettings:
    text = " ".join((question or "").split())
    if not text:
        raise CsatError("empty_question", "请填写满意度问题", "question")
    if len(text) > MAX_QUESTION:
        raise CsatError("too_long", f"满意度问题不能超过 {MAX_QUESTION} 个字（现在 {len(text)} 个字）", "question")
    if isinstance(scale, bool) or scale not in SCALES:
        raise CsatError("bad_scale", "评分方式只能是两级、三级或五星", "scale")
    org = orgs_service.get(session, actor.org_id)
    before = {"question": org.csat_question, "scale": org.csat_scale}
    org.csat_question, org.csat_scale = text, scale
    audit_service.record(session, actor, "csat.settings", "org", org.id, before=before,
                         after={"question": text, "scale": scale})
    return settings_of(org)


def scale_or_legacy(scale: int | None) -> int:
    return scale if scale in SCALES else LEGACY_SCALE


def normalised(score: int, scale: int | None) -> float:
    """0.0 (worst) … 1.0 (best), comparable across scales."""
    s = scale_or_legacy(scale)
    return (score - 1) / (s - 1)


def is_satisfied(score: int, scale: int | None) -> bool:
    s = scale_or_legacy(scale)
    return score == s or (s == 5 and score >= 4)


def is_low(score: int, scale: int | None) -> bool:
    return normalised(score, scale) < 0.5


def score_label(score: int, scale: int | None) -> str:
    labels = SCORE_LABELS[scale_or_legacy(scale)]
    return labels[score - 1] if 1 <= score <= len(labels) else str(score)
