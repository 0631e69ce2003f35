"""Drill-down pages: the conversations, leads, tickets or agents behind one figure of a dashboard, page by page,
each linking to the record itself, with an export of the whole list (audited as ``analytics.export``).

The URL carries the drill (``kind`` and its parameters), the dashboard's filters and the page:
``/admin/dashboards/drill?kind=conversations&from=data&hour=20&start=…&end=…&page=2``. Phone numbers in these
lists are always masked: a list is for seeing what is behind a number; the full number is on the record's own page,
where seeing it is audited (privacy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import get_args
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.analytics import export, filterbar, present
from edudesk.analytics.common import TITLES, Supervisor, channel_labels, query_dict, translator, unavailable
from edudesk.analytics.shapes import DASHBOARD_KEYS, Drill, DrillKind, DrillPage, FilterError, Filters, Row
from edudesk.analytics.source import DashboardSource, SourceMissing, source_of
from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.localtime import local_today
from edudesk.web import error_response, page

router = APIRouter(prefix="/admin/dashboards", include_in_schema=False)
PER_PAGE = 50
MAX_PAGE = 100_000
MAX_PARAMS = 8
MAX_VALUE = 200  # an unanswered question's normalised text is up to 200 characters
EXPORT_LIMIT = 20_000
EXPORT_BATCH = 1_000
DRILL_KINDS: tuple[str, ...] = get_args(DrillKind)
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class DrillRequest:
    drill: Drill
    origin: str | None
    page: int


def parse_drill(params: dict[str, str]) -> DrillRequest:
    """The drill part of the query (``kind``, ``from``, ``page`` and the drill's own parameters: every name that
    is not a filter's); raises FilterError (field ``form`` for what is not a field of the bar)."""
    kind = params.get("kind", "")
    if kind not in DRILL_KINDS:
        raise FilterError("form", "明细类型不正确")
    raw_page = params.get("page", "1").strip() or "1"
    if not raw_page.isdigit() or not 1 <= int(raw_page[:7]) <= MAX_PAGE:
        raise FilterError("form", "页码不正确")
    origin = params.get("from") or None
    if origin is not None and origin not in DASHBOARD_KEYS:
        origin = None
    own = {k: v for k, v in params.items() if k not in filterbar.FILTER_NAMES and k not in filterbar.RESERVED}
    if len(own) > MAX_PARAMS:
        raise FilterError("form", "明细参数过多")
    for name, value in own.items():
        if not PARAM_NAME.fullmatch(name) or len(value) > MAX_VALUE or not value.isprintable():
            raise FilterError("form", "明细参数不正确")
    # ``only_group_id=none`` is the drill's own ``group_id`` ("no group"), not the bar's (filterbar.drill_url).
    named = {(k[len(filterbar.ONLY):] if k.startswith(filterbar.ONLY) and k[len(filterbar.ONLY):]
              in filterbar.FILTER_NAMES else k): v for k, v in own.items()}
    return DrillRequest(Drill(kind, named), origin, int(raw_page))  # type: ignore[arg-type]  # checked above


@dataclass(frozen=True)
class Loaded:
    choices: filterbar.Choices
    filters: Filters | None
    request: DrillRequest | None
    result: DrillPage | None
    error: FilterError | None


def _load(request: Request, user: User, source: DashboardSource, params: dict[str, str], *, page_no: int | None = None,
          per_page: int = PER_PAGE) -> Loaded:
    with get_ctx(request).db.session() as session:
        choices = filterbar.choices_for(session, user.org_id, channel_labels(request))
        try:
            wanted = parse_drill(params)
            filters = choices.checked(params, local_today())
            result = source.drill(session, user.org_id, wanted.drill, filters, page_no or wanted.page, per_page,
                                  mask_phones=True)
        except FilterError as exc:
            return Loaded(choices, None, None, None, exc)
    return Loaded(choices, filters, wanted, result, None)


def _drill_query(wanted: DrillRequest, filters: Filters) -> dict[str, str]:
    """The page's query again (pages, exports, the bar's hidden fields): ``drill_url`` writes it."""
    url = filterbar.drill_url(wanted.drill, filters, wanted.origin)
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@router.get("/drill", response_class=HTMLResponse)
def drill_page(request: Request, user: Supervisor) -> Response:
    params = query_dict(request)
    try:
        source = source_of(request)
    except SourceMissing:
        return unavailable(request, user)
    loaded = _load(request, user, source, params)
    if loaded.error is not None or loaded.result is None or loaded.request is None or loaded.filters is None:
        error = loaded.error or FilterError("form", "明细类型不正确")
        hidden = {k: v for k, v in params.items() if k not in filterbar.FILTER_NAMES and k != "page"}
        return page(request, "analytics/drill.html", status_code=400, user=user, titles=TITLES, result=None,
                    table=None, hidden=hidden, origin=None, pages=None, exports={}, params={},
                    **filterbar.bar(loaded.choices, params, None, {error.field: error.message}, local_today()))
    wanted, filters, result = loaded.request, loaded.filters, loaded.result
    query = _drill_query(wanted, filters)
    hidden = {k: v for k, v in query.items() if k not in filterbar.FILTER_NAMES}
    last = max(1, -(-result.total // max(result.per_page, 1)))
    pages = {"current": result.page, "last": last, "total": result.total,
             "prev": "?" + urlencode({**query, "page": result.page - 1}) if result.page > 1 else None,
             "next": "?" + urlencode({**query, "page": result.page + 1}) if result.page < last else None}
    exports = {fmt: "/admin/dashboards/drill/export?" + urlencode({**query, "format": fmt}) for fmt in export.FORMATS}
    back = f"/admin/dashboards/{wanted.origin}?" + urlencode(filters.to_query()) if wanted.origin else None
    return page(request, "analytics/drill.html", user=user, titles=TITLES, result=result,
                table=present.drill_table(result, translator(request)), hidden=hidden, origin=wanted.origin,
                back=back, pages=pages, exports=exports, params=dict(wanted.drill.params),
                **filterbar.bar(loaded.choices, params, filters, {}, local_today()))


@router.get("/drill/export")
def drill_export(request: Request, user: Supervisor) -> Response:
    params = query_dict(request)
    fmt = params.get("format", "csv")
    if fmt not in export.FORMATS:
        return error_response(422, "bad_format", "导出格式只能是 csv 或 xlsx", "format")
    try:
        source = source_of(request)
    except SourceMissing:
        return error_response(503, "analytics_unavailable", "统计服务尚未启用")
    first = _load(request, user, source, params, page_no=1, per_page=EXPORT_BATCH)
    if first.error is not None or first.result is None or first.request is None or first.filters is None:
        error = first.error or FilterError("form", "明细类型不正确")
        return error_response(400, "bad_filter", error.message, error.field)
    wanted, filters, result = first.request, first.filters, first.result
    rows: list[Row] = list(result.rows)
    page_no = 1
    while len(rows) < min(result.total, EXPORT_LIMIT) and result.rows:
        page_no += 1
        more = _load(request, user, source, params, page_no=page_no, per_page=EXPORT_BATCH).result
        if more is None or not more.rows:
            break
        rows.extend(more.rows)
    rows = rows[:EXPORT_LIMIT]
    gettext = translator(request)
    stamp = f"{filters.start:%Y%m%d}-{filters.end:%Y%m%d}"
    base = get_ctx(request).settings.base_url.rstrip("/")
    made = export.table_file(result.columns, rows, fmt, f"drill-{wanted.drill.kind}-{stamp}", gettext,
                             with_links=base)
    with get_ctx(request).db.session() as session:
        audit_service.record(session, actor_of(request, user), "analytics.export", "drill", wanted.drill.kind,
                             format=fmt, rows=len(rows), total=result.total, filters=filters.to_query(),
                             params=dict(wanted.drill.params))
        session.commit()
    return Response(made.data, media_type=made.media_type, headers={
        "Content-Disposition": f'attachment; filename="{made.filename}"', "Cache-Control": "no-store"})


__all__ = ["DrillRequest", "drill_export", "drill_page", "parse_drill", "router"]
