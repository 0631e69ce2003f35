"""A dashboard panel's table as CSV or XLSX: ``/admin/dashboards/{key}/export?panel=…&format=csv|xlsx&<filters>``.

The file holds the rows the page shows for the same filters (the same ``Dashboard`` value), and every export is
audited as ``analytics.export`` with the panel, the format, the row count and the filters. Bad input answers JSON
``{"error": …}`` (a download link, not a form): 422 for the format, 400 for a filter, 404 for an unknown panel.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from edudesk.analytics import export, filterbar
from edudesk.analytics.common import Supervisor, channel_labels, query_dict, translator
from edudesk.analytics.shapes import DASHBOARD_KEYS, DashboardKey, FilterError
from edudesk.analytics.source import SourceMissing, source_of
from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.localtime import local_today
from edudesk.web import error_response

router = APIRouter(prefix="/admin/dashboards", include_in_schema=False)


def panel_export(request: Request, user: User, key: DashboardKey) -> Response:
    params = query_dict(request)
    fmt, panel_key = params.get("format", "csv"), params.get("panel", "")
    if fmt not in export.FORMATS:
        return error_response(422, "bad_format", "导出格式只能是 csv 或 xlsx", "format")
    try:
        source = source_of(request)
    except SourceMissing:
        return error_response(503, "analytics_unavailable", "统计服务尚未启用")
    with get_ctx(request).db.session() as session:
        choices = filterbar.choices_for(session, user.org_id, channel_labels(request))
        try:
            filters = choices.checked(params, local_today())
        except FilterError as exc:
            return error_response(400, "bad_filter", exc.message, exc.field)
        board = source.dashboard(session, user.org_id, key, filters)
        try:
            panel = board.panel(panel_key)
        except KeyError:
            return error_response(404, "not_found", "看板中没有这个图表", "panel")
        name = f"{key}-{panel.key}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}"
        made = export.table_file(panel.columns, panel.rows, fmt, name, translator(request))
        audit_service.record(session, actor_of(request, user), "analytics.export", "dashboard_panel",
                             f"{key}.{panel.key}", format=fmt, rows=len(panel.rows), filters=filters.to_query())
        session.commit()
    return Response(made.data, media_type=made.media_type, headers={
        "Content-Disposition": f'attachment; filename="{made.filename}"', "Cache-Control": "no-store"})


def _register(key: DashboardKey) -> None:
    def view(request: Request, user: Supervisor) -> Response:
        return panel_export(request, user, key)

    view.__name__ = view.__qualname__ = f"export_{key}"
    view.__doc__ = f"A panel of the {key} dashboard as CSV or XLSX."
    router.add_api_route(f"/{key}/export", view, methods=["GET"], name=f"dashboard_{key}_export")


for _key in DASHBOARD_KEYS:
    _register(_key)
