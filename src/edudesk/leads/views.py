"""The leads page: every lead of the org with filters, phone search, bulk assignment and export; and the leads
dashboard (套电率 by day, channel and bot script, leads by grade and status, trial attendance).

Agents see the list with phone numbers masked (they see a number in full on the card of a conversation they
serve); supervisors and admins see numbers, assign owners and export, and see the dashboard. Every export is
audited. The admin page of the card's fields is ``leads.field_views`` (``fields_router``, registered by the app).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk import spreadsheets
from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, current_user, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, as_raised, submit
from edudesk.leads import report_rows, reports
from edudesk.leads import service as leads_service
from edudesk.leads.field_views import router as fields_router
from edudesk.leads.models import STATUS_LABELS
from edudesk.localtime import LOCAL_TZ, local_midnight, local_today, utc_bounds
from edudesk.privacy import service as privacy_service
from edudesk.trials import service as trials_service
from edudesk.visitors import service as visitors_service
from edudesk.web import InternalForm, InternalStatus, InternalText, error_response, page

router = APIRouter(prefix="/leads", include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
Supervisor = Annotated[User, Depends(supervisor)]
EXPORT_LIMIT = 20_000
EXPORT_COLUMNS = ("线索ID", "意向", "分数", "称呼", "手机号", "微信号", "孩子年龄", "年级", "意向科目", "城市",
                  "区县", "状态", "来源渠道", "落地页", "创建时间", "来源类型", "搜索引擎", "搜索词", "推广活动",
                  "utm_source", "utm_medium", "广告点击 ID 类型")
Param = Annotated[str, Query(max_length=200)]
DASHBOARD_DAYS = (7, 14, 30)
DEFAULT_DAYS = 14
__all__ = ["fields_router", "router"]


def _date(raw: str, *, end: bool = False) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        return None
    if end:
        day += dt.timedelta(days=1)
    return local_midnight(day)


def _filters(status: str, grade: str, channel: str, landing: str, since: str, until: str, phone: str,
             owner: str, level: str = "", source: str = "", engine: str = "", campaign: str = ""
             ) -> leads_service.LeadFilters:
    return leads_service.LeadFilters(
        status=status if status in STATUS_LABELS else "", level=level.strip().upper(), grade=grade.strip(),
        channel=channel.strip(),
        landing=landing.strip(), since=_date(since), until=_date(until, end=True), phone=phone,
        owner_id=int(owner) if owner.isdigit() else None,
        source_kind=source if source in visitors_service.SOURCE_KINDS else "",
        search_engine=engine if engine in visitors_service.ENGINE_LABELS else "", campaign=campaign.strip())


def sees_phones(user: User) -> bool:
    return user.role in (Role.admin, Role.supervisor)


@router.get("", response_class=HTMLResponse)
def leads_page(request: Request, user: CurrentUser, status: Param = "", grade: Param = "", channel: Param = "",
               landing: Param = "", since: Param = "", until: Param = "", phone: Param = "", owner: Param = "",
               level: Param = "", source: Param = "", engine: Param = "", campaign: Param = "",
               page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
               notice: InternalText = None) -> Response:
    filters = _filters(status, grade, channel, landing, since, until, phone, owner, level, source, engine, campaign)
    with get_ctx(request).db.session() as session:
        result = leads_service.search(session, user.org_id, filters, show_phone=sees_phones(user), page=page_no)
        staff = auth_service.list_users(session, user.org_id)
        due = leads_service.due_reminders(session, user.org_id, user_id=user.id)
        if sees_phones(user):  # one audit entry per page listing whose full numbers were on it
            privacy_service.phone_seen(request, session, actor_of(request, user), "leads.list",
                                       [r.lead.contact_id for r in result.rows if r.phone])
            session.commit()
    query = {"status": status, "level": level, "grade": grade, "channel": channel, "landing": landing,
             "since": since, "until": until, "phone": phone, "owner": owner, "source": source, "engine": engine,
             "campaign": campaign}
    kept = {k: v for k, v in query.items() if v}

    def page_url(n: int) -> str:
        return "/leads?" + urlencode({**kept, "page": n})

    owners = {u.id: u.display_name for u in staff}
    return page(request, "leads/list.html", user=user, result=result, q=query, statuses=STATUS_LABELS,
                grades=leads_service.GRADES, staff=staff, owners=owners, page_url=page_url,
                export_query=urlencode(kept), can_manage=sees_phones(user), notice=notice, due=due,
                source_kinds=visitors_service.SOURCE_KIND_LABELS, engines=visitors_service.ENGINE_LABELS)


@router.post("/assign", response_class=HTMLResponse)
def assign(request: Request, user: Supervisor, lead_ids: Annotated[list[int], Form(max_length=500)] = (),  # type: ignore[assignment]
           owner_id: Annotated[str, Form(max_length=20)] = "", csrf_token: Annotated[str, Form(max_length=100)] = ""
           ) -> Response:
    def write(session: Session) -> int:
        owner = auth_service.get_user(session, user.org_id, int(owner_id)) if owner_id.isdigit() else None
        return leads_service.assign(session, actor_of(request, user), list(lead_ids)[:500],
                                    owner.id if owner else None)

    count = submit(request, csrf_token, write, status=as_raised)
    if isinstance(count, Rejected):
        return error_response(count.status, count.code, count.message, count.field)
    return leads_page(request, user, notice=f"已分配 {count} 条线索")


@router.get("/export")
def export(request: Request, user: Supervisor, fmt: Annotated[str, Query(alias="format", max_length=10)] = "csv",
           status: Param = "", grade: Param = "", channel: Param = "", landing: Param = "", since: Param = "",
           until: Param = "", phone: Param = "", owner: Param = "", level: Param = "", source: Param = "",
           engine: Param = "", campaign: Param = "") -> Response:
    if fmt not in ("csv", "xlsx"):
        return error_response(422, "bad_format", "导出格式只能是 csv 或 xlsx", "format")
    filters = _filters(status, grade, channel, landing, since, until, phone, owner, level, source, engine, campaign)
    with get_ctx(request).db.session() as session:
        result = leads_service.search(session, user.org_id, filters, show_phone=True, per_page=EXPORT_LIMIT)
        rows = [_export_row(r) for r in result.rows]
        # The entry lists whose numbers left in the file: "who exported 张's number" must be answerable.
        audit_service.record(session, actor_of(request, user), "leads.export", "lead", None, format=fmt,
                             rows=len(rows), filters={k: str(v) for k, v in vars(filters).items() if v},
                             contact_ids=[r.lead.contact_id for r in result.rows])
        session.commit()
    data = (spreadsheets.to_csv(EXPORT_COLUMNS, rows) if fmt == "csv"
            else spreadsheets.to_xlsx(EXPORT_COLUMNS, rows, "leads"))
    media = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"leads-{dt.datetime.now(LOCAL_TZ).strftime('%Y%m%d')}.{fmt}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                     "Cache-Control": "no-store"})


def _export_row(row: leads_service.LeadRow) -> list[Any]:
    v = row.values
    return [row.lead.id, row.lead.level, row.lead.score, v.get("name") or row.contact_name, v.get("phone", ""),
            v.get("wechat", ""),
            v.get("child_age", ""), v.get("grade", ""), v.get("subject", ""), v.get("city", ""),
            v.get("district", ""), STATUS_LABELS.get(row.lead.status.value, row.lead.status.value),
            row.lead.source_channel, row.lead.landing_page or "",
            row.lead.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"), *_source_columns(row.lead.campaign,
                                                                                                    row.lead.attribution)]


def _source_columns(campaign: str | None, attribution: dict[str, Any] | None) -> list[str]:
    """来源类型, 搜索引擎, 搜索词, 推广活动, utm_source, utm_medium, click id kind: the lead's first touch."""
    a = attribution or {}
    kind, engine = str(a.get("source_kind", "")), str(a.get("search_engine", ""))
    return [visitors_service.SOURCE_KIND_LABELS.get(kind, kind), visitors_service.ENGINE_LABELS.get(engine, engine),
            str(a.get("search_keyword", "")), campaign or "", str(a.get("utm_source", "")),
            str(a.get("utm_medium", "")), str(a.get("click_id_kind", ""))]


