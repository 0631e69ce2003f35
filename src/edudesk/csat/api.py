"""``GET /api/v1/reports/csat``: the CSAT report as JSON for integrators, behind an API token.

There is no reports scope yet; the other report of the API (``/api/v1/reports/capture-rate``) is read with
``leads:read``, and so is this one (its low-score list carries visitors' comments, as leads carry their details).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from edudesk.apischema import API_ERRORS, ApiModel, error_responses
from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.context import get_ctx
from edudesk.csat import reports

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=error_responses(*API_ERRORS))
Read = Annotated[TokenAuth, Depends(api_token("leads:read"))]
Share = Annotated[float, Field(ge=0, le=1)]


class CsatRowOut(ApiModel):
    id: int | None = Field(description="the agent's or the group's id; null: no agent / no group, or the total")
    label: str
    resolved: int
    rated: int
    response_rate: Share
    average: Share | None
    satisfied_share: Share | None


class LowScoreOut(ApiModel):
    conversation_id: int
    rated_at: str | None
    agent: str
    group: str
    score: int
    scale: int
    comment: str


class CsatReportOut(ApiModel):
    since: dt.date
    until: dt.date
    by_agent: list[CsatRowOut]
    by_group: list[CsatRowOut]
    total: CsatRowOut
    low_scores: list[LowScoreOut]


@router.get("/reports/csat", response_model=CsatReportOut,
            summary="满意度：按客服和技能组的评价数、参评率、平均分、满意占比")
def csat_report(request: Request, auth: Read, since: dt.date, until: dt.date) -> dict[str, Any]:
    """Conversations resolved from ``since`` to ``until`` (Asia/Shanghai days, both included, at most 366 days).
    Rates and averages are fractions in 0..1 (``average`` of (score − 1) / (scale − 1); null when nothing was
    rated); ``low_scores`` lists the latest ratings below the middle of their scale, newest first."""
    with get_ctx(request).db.session() as session:
        return reports.report(session, auth.org_id, since, until).as_dict()
