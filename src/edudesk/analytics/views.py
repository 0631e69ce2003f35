"""The management dashboards' pages (issue 15): the index, the four dashboards and the live wall.

Thin: the numbers come from the ``DashboardSource`` (``analytics.source``), the filter bar's choices and checks from
``filterbar``, the formatting from ``present``. A filter value that cannot be used answers 400 with the message
beside its field and the bar as typed; nothing is computed for it. Drill-down pages and exports are in
``drill_views`` and ``export_views``, included in this module's ``router``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.analytics import drill_views, export_views, filterbar, present
from edudesk.analytics.common import BLURBS, TITLES, Supervisor, channel_labels, query_dict, translator, unavailable
from edudesk.analytics.shapes import DASHBOARD_KEYS, DashboardKey, FilterError, Filters
from edudesk.analytics.source import SourceMissing, source_of
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.localtime import local_text, local_today
from edudesk.web import page

router = APIRouter(prefix="/admin/dashboards", include_in_schema=False)
LIVE_REFRESH_SECONDS = 10


@router.get("", response_class=HTMLResponse)
def index(request: Request, user: Supervisor) -> Response:
    return page(request, "analytics/index.html", user=user, titles=TITLES, blurbs=BLURBS)


def dashboard_page(request: Request, user: User, key: DashboardKey) -> Response:
    params = query_dict(request)
    gettext = translator(request)
    try:
        source = source_of(request)
    except SourceMissing:
        return unavailable(request, user)
    with get_ctx(request).db.session() as session:
        choices = filterbar.choices_for(session, user.org_id, channel_labels(request))
        try:
            filters = choices.checked(params, local_today())
            board = source.dashboard(session, user.org_id, key, filters)
        except FilterError as exc:
            return page(request, "analytics/dashboard.html", status_code=400, user=user, key=key, titles=TITLES,
                        board=None, figures=[], panels=[], as_of=None,
                        **filterbar.bar(choices, params, None, {exc.field: exc.message}, local_today()))
    return page(request, "analytics/dashboard.html", user=user, key=key, titles=TITLES, board=board,
                figures=present.figures(board, gettext), panels=present.panels(board, gettext),
                as_of=local_text(board.as_of) if board.as_of else None,
                **filterbar.bar(choices, params, filters, {}, local_today()))


def _register(key: DashboardKey) -> None:
    def view(request: Request, user: Supervisor) -> Response:
        return dashboard_page(request, user, key)

    view.__name__ = view.__qualname__ = f"dashboard_{key}"
    view.__doc__ = f"The {key} dashboard."
    router.add_api_route(f"/{key}", view, methods=["GET"], response_class=HTMLResponse, name=f"dashboard_{key}")


for _key in DASHBOARD_KEYS:
    _register(_key)


def _live(request: Request, user: User, template: str) -> Response:
    gettext = translator(request)
    try:
        source = source_of(request)
    except SourceMissing:
        return unavailable(request, user)
    with get_ctx(request).db.session() as session:
        wall = source.live_wall(session, user.org_id)
    today = local_today()
    filters = Filters(today, today)  # an agent's drill-down on the wall: today's conversations
    response = page(request, template, user=user, figures=present.live_figures(wall.figures, filters, gettext),
                    panels=[present.panel_view(p, "people", filters, gettext) for p in (wall.agents, wall.queue)],
                    as_of=local_text(wall.at, "%H:%M:%S"), refresh=LIVE_REFRESH_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/live", response_class=HTMLResponse)
def live_wall(request: Request, user: Supervisor) -> Response:
    """Full-screen friendly: the board below refreshes itself every 10 s (htmx polling ``/live/board``)."""
    return _live(request, user, "analytics/live.html")


@router.get("/live/board", response_class=HTMLResponse)
def live_board(request: Request, user: Supervisor) -> Response:
    return _live(request, user, "analytics/live_board.html")


# What the app factory includes: these pages, the drill-down pages and the exports.
ROUTERS = (router, drill_views.router, export_views.router)
