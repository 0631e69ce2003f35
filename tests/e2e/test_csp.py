"""The staff pages run under their Content-Security-Policy without a single violation: an admin logs in, the console
opens its WebSocket, and every staff page loads and runs its scripts (docs/limits.md, Security headers)."""

from __future__ import annotations

from playwright.sync_api import Browser, ConsoleMessage, expect

from edudesk.security import STAFF_CSP
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login

REPORT = """document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP-VIOLATION " + e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
});"""
PAGES = ["/console", "/console/supervisor", "/console/canned", "/leads", "/leads/dashboard", "/tickets",
         "/admin/bot", "/admin/bot/flows", "/admin/kb", "/admin/kb/import", "/admin/routing", "/admin/hours",
         "/admin/csat", "/admin/users", "/admin/audit", "/admin/webhooks", "/admin/trials", "/admin/lead-fields",
         "/admin/forms", "/admin/forms/new"]


def test_staff_pages_run_without_csp_violations(browser: Browser, live_server: LiveServer, orgs: TwoOrgs) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    violations: list[str] = []

    def watch(msg: ConsoleMessage) -> None:
        # The page's own report, and Chromium's "Refused to …" line for what the policy blocked.
        if "CSP-VIOLATION" in msg.text or "Content Security Policy" in msg.text:
            violations.append(f"{page.url}: {msg.text}")

    try:
        context.add_init_script(REPORT)
        page = context.new_page()
        page.on("console", watch)
        agent_login(page, live_server.url, username="admin")  # the console's socket is online: connect-src holds
        seen = []
        for path in PAGES:
            resp = page.goto(f"{live_server.url}{path}")
            assert resp is not None and resp.status == 200, path
            assert resp.headers["content-security-policy"] == STAFF_CSP
            page.wait_for_load_state("networkidle")
            seen.append(path)
        # Behaviour that used to be inline: the 全选 checkbox (data-select-all) on the knowledge-base list.
        page.goto(f"{live_server.url}/admin/kb")
        select_all = page.locator("input[data-select-all]")
        if select_all.count():
            select_all.first.check()
        expect(page.locator("body")).to_be_visible(timeout=TIMEOUT)
        assert seen == PAGES
        assert violations == []
    finally:
        context.close()
