"""REST API for leads (``/api/v1/leads``) behind per-org API tokens: list, get, create and move along the
pipeline; and the lead-capture rate (套电率). Every query is scoped by the token's org; another org's lead is 404."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from edudesk.apischema import API_ERRORS, error_responses, query_text
from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.inputs import PathId
from edudesk.leads import report_rows, reports
from edudesk.leads import service as leads_service
from edudesk.leads.models import LeadStatus, ValueSource
from edudesk.leads.schemas import CaptureReport, LeadIn, LeadOut, LeadPage, StatusIn
from edudesk.nlp.extract import extract
from edudesk.privacy import service as privacy_service

router = APIRouter(prefix="/api/v1", tags=["leads"], responses=error_responses(*API_ERRORS))
Read = Annotated[TokenAuth, Depends(api_token("leads:read"))]
Write = Annotated[TokenAuth, Depends(api_token("leads:write"))]
API_CHANNEL = "api"
SourceKind = Literal["ad", "campaign", "search", "social", "referral", "direct"]  # docs/visitors.md


def _actor(auth: TokenAuth) -> Actor:
    return Actor(org_id=auth.org_id, label=f"api:{auth.prefix}")


def _phones_seen(request: Request, session: Any, auth: TokenAuth, items: list[dict[str, Any]]) -> None:
    """Every response carrying full numbers is audited (one entry per response, listing the contacts)."""
    ids = [i["contact_id"] for i in items if i.get("phone_e164") or (i.get("fields") or {}).get("phone")]
    privacy_service.phone_seen(request, session, _actor(auth), "api.leads", ids)


@router.get("/leads", response_model=LeadPage, summary="线索列表（新到旧）")
def list_leads(request: Request, auth: Read, status: Annotated[LeadStatus | None, Query()] = None,
               grade: Annotated[str, query_text(20)] = "", phone: Annotated[str, query_text(20)] = "",
               source_kind: Annotated[SourceKind | None, Query(description="the first touch's kind")] = None,
               campaign: Annotated[str, query_text(100, description="the campaign contains")] = "",
               page: Annotated[int, Query(ge=1, le=100_000)] = 1,
               per_page: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    filters = leads_service.LeadFilters(status=status.value if status else "", grade=grade,
                                        phone=phone, source_kind=source_kind or "", campaign=campaign)
    with get_ctx(request).db.session() as session:
        result = leads_service.search(session, auth.org_id, filters, show_phone=True, page=page, per_page=per_page)
        items = [leads_service.lead_payload(session, row.lead) for row in result.rows]
        _phones_seen(request, session, auth, items)
        session.commit()
    return {"items": items, "total": result.total, "page": result.page, "per_page": result.per_page}


@router.get("/leads/{lead_id}", response_model=LeadOut, summary="一条线索")
def get_lead(request: Request, auth: Read, lead_id: PathId) -> dict[str, Any]:
    with get_ctx(request).db.session() as session:
        payload = leads_service.lead_payload(session, leads_service.get_lead(session, auth.org_id, lead_id))
        _phones_seen(request, session, auth, [payload])
        session.commit()
    return payload


@router.post("/leads", status_code=201, response_model=LeadOut, summary="新建或更新线索（按 external_id）")
def create_lead(request: Request, auth: Write, body: LeadIn) -> dict[str, Any]:
    with get_ctx(request).db.session() as session:
        contact = contacts_service.find_or_create(session, auth.org_id, API_CHANNEL, body.external_id,
                                                  page_url=body.landing_page)
        known = {d.key for d in leads_service.field_defs(session, auth.org_id)}
        unknown = sorted(set(body.fields) - known)
        if unknown:
            raise leads_service.LeadError("unknown_field", f"未知字段：{', '.join(unknown)}", "fields")
        fields = dict(body.fields)
        e164 = None
        if fields.get("phone"):
            found = extract(str(fields["phone"]))
            if found.phone is None:
                raise leads_service.LeadError("bad_phone", "手机号格式不正确", "fields.phone")
            fields["phone"], e164 = found.phone, found.phone_e164
        wanted = [(k, v, "") for k, v in fields.items() if v not in ("", [])]
        result = leads_service.record_values(session, contact, wanted, source=ValueSource.agent, channel=API_CHANNEL,
                                             conversation_id=None, message_id=None, page_url=body.landing_page,
                                             phone_e164=e164)
        lead = result.lead or leads_service.lead_for_contact(session, auth.org_id, contact.id)
        if lead is None:
            raise leads_service.LeadError("empty", "至少提供一个字段", "fields")
        payload = leads_service.lead_payload(session, lead)
        _phones_seen(request, session, auth, [payload])
        session.commit()
    return payload


@router.post("/leads/{lead_id}/status", response_model=LeadOut, summary="更新线索状态")
def update_status(request: Request, auth: Write, lead_id: PathId, body: StatusIn) -> dict[str, Any]:
    with get_ctx(request).db.session() as session:
        lead = leads_service.set_status(session, _actor(auth), lead_id, body.status.value)
        payload = leads_service.lead_payload(session, lead)
        _phones_seen(request, session, auth, [payload])
        session.commit()
    return payload


@router.get("/reports/capture-rate", response_model=CaptureReport, response_model_exclude_unset=True,
            summary="套电率：留下联系方式的有效对话 ÷ 有效对话")
def capture_rate(request: Request, auth: Read, since: dt.date, until: dt.date,
                 by: Annotated[str, Query(pattern="^(day|channel|flow)$")] = "day") -> dict[str, Any]:
    """Rows per day (Asia/Shanghai), channel or bot script (``by=flow``: a conversation counts for every script
    that ran in it, so rows may add up to more than ``total``; rows carry the script's name as ``label``, and
    conversations without a script are the row ``无话术``). ``by=channel`` adds the row ``form`` when the org has a
    landing-page form: views of its forms and their submissions (not conversations, so not in ``total``).
    ``total`` counts each conversation once."""
    if (until - since).days > 366:
        raise leads_service.LeadError("range_too_long", "时间范围不能超过一年", "until")
    with get_ctx(request).db.session() as session:
        extra = report_rows.extra_channels(session, auth.org_id, since, until) if by == "channel" else []
        rows, total = reports.capture_report(session, auth.org_id, since, until, by=by, extra_channels=extra)
    return {"rows": [r.as_dict() for r in rows], "total": total.as_dict()}
