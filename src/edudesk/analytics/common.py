"""What the dashboard views share: who may see them, the translation function, the query string as a plain dict,
and the answers for "the numbers are not connected" and "this filter is wrong"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from edudesk.analytics.shapes import DASHBOARD_KEYS, N_, DashboardKey
from edudesk.auth.deps import supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.web import page

# Supervisors and admins: the dashboards show every agent's work; agents get the 403 page.
Supervisor = Annotated[User, Depends(supervisor)]
# The four dashboards, in the order of the tabs (their Chinese names, as analytics.service titles them; the
# templates translate them).
TITLES: dict[DashboardKey, str] = {"people": N_("人员管理"), "data": N_("数据分析"), "process": N_("服务过程"),
                                   "outcome": N_("服务结果")}
BLURBS: dict[DashboardKey, str] = {
    "people": N_("坐席在线、忙碌、离开的时长，接待量，首次响应和平均响应时长，处理时长，满意度和饱和度。"),
    "data": N_("各渠道、来源、时段的对话量，机器人解决率，转人工率和原因，未解决的问题，各渠道和推广活动的套电率。"),
    "process": N_("排队人数和等待时长，放弃的对话，转接，工单按时完成率。"),
    "outcome": N_("访客 → 对话 → 留资 → A/B/C → 约试听 → 到课 → 报名的转化漏斗，按来源和推广活动，以及转化用时。"),
}
assert tuple(TITLES) == DASHBOARD_KEYS


def translator(request: Request) -> Callable[[str], str]:
    return get_ctx(request).catalogues.gettext


def query_dict(request: Request) -> dict[str, str]:
    """The query string, one value per name (the last). Lengths are checked where each value is parsed."""
    return dict(request.query_params.items())


def channel_labels(request: Request) -> dict[str, str]:
    """The app's one list of channel names (registered adapters plus form/import/manual, set by the factory)."""
    labels = get_ctx(request).templates.env.globals.get("channel_labels", {})
    return dict(labels) if isinstance(labels, dict) else {}


def unavailable(request: Request, user: User) -> Response:
    return page(request, "error.html", status_code=503, user=user, title="统计数据暂不可用",
                message="统计服务尚未启用，请联系管理员。")
