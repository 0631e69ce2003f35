"""The filter bar every dashboard and drill-down page shares: its choices, its checks and its links.

The choices come from the areas that own them (channels from the registry, source kinds from visitors, campaigns,
skill groups, staff), always of the caller's org. A value that is not one of the org's choices — another org's
campaign id, a channel nobody connected — is an error beside its field, not an empty dashboard: a person who
pasted a colleague's link from another institution learns why, and nothing of that org is looked up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from edudesk.analytics.shapes import DASHBOARD_KEYS, N_, Drill, FilterError, Filters
from edudesk.auth import service as auth_service
from edudesk.campaigns import service as campaigns_service
from edudesk.routing import service as routing_service
from edudesk.visitors import service as visitors_service

__all__ = ["FILTER_NAMES", "Choices", "Preset", "bar", "choices_for", "drill_url", "presets", "with_dates"]

FILTER_NAMES = ("start", "end", "channel", "source", "campaign_id", "group_id", "agent_id")
NOT_IN_LIST = "请选择列表中的一项"
# Names the drill-down page's own query uses: a drill parameter may not take them.
RESERVED = frozenset({"kind", "from", "page", "format"})
# A drill parameter named like a filter whose value is no filter value ("none": no group, no agent…) travels as
# ``only_<name>``, so the bar still parses and the numbers still get it as a parameter.
ONLY = "only_"
Option = tuple[str, str, str]


@dataclass(frozen=True)
class Choices:
    """(value, label, note) per option of each select; labels and notes are Chinese (the template translates them:
    a channel's name, or a note such as 已归档 beside a campaign's own name)."""

    channels: tuple[Option, ...]
    sources: tuple[Option, ...]
    campaigns: tuple[Option, ...]
    groups: tuple[Option, ...]
    agents: tuple[Option, ...]

    def checked(self, params: Mapping[str, str], today: dt.date) -> Filters:
        """The filters of a query string (absent dates: the last 7 days), each value one of these choices;
        raises FilterError naming the field."""
        filters = Filters.from_query(params, today)
        self.check(filters)
        return filters

    def check(self, filters: Filters) -> None:
        """Raises FilterError for the first value that is not one of the org's choices."""
        for name, value, options in (
                ("channel", filters.channel, self.channels), ("source", filters.source, self.sources),
                ("campaign_id", filters.campaign_id, self.campaigns), ("group_id", filters.group_id, self.groups),
                ("agent_id", filters.agent_id, self.agents)):
            if value is not None and str(value) not in {v for v, _, _ in options}:
                raise FilterError(name, NOT_IN_LIST)


def choices_for(session: Session, org_id: int, channel_labels: Mapping[str, str]) -> Choices:
    """Archived campaigns and disabled staff stay choosable: last quarter's numbers still name them."""
    campaigns = campaigns_service.list_campaigns(session, org_id, include_archived=True)
    users = auth_service.list_users(session, org_id)
    return Choices(
        channels=tuple((k, str(v), "") for k, v in channel_labels.items()),
        sources=(*((k, v, "") for k, v in visitors_service.SOURCE_KIND_LABELS.items()),
                 (visitors_service.NO_TRAIL, N_("未知来源"), "")),  # no visit before it: the numbers' source "none"
        campaigns=tuple((str(c.id), c.name, "已归档" if c.archived else "") for c in campaigns),
        groups=tuple((str(g.id), g.name, "") for g in routing_service.list_groups(session, org_id)),
        agents=tuple((str(u.id), u.display_name, "" if u.is_active else "已停用") for u in users),
    )


@dataclass(frozen=True)
class Preset:
    label: str
    start: dt.date
    end: dt.date


def presets(today: dt.date) -> tuple[Preset, ...]:
    """今天 / 近7天 / 近30天 / 本月, each ending today (local days)."""
    return (Preset(N_("今天"), today, today), Preset(N_("近7天"), today - dt.timedelta(days=6), today),
            Preset(N_("近30天"), today - dt.timedelta(days=29), today), Preset(N_("本月"), today.replace(day=1), today))


def with_dates(kept: Mapping[str, str], start: dt.date, end: dt.date) -> str:
    """The query string of the bar's other fields with another date range (a preset's link)."""
    return urlencode({**kept, "start": start.isoformat(), "end": end.isoformat()})


def drill_url(drill: Drill, filters: Filters, origin: str | None = None) -> str:
    """The drill-down page of ``drill`` under ``filters``. A drill parameter named like a filter *is* that filter
    (it narrows it: the people dashboard's row of agent 5 drills with ``agent_id=5``), so the drill page's bar
    shows it; the others travel as they are. ``origin``: the dashboard to go back to."""
    clash = RESERVED & set(drill.params)
    if clash:
        raise ValueError(f"drill parameter names {sorted(clash)} are reserved by the drill-down page's query")
    query: dict[str, str] = {"kind": drill.kind}
    if origin in DASHBOARD_KEYS:
        query["from"] = str(origin)
    query.update(filters.to_query())
    for name, value in drill.params.items():
        key, text = str(name), str(value)
        if key in FILTER_NAMES and not _fits(key, text):
            key = ONLY + key
        query[key] = text
    return "/admin/dashboards/drill?" + urlencode(query)


def _fits(name: str, value: str) -> bool:
    """Whether ``value`` is something the bar's field ``name`` can hold (else it stays a drill parameter)."""
    try:
        Filters.from_query({name: value}, dt.date(2000, 1, 1))
    except FilterError:
        return False
    return True


def bar(choices: Choices, params: Mapping[str, str], filters: Filters | None, errors: dict[str, str],
        today: dt.date) -> dict[str, Any]:
    """The bar's template values: the choices, the fields as typed (or as parsed, defaults filled in), the
    errors beside their fields, and each preset's link with whether it is the range shown."""
    form = {name: params.get(name, "") for name in FILTER_NAMES}
    if filters is not None:
        form.update(filters.to_query())
    kept = {k: v for k, v in form.items() if v and k not in ("start", "end")}
    marks = [(p.label, with_dates(kept, p.start, p.end),
              form["start"] == p.start.isoformat() and form["end"] == p.end.isoformat()) for p in presets(today)]
    shown = urlencode({k: v for k, v in form.items() if v}) if filters is not None else ""
    return {"choices": choices, "form": form, "errors": errors, "presets": marks, "query": shown}
