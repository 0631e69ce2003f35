"""The management dashboards in a real browser: a supervisor opens each of the four dashboards, sees every chart
drawn by ECharts (a canvas, an instance with its series) under the staff CSP without a violation, drills down from
a headline figure and from a chart to the list of records, pages the list, then opens the live wall, which
refreshes itself; on a phone the charts fit the screen and the tables scroll.

The numbers come from the hand-made source of tests/analytics/pages/fakes.py (``app.state.dashboards``): this test is
about the pages. When ``analytics.service`` is merged, the integrator may seed real rows and drop the fake here.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from tests.analytics.pages.fakes import FakeSource
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_csp import REPORT
from tests.e2e.test_handover import TIMEOUT, agent_login

KEYS = ("people", "data", "process", "outcome")
SERIES = """() => Array.from(document.querySelectorAll('[data-chart]')).map(el => {
  const chart = echarts.getInstanceByDom(el);
  const option = chart ? chart.getOption() : null;
  return {kind: el.className, canvas: !!el.querySelector('canvas'),
          series: option ? option.series.length : 0,
          points: option ? option.series.reduce((n, s) => n + (s.data || []).length, 0) : 0,
          width: el.getBoundingClientRect().width};
})"""


def _charts_drawn(page: Page, expected: int) -> list[dict[str, object]]:
    expect(page.locator("[data-chart]:has(canvas)")).to_have_count(expected, timeout=TIMEOUT)
    charts: list[dict[str, object]] = page.evaluate(SERIES)
    assert len(charts) == expected
    for chart in charts:
        assert chart["canvas"] and int(chart["series"]) >= 1 and int(chart["points"]) >= 1, chart  # type: ignore[call-overload]
    return charts


def test_dashboards_draw_their_charts_and_drill_down(browser: Browser, live_server: LiveServer, orgs: TwoOrgs,
                                                     app: FastAPI) -> None:
    source = FakeSource()
    app.state.dashboards = source
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
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
        expected = {"people": 2, "data": 3, "process": 1, "outcome": 1}
        for key in KEYS:
            page.click(f".dash-tabs a[href^='/admin/dashboards/{key}']")
            expect(page).to_have_url(re.compile(rf"/admin/dashboards/{key}($|\?)"), timeout=TIMEOUT)
            _charts_drawn(page, expected[key])

        # The 近30天 preset, then a headline figure's drill-down keeps that range.
        page.click(".presets a:text('近30天')")
        expect(page.locator(".presets a.active")).to_have_text("近30天", timeout=TIMEOUT)
        _charts_drawn(page, 1)
        page.click("#figure-enrolled a")
        expect(page.locator("#drill h1")).to_have_text("对话明细", timeout=TIMEOUT)
        assert "kind=leads" in page.url and "stage=enrolled" in page.url and "from=outcome" in page.url
        expect(page.locator("#drill-total")).to_have_text("共 120 条")
        expect(page.locator("table.dashboard-table tbody tr")).to_have_count(50)
        page.click("a[rel=next]")
        expect(page.locator("table.dashboard-table tbody tr th a").first).to_have_text("51", timeout=TIMEOUT)
        page.click("#drill-back")
        expect(page).to_have_url(re.compile(r"/admin/dashboards/outcome\?start=\d{4}-\d\d-\d\d&end="), timeout=TIMEOUT)
        _charts_drawn(page, 1)

        # A click on a chart opens the rows behind that bar: the people dashboard's first bar is 王老师.
        page.click(".dash-tabs a[href^='/admin/dashboards/people']")
        charts = _charts_drawn(page, 2)
        box = page.locator("[data-chart]").first.bounding_box()
        assert box is not None
        page.evaluate("""() => {
          const chart = echarts.getInstanceByDom(document.querySelector('[data-chart]'));
          const [x, y] = chart.convertToPixel({seriesIndex: 0}, [0, 350]);
          window.__barPoint = [x, y];
        }""")
        x, y = page.evaluate("window.__barPoint")
        page.mouse.click(box["x"] + x, box["y"] + y)
        expect(page.locator("#drill")).to_be_visible(timeout=TIMEOUT)
        assert "kind=conversations" in page.url and "agent_id=1" in page.url
        drill = [c for c in source.calls if c[0] == "drill"][-1]
        assert drill[2][0].kind == "conversations" and drill[2][1].agent_id == 1
        assert charts[0]["width"] > 300  # type: ignore[operator]

        # The live wall refreshes itself (htmx polling every 10 s).
        page.goto(f"{live_server.url}/admin/dashboards/live")
        expect(page.locator("#live-board")).to_contain_text("王老师", timeout=TIMEOUT)
        calls = len([c for c in source.calls if c[0] == "live_wall"])
        waiting = page.locator("#figure-waiting strong").inner_text()
        expect(page.locator("#figure-waiting strong")).not_to_have_text(waiting, timeout=15_000)
        assert len([c for c in source.calls if c[0] == "live_wall"]) > calls

        # On a phone: charts stack full width, tables scroll inside their box, the page itself does not.
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(f"{live_server.url}/admin/dashboards/people")
        phone = _charts_drawn(page, 2)
        assert all(300 < float(c["width"]) <= 390 for c in phone), phone  # type: ignore[arg-type]
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, wide
        assert violations == [] and errors == [], (violations, errors)
    finally:
        context.close()