@router.get("/grading", response_class=HTMLResponse)
def grading_page(request: Request, user: Supervisor, notice: InternalText = None, error: InternalText = None,
                 form: InternalForm = None, status_code: InternalStatus = 200) -> Response:
    with get_ctx(request).db.session() as session:
        rules, a, b = leads_service.grading_rules(session, user.org_id)
        session.commit()
    current = form or {"rules": "\n".join(f"{r.signal}|{r.points}|{r.label}" for r in rules),
                       "a_threshold": str(a), "b_threshold": str(b)}
    return page(request, "leads/grading.html", status_code=status_code, user=user, form=current, notice=notice,
                error=error, signals=leads_service.KNOWN_SIGNALS)


@router.post("/grading", response_class=HTMLResponse)
def save_grading(request: Request, user: Supervisor, rules: Annotated[str, Form(max_length=20_000)] = "",
                 a_threshold: Annotated[str, Form(max_length=6)] = "",
                 b_threshold: Annotated[str, Form(max_length=6)] = "",
                 csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    form = {"rules": rules, "a_threshold": a_threshold, "b_threshold": b_threshold}

    def write(session: Session) -> None:
        if not (a_threshold.strip().isdigit() and b_threshold.strip().isdigit()):
            raise leads_service.LeadError("bad_threshold", "分数线须为整数")
        leads_service.save_grading(session, actor_of(request, user), rules, int(a_threshold), int(b_threshold))

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return grading_page(request, user, error=done.message, form=form, status_code=done.status)
    return grading_page(request, user, notice="评分规则已保存，线索会在下一次有新信息时重新评分")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Supervisor, days: Annotated[str, Query(max_length=4)] = "") -> Response:
    """The last 7, 14 or 30 days (Asia/Shanghai) up to today."""
    span = int(days) if days.isdigit() and int(days) in DASHBOARD_DAYS else DEFAULT_DAYS
    end = local_today()
    start = end - dt.timedelta(days=span - 1)
    since, until = utc_bounds(start, end)
    with get_ctx(request).db.session() as session:
        capture = reports.breakdown(
            session, user.org_id, start, end,
            extra_channels=report_rows.extra_channels(session, user.org_id, start, end),
            source_of=lambda ids: visitors_service.source_kinds_of_conversations(session, user.org_id, ids),
            no_source=visitors_service.NO_TRAIL)
        counts = reports.lead_counts(session, user.org_id, start, end)
        trials = trials_service.booking_summary(session, user.org_id, since, until)
    return page(request, "leads/dashboard.html", user=user, days=span, choices=DASHBOARD_DAYS, start=start, end=end,
                capture=capture, counts=counts, trials=trials, no_flow=reports.NO_FLOW,
                source_kinds=visitors_service.SOURCE_KIND_LABELS, no_trail=visitors_service.NO_TRAIL)
