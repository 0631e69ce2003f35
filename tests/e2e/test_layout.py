"""The staff pages where they have gone wrong before: the top navigation (and the admin menu) on a phone, the lead
filters on a desktop that pushed the list below the fold, and message times shown in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, BrowserContext, Page, expect

from edudesk.localtime import LOCAL_TZ
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login
from tests.e2e.test_workspace import start_chat


@contextmanager
def admin_page(browser: Browser, base: str, width: int) -> Iterator[Page]:
    """The admin, logged in, in a browser window ``width`` pixels wide."""
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        agent_login(page, base, username="admin")
        yield page
    finally:
        context.close()


def test_top_navigation_keeps_each_link_on_one_line_on_a_phone(browser: Browser, live_server: LiveServer,
                                                               orgs: TwoOrgs) -> None:
    with admin_page(browser, live_server.url, 390) as page:
        links = page.locator(".topbar nav a")
        expect(links.first).to_be_visible(timeout=TIMEOUT)
        heights = [box["height"] for box in (links.nth(i).bounding_box() for i in range(links.count())) if box]
        line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.topbar nav a')).lineHeight)"
                             " || 24")
        # Squeezed into the bar's width, each link used to wrap to one character per line (工/作/台 …).
        assert heights and max(heights) < 1.6 * line, heights
        nav = page.locator(".topbar nav").bounding_box()
        assert nav is not None and nav["width"] <= 390
        # The admin pages sit in one grouped menu whose panel fits the phone's screen and closes on Escape.
        page.click("#admin-menu summary")
        panel = page.locator(".admin-menu-panel")
        expect(panel).to_be_visible(timeout=TIMEOUT)
        box = panel.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden(timeout=TIMEOUT)
        page.click("#admin-menu summary")
        page.click(".admin-menu-panel a[href='/admin/kb']")
        expect(page.locator(".kb-nav")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("#admin-menu summary")).to_have_class("active")


def test_lead_filters_sit_side_by_side_above_the_list(browser: Browser, live_server: LiveServer,
                                                      orgs: TwoOrgs) -> None:
    with admin_page(browser, live_server.url, 1280) as page:
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


def test_console_message_times_are_the_institutions_time(contexts: tuple[BrowserContext, BrowserContext],
                                                         live_server: LiveServer, orgs: TwoOrgs) -> None:
    """The browsers here run in UTC, the institution in Asia/Shanghai: every time on a message, whether rendered
    with the history or appended live by the console's script, is Shanghai time (it was UTC: 8 hours off)."""
    visitor_ctx, agent_ctx = contexts
    console = agent_ctx.new_page()
    agent_login(console, live_server.url)
    site = visitor_ctx.new_page()
    start_chat(site, console, live_server.url)
    site.fill(".edk-input", "还在吗")
    site.click(".edk-send")
    live = console.locator(".msg-visitor", has_text="还在吗")
    expect(live).to_have_count(1, timeout=TIMEOUT)
    console.reload()  # the same chat again, now rendered by the server
    console.locator("#mine-list .conv-item").first.click()
    rendered = console.locator(".msg-visitor", has_text="还在吗")
    expect(rendered).to_have_count(1, timeout=TIMEOUT)
    iso = rendered.locator("time").get_attribute("datetime") or ""
    assert rendered.locator("time").inner_text() == dt.datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime(
        "%H:%M"), iso
    # And the live path: append a message while the chat is open.
    site.fill(".edk-input", "请问周六有课吗")
    site.click(".edk-send")
    appended = console.locator(".msg-visitor", has_text="请问周六有课吗")
    expect(appended).to_have_count(1, timeout=TIMEOUT)
    iso = appended.locator("time").get_attribute("datetime") or ""
    assert appended.locator("time").inner_text() == \
        dt.datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%H:%M")
