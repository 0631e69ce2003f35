"""``GET /api/v1/reports/csat``: the CSAT report as JSON for integrators, behind an API token.

There is no reports scope yet; the other report of the API (``/api/v1/reports/capture-rate``) is read with
``leads:read``, and so is this one (its low-score list carries visitors' comments, as leads carry their details).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.context import get_ctx
from edudesk.csat import reports

router = APIRouter(prefix="/api/v1", tags=["reports"])
Read = Annotated[TokenAuth, Depends(api_token("leads:read"))]


@router.get("/reports/csat", summary="满意度：按客服和技能组的评价数、参评率、平均分、满意占比")
def csat_report(request: Request, auth: Read, since: dt.date, until: dt.date) -> dict[str, Any]:
    """Conversations resolved from ``since`` to ``until`` (Asia/Shanghai days, both included, at most 366 days).
    Rates and averages are fractions in 0..1 (``average`` of (score − 1) / (scale − 1); null when nothing was
    rated); ``low_scores`` lists the latest ratings below the middle of their scale, newest first."""
    with get_ctx(request).db.session() as session:
        return reports.report(session, auth.org_id, since, until).as_dict()
