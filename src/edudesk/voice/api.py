"""REST API of the voice area behind per-org API tokens: the do-not-call list (``voice:read`` / ``voice:write``)
and the call metrics (``voice:read``). Every query is scoped by the token's org; removals are audited."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BeforeValidator, Field

from edudesk.apischema import API_ERRORS, ApiModel, ApiText, error_responses, query_text
from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.audit.service import Actor
from edudesk.context import get_ctx
from edudesk.inputs import MAX_DB_ID
from edudesk.localtime import local_today
from edudesk.voice import dnc, metrics
from edudesk.voice.models import DoNotCall

router = APIRouter(prefix="/api/v1/voice", tags=["voice"], responses=error_responses(*API_ERRORS))
Read = Annotated[TokenAuth, Depends(api_token("voice:read"))]
Write = Annotated[TokenAuth, Depends(api_token("voice:write"))]


def _iso_date(value: object) -> object:
    """Only ``YYYY-MM-DD``: pydantic's lax mode would read ``until=0`` as a Unix timestamp (1970-01-01)."""
    if value is None or isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("日期格式应为 YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date | None, BeforeValidator(_iso_date), Query(description="本地日期 YYYY-MM-DD")]


def _actor(auth: TokenAuth) -> Actor:
    return Actor(org_id=auth.org_id, label=f"api:{auth.prefix}")


class DncEntry(ApiModel):
    phone_e164: str = Field(description="E.164, e.g. +8613800138000")
    reason: str
    source: str = Field(description="manual, asked (the person asked on a call), import or api")
    created_at: dt.datetime
    created_by: str


class DncList(ApiModel):
    items: list[DncEntry]
    total: int
    page: int
    per_page: int


class DncIn(ApiModel):
    phone: Annotated[ApiText, Field(min_length=1, max_length=40, description="手机号或座机号（任意常见写法）")]
    reason: Annotated[ApiText, Field(max_length=200)] = ""


class Outcomes(ApiModel):
    connected: int
    no_answer: int
    busy: int
    wrong_number: int
    refused: int
    interested: int
    callback: int
    already_enrolled: int
    failed: int


class Figures(ApiModel):
    placed: int = Field(description="calls that left the queue (not queued, not canceled)")
    connected: int = Field(description="answered calls")
    connect_rate: float = Field(description="connected ÷ placed (0 when nothing was placed)")
    talk_seconds: float = Field(description="effective talk time, summed")
    avg_talk_seconds: float = Field(description="talk_seconds ÷ connected")
    outcomes: Outcomes
    leads_reached: int = Field(description="distinct numbers among connected calls")
    interested: int
    callbacks: int
    transfers: int = Field(description="calls an agent took over")


class CampaignFigures(Figures):
    campaign_id: int | None = Field(description="null: calls outside any campaign")
    name: str


class DayFigures(Figures):
    day: dt.date = Field(description="local day (Asia/Shanghai)")


class VoiceMetrics(ApiModel):
    since: dt.date
    until: dt.date
    campaigns: list[CampaignFigures]
    days: list[DayFigures]
    total: Figures


def _entry(row: DoNotCall) -> dict[str, Any]:
    return {
        "phone_e164": row.phone_e164,
        "reason": row.reason,
        "source": row.source,
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


@router.get("/dnc", response_model=DncList, summary="免打扰名单（新到旧）")
def list_dnc(
    request: Request,
    auth: Read,
    phone: Annotated[str, query_text(20, description="号码包含这些数字")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    with get_ctx(request).db.session() as session:
        result = dnc.search(session, auth.org_id, phone=phone, page=page, per_page=per_page)
        return {
            "items": [_entry(r) for r in result.rows],
            "total": result.total,
            "page": result.page,
            "per_page": result.per_page,
        }


@router.post("/dnc", status_code=201, response_model=DncEntry, summary="加入免打扰名单（已在名单中则原样返回）")
def add_dnc(request: Request, auth: Write, body: DncIn) -> dict[str, Any]:
    """Queued calls to the number are canceled in the same transaction."""
    with get_ctx(request).db.session() as session:
        row = dnc.add(session, _actor(auth), body.phone, reason=body.reason, source="api")
        session.commit()
        return _entry(row)


@router.delete("/dnc/{phone}", status_code=204, response_class=Response, summary="移出免打扰名单")
def remove_dnc(
    request: Request,
    auth: Write,
    phone: Annotated[
        str,
        Path(min_length=1, max_length=40, pattern=r"^\+?[0-9][0-9 -]{4,30}$", description="号码，例如 +8613800138000"),
    ],
) -> Response:
    with get_ctx(request).db.session() as session:
        dnc.remove(session, _actor(auth), phone)
        session.commit()
    return Response(status_code=204)


@router.get("/metrics", response_model=VoiceMetrics, summary="外呼数据：按任务和按天")
def get_metrics(
    request: Request,
    auth: Read,
    since: IsoDate = None,
    until: IsoDate = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
) -> dict[str, Any]:
    """Local days (Asia/Shanghai), both included; default the last 7 days. Every figure of ``campaigns`` and of
    ``days`` adds up to ``total``, except ``leads_reached`` (distinct numbers: one reached on two days counts
    once in the total) and the rates and averages (computed from the summed figures)."""
    until = until or local_today()
    since = since or until - dt.timedelta(days=6)
    with get_ctx(request).db.session() as session:
        return metrics.compute(session, auth.org_id, since, until, campaign_id=campaign_id).as_dict()
