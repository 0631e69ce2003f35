"""Issue 13 in two real browsers: a parent arrives at an institution's site (another origin) from a Baidu search
with an exam-prep ad's UTM parameters, browses three pages; the agent watching 访客监控 sees them move; on the
price page the auto-invite rule opens the widget with the agent's message; the parent answers; the agent sees the
conversation with the trail, the source and the tags beside the chat."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from edudesk.app import create_app
from edudesk.audit.service import Actor
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.visitors import invitations
from edudesk.visitors.models import PageView, Visit
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.sites import InstitutionSite
from tests.e2e.test_handover import agent_login

TIMEOUT = 15_000
# A desktop Chrome: headless Chromium names itself HeadlessChrome, which the trail rightly marks as a crawler.
DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
PAGES = {
    "/": ("一建培训 · 甲机构", '<a id="next" href="/courses">看看课程</a>'),
    "/courses": ("一级建造师课程 · 甲机构", '<a id="next" href="/pricing">课程价格</a>'),
    "/pricing": ("课程价格 · 甲机构", "<p>一建全程班 4980 元</p>"),
}
PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}
<script src="{edudesk}/static/widget.js" data-org-key="{key}" async></script>
</body></html>"""


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    # Jobs run in the server, as in the demo: the classification job tags the parent while the agent looks.
    return create_app(settings.model_copy(update={"run_jobs_in_process": True}))


@pytest.fixture
def site(live_server: LiveServer, orgs: TwoOrgs) -> Iterator[InstitutionSite]:
    def page(path: str) -> str | None:
        if path not in PAGES:
            return None
        title, body = PAGES[path]
        return PAGE.format(title=title, body=body, edudesk=live_server.url, key=orgs.a.public_key)

    served = InstitutionSite(page).start()
    yield served
    served.stop()


def test_a_parent_from_a_search_ad_is_invited_and_the_agent_sees_where_they_came_from(
        browser: Browser, live_server: LiveServer, site: InstitutionSite, orgs: TwoOrgs, database: Database) -> None:
    agent = orgs.a.users["agent"]
    with database.session() as session:
        invitations.save_rule(session, Actor(orgs.a.id, user_id=agent.id, label="校长"), invitations.RuleForm(
            name="价格页邀请", url_pattern="*/pricing*", min_seconds="0", max_per_day="1",
            message="您好，我是王老师，看您在看一建课程的价格，需要我帮您算一下优惠吗？", speaker=f"agent:{agent.id}"))
        session.commit()

    agent_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    parent_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800}, user_agent=DESKTOP_UA)
    try:
        console = agent_ctx.new_page()
        agent_login(console, live_server.url)
        console.goto(f"{live_server.url}/console/visitors")

        # From a Baidu search for 一建 on an exam-prep ad, onto the institution's home page.
        parent = parent_ctx.new_page()
        landing = f"{site.origin}/?utm_source=baidu&utm_medium=cpc&utm_campaign=exam-prep"
        parent.goto(landing, referer=f"https://www.baidu.com/s?wd={quote('一建培训哪家好')}")
        expect(parent.locator(".edk-bubble")).to_be_visible(timeout=TIMEOUT)
        visitors = console.locator("#visitors-list")
        expect(visitors).to_contain_text("一建培训 · 甲机构", timeout=TIMEOUT)
        expect(visitors).to_contain_text("一建培训哪家好")

        parent.click("#next")
        expect(parent).to_have_title("一级建造师课程 · 甲机构")
        expect(visitors).to_contain_text("一级建造师课程", timeout=TIMEOUT)

        # The price page: the rule fires, the widget opens with the agent's message; the parent answers it.
        parent.click("#next")
        invite = parent.locator(".edk-invite")
        expect(invite).to_contain_text("需要我帮您算一下优惠吗", timeout=TIMEOUT)
        expect(parent.locator(".edk-panel")).to_be_visible()
        parent.fill(".edk-input", "好的，可以先试听一节课吗")
        parent.click(".edk-send")

        # The conversation is the inviting agent's; beside it, the trail, the source and the tags.
        console.goto(f"{live_server.url}/console")
        item = console.locator("#mine-list .conv-item")
        expect(item).to_have_count(1, timeout=TIMEOUT)
        item.click()
        expect(console.locator("#messages")).to_contain_text("可以先试听一节课吗", timeout=TIMEOUT)
        expect(console.locator("#messages")).to_contain_text("需要我帮您算一下优惠吗")
        # The panel is drawn when the chat opens and again when the visitor writes; the trail's writer stores page
        # views within half a second and the classification job tags the parent a few seconds after their
        # message, so reload the chat until both are in (a loaded machine may need several seconds).
        pages = console.locator("[data-testid=trail-page]")
        tags = console.locator("[data-testid=visitor-tags]")
        for _ in range(30):
            console.locator("[data-testid=trail-visit]").first.wait_for(timeout=TIMEOUT)
            if pages.count() == 3 and "职业教育" in (tags.text_content() or ""):
                break
            console.wait_for_timeout(1000)
            console.reload()
            console.locator("#mine-list .conv-item").click()
            expect(console.locator("#messages")).to_contain_text("可以先试听一节课吗", timeout=TIMEOUT)
        expect(pages).to_have_count(3, timeout=TIMEOUT)
        expect(pages.first).to_contain_text("课程价格")
        source = console.locator("[data-testid=conversation-source]")
        expect(source.locator("[data-testid=conversation-source-engine]")).to_contain_text("百度")
        expect(source.locator("[data-testid=conversation-source-keyword]")).to_contain_text("一建培训哪家好")
        expect(source.locator("[data-testid=conversation-source-campaign]")).to_contain_text("exam-prep")
        expect(tags).to_contain_text("高意向", timeout=TIMEOUT)
        expect(tags).to_contain_text("职业教育")
    finally:
        parent_ctx.close()
        agent_ctx.close()

    with database.session() as session:
        visit = session.scalars(select(Visit).where(Visit.org_id == orgs.a.id)).one()
        assert visit.source_kind == "ad" and visit.campaign == "exam-prep"
        assert visit.source["search_engine"] == "baidu" and visit.source["search_keyword"] == "一建培训哪家好"
        assert visit.contact_id is not None and not visit.is_bot
        urls = list(session.scalars(select(PageView.url).where(PageView.visit_id == visit.id)
                                    .order_by(PageView.viewed_at)))
        assert [u.split("?")[0].removeprefix(site.origin) for u in urls] == ["/", "/courses", "/pricing"]
        contact = session.get(Contact, visit.contact_id)
        assert contact is not None and {"高意向", "职业教育"} <= set(contact.tags)
