"""The management dashboards in a real browser, on real numbers: the worked example of docs/metrics.md
(tests/analytics/seed.py) plus a busy next day is written to the database and rolled up by the analytics jobs'
roll-up, then a supervisor opens each of the four dashboards and sees every chart drawn by ECharts (a canvas, an
instance with its series) under the staff CSP without a violation, reads headline figures worked out by hand from
the seed, drills down from a figure and from a chart to the list of records (whose total is the figure), pages the
list, exports a panel as CSV, and opens the live wall, which refreshes itself; on a phone the charts fit the screen
and the page does not scroll sideways.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from edudesk.analytics import rollups
from edudesk.conversations.models import SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, utcnow
from tests.analytics.seed import DAY, NEXT, Writer, at, seed, seed_other_org
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_csp import REPORT
from tests.e2e.test_handover import TIMEOUT, agent_login

KEYS = ("people", "data", "process", "outcome")
# The worked example's two days; the list of valid conversations then runs past one page of 50.
RANGE = f"start={DAY.isoformat()}&end={NEXT.isoformat()}"
BUSY = 55  # bot-only web conversations on NEXT, one visitor message each
SERIES = """() => Array.from(document.querySelectorAll('[data-chart]')).map(el => {
  const chart = echarts.getInstanceByDom(el);
  const option = chart ? chart.getOption() : null;
  return {kind: el.className, canvas: !!el.querySelector('canvas'),
          series: option ? option.series.length : 0,
          points: option ? option.series.reduce((n, s) => n + (s.data || []).length, 0) : 0,
          width: el.getBoundingClientRect().width};
})"""
# The first bar of the first chart: its category and the pixel in its middle (relative to the chart's box).
FIRST_BAR = """() => {
  const chart = echarts.getInstanceByDom(document.querySelector('[data-chart]'));
  const option = chart.getOption();
  const first = option.series[0].data[0];
  const value = typeof first === 'object' && first !== null ? first.value : first;
  const flat = option.yAxis[0].type === 'category';
  const axis = flat ? option.yAxis[0] : option.xAxis[0];
  return [axis.data[0], chart.convertToPixel({seriesIndex: 0}, flat ? [value / 2, 0] : [0, value / 2])];
}"""


def _seed(database: Database, orgs: TwoOrgs) -> None:
    """The worked example for org A (org B's row must not show), a busy NEXT, one visitor queued now; rolled up the
    way tests/analytics/conftest.py does it."""
    with database.session() as session:
        seed(session, orgs.a.id, orgs.a.users["agent"].id, orgs.a.users["agent2"].id)
        seed_other_org(session, orgs.b.id)
        w = Writer(session, orgs.a.id)
        for i in range(BUSY):
            started = at(NEXT, "11:00") + dt.timedelta(minutes=i)
            conv = w.conversation(w.contact(f"访客{i}"), "web", started)
            w.say(conv, SenderKind.visitor, started)
            w.say(conv, SenderKind.bot, started + dt.timedelta(seconds=1))
        _queue_visitor(w, minutes_ago=2)
        session.commit()
        now = at(DAY + dt.timedelta(days=10), "12:00")
        for org_id in (orgs.a.id, orgs.b.id):
            rollups.recompute_range(session, org_id, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=3), now=now)


def _queue_visitor(w: Writer, *, minutes_ago: int) -> None:
    queued = utcnow() - dt.timedelta(minutes=minutes_ago)
    conv = w.conversation(w.contact("排队访客"), "web", queued, state=ConversationState.queued,
                          handoff_reason="visitor_request", queued_at=queued)
    w.say(conv, SenderKind.visitor, queued)


def _charts_drawn(page: Page) -> list[dict[str, object]]:
    """Every chart on the page has its canvas and an ECharts instance with at least one series and point."""
    expect(page.locator("[data-chart]").first).to_be_visible(timeout=TIMEOUT)
    expected = page.locator("[data-chart]").count()
    expect(page.locator("[data-chart]:has(canvas)")).to_have_count(expected, timeout=TIMEOUT)
    charts: list[dict[str, object]] = page.evaluate(SERIES)
    assert len(charts) == expected
    for chart in charts:
        assert chart["canvas"] and int(chart["series"]) >= 1 and int(chart["points"]) >= 1, chart  # type: ignore[call-overload]
    return charts


def _figure(page: Page, key: str, text: str, timeout: float = TIMEOUT) -> None:
    expect(page.locator(f"#figure-{key} strong")).to_have_text(text, timeout=timeout)


def test_dashboards_show_the_real_numbers_and_drill_down(browser: Browser, live_server: LiveServer, orgs: TwoOrgs,
                                                         database: Database) -> None:
    _seed(database, orgs)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    violations: list[str] = []
    errors: list[str] = []

    def watch(msg: ConsoleMessage) -> None:
        if "CSP-VIOLATION" in msg.text or "Content Security Policy" in msg.text:
            violations.append(msg.text)
        elif msg.type == "error" and "Failed to load resource" not in msg.text:
            errors.append(msg.text)

    def failed(response: Response) -> None:
        # The dashboards' own requests (the console's, made at log-in, are other tests' business).
        if response.status >= 400 and ("/admin/dashboards" in response.url or "/static/" in response.url):
            errors.append(f"{response.status} {response.url}")

    try:
        context.add_init_script(REPORT)
        page = context.new_page()
        page.on("console", watch)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", failed)
        agent_login(page, live_server.url, username="supervisor")
        page.click(".topbar nav a[href='/admin/dashboards']")
        expect(page.locator("#dashboards-index")).to_be_visible(timeout=TIMEOUT)

        # A preset marks itself and keeps the page whole (March is outside 近30天: the figures are zeros).
        page.click(".dash-tabs a[href^='/admin/dashboards/outcome']")
        page.click(".presets a:text('近30天')")
        expect(page.locator(".presets a.active")).to_have_text("近30天", timeout=TIMEOUT)
        _figure(page, "enrolled", "0")

        # Each dashboard over the worked example's two days: every chart drawn, figures as worked out from the seed.
        # people: 王老师 served c2, 李老师 c4. data: c1–c4 on DAY, c6 and the busy 55 on NEXT (c5 never wrote).
        # process: c2, c3, c4 queued; T1–T3. outcome: L1, L3, L4 left a phone; L1 enrolled.
        expected = {"people": {"served": "2"}, "data": {"valid": str(5 + BUSY), "conversations": str(6 + BUSY)},
                    "process": {"queued": "3", "abandoned": "1", "tickets": "3"},
                    "outcome": {"contact": "3", "booked": "2", "enrolled": "1"}}
        for key in KEYS:
            page.goto(f"{live_server.url}/admin/dashboards/{key}?{RANGE}")
            charts = _charts_drawn(page)
            assert charts and all(float(c["width"]) > 300 for c in charts), (key, charts)  # type: ignore[arg-type]
            for figure, text in expected[key].items():
                _figure(page, figure, text)

        # A headline figure's drill-down lists what it counted and keeps the range; 60 rows page as 50 + 10.
        page.goto(f"{live_server.url}/admin/dashboards/data?{RANGE}")
        page.click("#figure-valid a")
        expect(page.locator("#drill h1")).to_have_text("会话明细", timeout=TIMEOUT)
        assert "kind=conversations" in page.url and "metric=valid" in page.url and "from=data" in page.url
        assert f"start={DAY.isoformat()}" in page.url
        expect(page.locator("#drill-total")).to_have_text(f"共 {5 + BUSY} 条")
        rows = page.locator("table.dashboard-table tbody tr")
        expect(rows).to_have_count(50)
        first_page = rows.first.inner_text()
        page.click("a[rel=next]")
        expect(rows).to_have_count(5 + BUSY - 50, timeout=TIMEOUT)
        assert rows.first.inner_text() != first_page
        page.click("a[rel=prev]")
        expect(rows).to_have_count(50, timeout=TIMEOUT)
        page.click("#drill-back")
        expect(page).to_have_url(re.compile(rf"/admin/dashboards/data\?{RANGE}"), timeout=TIMEOUT)
        _charts_drawn(page)

        # Outcome: the enrolled figure's list is L1 alone.
        page.goto(f"{live_server.url}/admin/dashboards/outcome?{RANGE}")
        page.click("#figure-enrolled a")
        expect(page.locator("#drill-total")).to_have_text("共 1 条", timeout=TIMEOUT)
        expect(rows).to_have_count(1)

        # A click on a chart opens the rows behind that bar: each agent of the people dashboard served one.
        page.goto(f"{live_server.url}/admin/dashboards/people?{RANGE}")
        _charts_drawn(page)
        box = page.locator("[data-chart]").first.bounding_box()
        assert box is not None
        name, (x, y) = page.evaluate(FIRST_BAR)
        agent = {"王老师": "agent", "李老师": "agent2"}[name]
        page.mouse.click(box["x"] + x, box["y"] + y)
        expect(page.locator("#drill")).to_be_visible(timeout=TIMEOUT)
        assert "kind=conversations" in page.url and f"agent_id={orgs.a.users[agent].id}&" in page.url + "&"
        expect(page.locator("#drill-total")).to_have_text("共 1 条")

        # A panel's CSV: tickets by skill group — 小学数学 has T1 and T2 (one first response late), 未分组 T3.
        page.goto(f"{live_server.url}/admin/dashboards/process?{RANGE}")
        with page.expect_download() as info:
            page.click("#panel-sla_by_group a:text('CSV')")
        csv = Path(info.value.path()).read_text(encoding="utf-8-sig")
        lines = {line.split(",")[0]: line.split(",") for line in csv.splitlines()}
        assert lines["小学数学"][1:4] == ["2", "1", "1"], csv
        assert lines["未分组"][1] == "1", csv

        # The live wall, now: 李老师 still serves c4, one visitor waits; a second one shows at the next refresh.
        page.click(".dash-tabs a[href='/admin/dashboards/live']")
        expect(page.locator("#live-board")).to_contain_text("李老师", timeout=TIMEOUT)
        _figure(page, "chats", "1")
        _figure(page, "waiting", "1")
        with database.session() as session:
            _queue_visitor(Writer(session, orgs.a.id), minutes_ago=1)
            session.commit()
        _figure(page, "waiting", "2", timeout=15_000)  # htmx polls every 10 s

        # On a phone: charts stack full width, tables scroll inside their box, the page itself does not.
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(f"{live_server.url}/admin/dashboards/people?{RANGE}")
        phone = _charts_drawn(page)
        assert all(300 < float(c["width"]) <= 390 for c in phone), phone  # type: ignore[arg-type]
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, wide
        assert violations == [] and errors == [], (violations, errors)
    finally:
        context.close()
