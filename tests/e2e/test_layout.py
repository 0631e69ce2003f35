"""The staff pages' layout where it has gone wrong before: the top navigation on a phone, and the lead filters on a
desktop that pushed the list below the fold."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login


def test_top_navigation_keeps_each_link_on_one_line_on_a_phone(browser: Browser, live_server: LiveServer,
                                                               orgs: TwoOrgs) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        agent_login(page, live_server.url, username="admin")
        links = page.locator(".topbar nav a")
        expect(links.first).to_be_visible(timeout=TIMEOUT)
        heights = [box["height"] for box in (links.nth(i).bounding_box() for i in range(links.count())) if box]
        line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.topbar nav a')).lineHeight)"
                             " || 24")
        # Squeezed into the bar's width, each link used to wrap to one character per line (工/作/台 …).
        assert heights and max(heights) < 1.6 * line, heights
        nav = page.locator(".topbar nav").bounding_box()
        assert nav is not None and nav["width"] <= 390
    finally:
        context.close()


def test_lead_filters_sit_side_by_side_above_the_list(browser: Browser, live_server: LiveServer,
                                                      orgs: TwoOrgs) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        agent_login(page, live_server.url, username="admin")
        page.goto(f"{live_server.url}/leads")
        phone = page.locator("#lead-filters input[name=phone]").bounding_box()
        status = page.locator("#lead-filters select[name=status]").bounding_box()
        since = page.locator("#lead-filters input[name=since]").bounding_box()
        until = page.locator("#lead-filters input[name=until]").bounding_box()
        table = page.locator("#leads").bounding_box()
        assert phone and status and since and until and table
        assert abs(phone["y"] - status["y"]) < 4  # one row, not one field per row
        assert abs(since["y"] - until["y"]) < 4  # the date range on one line
        assert table["y"] < 800  # the list starts on the first screen
    finally:
        context.close()
