"""The dashboard pages against a hand-made source of numbers (tests/analytics/pages/fakes.py), on SQLite and PostgreSQL:
who may open them, the filter bar (its choices are the org's own; a bad value is a 400 with the message beside its
field), the figures and tables as written per column kind, the charts' JSON, the drill-down links, escaping, the
live wall, and the pages in English."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edudesk.analytics.shapes import Filters
from edudesk.audit.service import Actor
from edudesk.campaigns import service as campaigns_service
from edudesk.db import Database
from edudesk.localtime import local_today
from edudesk.routing import service as routing_service
from tests.analytics.pages.fakes import HOSTILE, FakeSource, marker
from tests.conftest import TwoOrgs, login

KEYS = ("people", "data", "process", "outcome")
PAGES = ["/admin/dashboards", *[f"/admin/dashboards/{k}" for k in KEYS], "/admin/dashboards/live",
         "/admin/dashboards/live/board", "/admin/dashboards/drill?kind=conversations",
         "/admin/dashboards/people/export?panel=agents&format=csv",
         "/admin/dashboards/drill/export?kind=leads&format=csv"]
CHART_JSON = re.compile(r'<script type="application/json" id="(chart-data-\d+)">(.*?)</script>', re.S)


def charts_of(text: str) -> dict[str, dict[str, object]]:
    return {name: json.loads(body) for name, body in CHART_JSON.findall(text)}


def links(text: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]


@pytest.mark.parametrize("path", PAGES)
def test_agents_are_refused_and_strangers_sent_to_log_in(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource,
                                                        path: str) -> None:
    assert client.get(path, follow_redirects=False).headers["location"] == "/login"
    login(client, "alpha", "agent")
    assert client.get(path).status_code == 403
    assert fake_source.calls == []


def test_supervisors_see_the_nav_link_agents_do_not(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource
                                                    ) -> None:
    login(client, "alpha", "agent")
    assert 'href="/admin/dashboards"' not in client.get("/console").text
    login(client, "alpha", "supervisor")
    assert 'href="/admin/dashboards"' in client.get("/console").text
    index = client.get("/admin/dashboards")
    assert index.status_code == 200
    assert all(f'href="/admin/dashboards/{k}"' in index.text for k in (*KEYS, "live"))
    assert fake_source.calls == []  # the index computes nothing


@pytest.mark.parametrize("key", KEYS)
def test_each_dashboard_shows_figures_charts_tables_and_drill_links(client: TestClient, orgs: TwoOrgs,
                                                                   fake_source: FakeSource, key: str) -> None:
    login(client, "alpha", "supervisor")
    resp = client.get(f"/admin/dashboards/{key}")
    assert resp.status_code == 200
    today = local_today()
    assert fake_source.calls == [("dashboard", orgs.a.id, (key, Filters(today - dt.timedelta(days=6), today)))]
    board = fake_source.dashboard(None, orgs.a.id, key, Filters(today, today))  # type: ignore[arg-type]
    specs = charts_of(resp.text)
    assert len(specs) == sum(1 for p in board.panels if p.chart is not None) >= 1
    assert resp.text.count('class="dash-chart ') == len(specs)
    drills = [u for u in links(resp.text) if u.startswith("/admin/dashboards/drill?")]
    rows = sum(len(p.rows) for p in board.panels)
    assert len(drills) == len(board.figures) + rows
    for url in drills:
        query = parse_qs(urlsplit(url).query)
        assert query["from"] == [key] and query["start"] == [(today - dt.timedelta(days=6)).isoformat()]
    for panel in board.panels:
        assert f'id="panel-{panel.key}"' in resp.text
        export = f"/admin/dashboards/{key}/export?panel={panel.key}&format=xlsx&start="
        assert any(u.startswith(export) for u in links(resp.text))
    assert "数据更新于 2026-12-07 10:30" in resp.text


def test_values_are_written_per_column_kind(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource) -> None:
    login(client, "alpha", "admin")
    text = client.get("/admin/dashboards/people").text
    for shown in (">1,234<", ">1分05秒<", ">4.6<", ">81.3%<", ">1小时02分05秒<", ">90.0%<", ">—<", ">8小时00分00秒<"):
        assert shown in text, shown
    spec = next(s for s in charts_of(text).values() if s["kind"] == "stacked_bar")
    assert spec["categories"] == ["王老师", "李老师"]
    assert [s["name"] for s in spec["series"]] == ["在线", "忙碌", "离开"]  # type: ignore[index]
    assert spec["series"][0]["data"] == [28800.0, 25200.0]  # type: ignore[index]
    assert spec["links"][0].startswith("/admin/dashboards/drill?kind=agents")  # type: ignore[index]


def test_every_chart_kind_reaches_the_page(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource) -> None:
    login(client, "alpha", "admin")
    kinds = set()
    for key in KEYS:
        kinds |= {str(s["kind"]) for s in charts_of(client.get(f"/admin/dashboards/{key}").text).values()}
    assert kinds == {"bar", "stacked_bar", "line", "pie", "heatmap", "funnel"}
    heat = next(s for s in charts_of(client.get("/admin/dashboards/data").text).values() if s["kind"] == "heatmap")
    assert heat["y_categories"] == ["周一", "周二", "周三"] and len(heat["points"]) == 9  # type: ignore[arg-type]


def test_hostile_text_is_escaped_on_the_page_and_in_the_chart_json(client: TestClient, orgs: TwoOrgs,
                                                                  fake_source: FakeSource) -> None:
    login(client, "alpha", "admin")
    text = client.get("/admin/dashboards/data").text
    assert HOSTILE not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    for _, body in CHART_JSON.findall(text):
        assert "</script" not in body.lower() and "<" not in body


def test_each_org_sees_only_its_own_numbers(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource) -> None:
    login(client, "beta", "admin")
    for path in ("/admin/dashboards/people", "/admin/dashboards/data", "/admin/dashboards/live",
                 "/admin/dashboards/drill?kind=conversations"):
        text = client.get(path).text
        assert marker(orgs.b.id) in text and marker(orgs.a.id) not in text, path
    assert {org for _, org, _ in fake_source.calls} == {orgs.b.id}


def _seed_choices(database: Database, orgs: TwoOrgs) -> dict[str, int]:
    out = {}
    with database.session() as session:
        for org, name in ((orgs.a, "a"), (orgs.b, "b")):
            actor = Actor(org.id, label="test")
            out[f"campaign_{name}"] = campaigns_service.create(
                session, actor, name=f"{name}春季海报", scene=f"s-{name}", kind="link").id
            out[f"group_{name}"] = routing_service.create_group(session, actor, f"{name}小学数学").id
        session.commit()
    return out


def test_filters_reach_the_numbers_and_stay_in_every_link(client: TestClient, orgs: TwoOrgs, database: Database,
                                                          fake_source: FakeSource) -> None:
    ids = _seed_choices(database, orgs)
    login(client, "alpha", "admin")
    agent = orgs.a.users["agent"].id
    query = (f"start=2026-11-01&end=2026-11-30&channel=wechat&source=ad&campaign_id={ids['campaign_a']}"
             f"&group_id={ids['group_a']}&agent_id={agent}")
    resp = client.get(f"/admin/dashboards/outcome?{query}")
    assert resp.status_code == 200
    assert fake_source.calls[-1][2] == ("outcome", Filters(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "wechat", "ad",
                                                           ids["campaign_a"], ids["group_a"], agent))
    assert "a春季海报" in resp.text and "b春季海报" not in resp.text and "b小学数学" not in resp.text
    assert f'<option value="{ids["group_a"]}" selected>' in resp.text
    for url in links(resp.text):
        if url.startswith(("/admin/dashboards/drill?", "/admin/dashboards/outcome/export?")):
            query_of = parse_qs(urlsplit(url).query)
            assert query_of["campaign_id"] == [str(ids["campaign_a"])] and query_of["start"] == ["2026-11-01"]
    presets = re.findall(r'<p class="presets">(.*?)</p>', resp.text, re.S)[0]
    assert presets.count(f"campaign_id={ids['campaign_a']}") == 4 and "2026-11-01" not in presets


@pytest.mark.parametrize(("query", "field", "message"), [
    ("start=2026-02-30", "start", "日期格式应为 YYYY-MM-DD"),
    ("end=yesterday", "end", "日期格式应为 YYYY-MM-DD"),
    ("start=2026-12-07&end=2026-12-01", "end", "结束日期不能早于开始日期"),
    ("start=2024-01-01&end=2026-12-01", "start", "时间范围最长 366 天"),
    ("channel=telegram", "channel", "请选择列表中的一项"),
    ("channel=%3Cscript%3Ealert(1)%3C/script%3E", "channel", "请选择列表中的一项"),
    ("source=' OR 1=1 --", "source", "请选择列表中的一项"),
    ("agent_id=abc", "agent_id", "请选择列表中的一项"),
    ("agent_id=99999999999999999999", "agent_id", "请选择列表中的一项"),
    ("agent_id=2147483648", "agent_id", "请选择列表中的一项"),
    ("group_id=-1", "group_id", "请选择列表中的一项"),
    ("campaign_id={campaign_b}", "campaign_id", "请选择列表中的一项"),
    ("agent_id={agent_b}", "agent_id", "请选择列表中的一项"),
    ("start=" + "9" * 5000, "start", "日期格式应为 YYYY-MM-DD"),
])
def test_bad_filters_answer_400_with_the_message_beside_the_field(client: TestClient, orgs: TwoOrgs,
                                                                 database: Database, fake_source: FakeSource,
                                                                 query: str, field: str, message: str) -> None:
    ids = _seed_choices(database, orgs)
    login(client, "alpha", "supervisor")
    url = query.format(campaign_b=ids["campaign_b"], agent_b=orgs.b.users["agent"].id)
    resp = client.get(f"/admin/dashboards/data?{url}")
    assert resp.status_code == 400
    assert re.search(rf'<span class="field-error" id="error-{field}" role="alert">{message}</span>', resp.text)
    assert f'aria-describedby="error-{field}"' in resp.text
    assert "<script>alert(1)</script>" not in resp.text and fake_source.calls == []
    export = client.get(f"/admin/dashboards/data/export?panel=trend&format=csv&{url}")
    assert export.status_code == 400 and export.json()["error"]["field"] == field
    drill = client.get(f"/admin/dashboards/drill?kind=leads&{url}")
    assert drill.status_code == 400 and f'id="error-{field}"' in drill.text
    assert fake_source.calls == []


def test_the_pages_answer_503_without_the_numbers(client: TestClient, orgs: TwoOrgs, app: FastAPI) -> None:
    app.state.dashboards = None
    login(client, "alpha", "admin")
    for path in PAGES[1:]:
        resp = client.get(path)
        assert resp.status_code == 503, path
    assert "统计服务尚未启用" in client.get("/admin/dashboards/people").text


def test_the_live_wall_polls_its_board(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource) -> None:
    login(client, "alpha", "supervisor")
    wall = client.get("/admin/dashboards/live")
    assert wall.status_code == 200 and wall.headers["cache-control"] == "no-store"
    assert 'hx-get="/admin/dashboards/live/board" hx-trigger="every 10s" hx-swap="outerHTML"' in wall.text
    assert 'data-fullscreen="live-wall"' in wall.text and ">3分05秒<" in wall.text and "王老师" in wall.text
    board = client.get("/admin/dashboards/live/board", headers={"hx-request": "true"})
    assert board.status_code == 200 and board.text.lstrip().startswith("<div id=\"live-board\"")
    assert "<html" not in board.text and "更新于 10:30:00" in board.text and ">60.0%<" in board.text
    today = local_today().isoformat()
    assert (f"/admin/dashboards/drill?kind=conversations&from=people&start={today}&end={today}&agent_id=3"
            "&metric=served") in links(board.text)
    assert "/console/c/17" in links(board.text) and "/export" not in board.text
    assert [c[0] for c in fake_source.calls] == ["live_wall", "live_wall"]


def test_the_pages_in_english(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource) -> None:
    client.cookies.set("edudesk_lang", "en")
    login(client, "alpha", "admin")
    text = client.get("/admin/dashboards/people").text
    assert "People" in text and "Last 7 days" in text and "1m 05s" in text and "人员管理" not in text
    spec = next(iter(charts_of(text).values()))
    assert spec["durations"] == {"hms": "%(h)dh %(m)02dm %(s)02ds", "ms": "%(m)dm %(s)02ds", "s": "%(s)ds",
                                 "axis_h": "%(n)sh", "axis_m": "%(n)s min", "axis_s": "%(n)ss"}
    bad = client.get("/admin/dashboards/people?start=2026-12-07&end=2000-01-01")
    assert bad.status_code == 400 and "The end date is before the start date" in bad.text


def test_a_drill_of_no_group_keeps_its_parameter_beside_the_bar(client: TestClient, orgs: TwoOrgs,
                                                               fake_source: FakeSource) -> None:
    """``group_id=none`` (no group) is the drill's own parameter, not a value of the bar's 技能组 field."""
    login(client, "alpha", "admin")
    text = client.get("/admin/dashboards/process").text
    url = next(u for u in links(text) if "only_group_id=none" in u)
    assert "group_id=7&" in next(u for u in links(text) if "metric=t" in u and "only_" not in u)
    page = client.get(url)
    assert page.status_code == 200
    drill, filters = fake_source.calls[-1][2][:2]
    assert dict(drill.params) == {"group_id": "none", "metric": "t"} and filters.group_id is None
    assert '<input type="hidden" name="only_group_id" value="none">' in page.text
    assert any("only_group_id=none" in u for u in links(page.text) if "/drill/export?" in u)
