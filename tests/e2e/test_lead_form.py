"""A landing-page lead form embedded on a page of another origin, in a real chromium: the institution's page (a
second server on another 127.0.0.1 port, with hostile CSS and ad parameters in its URL) loads the form's script
from edudesk; the parent makes a mistake, sees it beside the field, corrects it, submits and sees the success
message; the lead carries the ad's campaign and click id. The hosted page draws the same form under the staff CSP
without a violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect
from sqlalchemy import select

from edudesk.db import Database
from edudesk.leadforms.models import LeadFormSubmission, LeadFormView
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.sites import InstitutionSite
from tests.leadforms.conftest import make_form

TIMEOUT = 15_000
# What an institution's own stylesheet might do to anything it can reach: the form must not care.
HOST_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>暑期数学班 · 甲机构</title>
<style>input, select, button, label, h2, p { display: none !important; color: red !important; }
* { font-size: 4px !important; }</style></head>
<body><h1>暑期数学思维班</h1><p>限时免费试听</p>
<div data-edudesk-form="{public_id}"></div>
<script src="{edudesk}/f/{public_id}.js" async></script>
</body></html>"""


@pytest.fixture
def host_site() -> Iterator[InstitutionSite]:
    site = InstitutionSite().start()
    yield site
    site.stop()


def test_a_parent_fills_the_form_embedded_on_another_site(browser: Browser, live_server: LiveServer,
                                                          host_site: InstitutionSite, database: Database,
                                                          orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id, origins=host_site.origin, success_message="领取成功！老师今天会联系您。")
    assert host_site.origin != live_server.url  # another origin: the port differs
    host_site.html = HOST_PAGE.replace("{public_id}", form.public_id).replace("{edudesk}", live_server.url)
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT)
    problems: list[str] = []

    def watch(msg: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer; the one refused phone below is meant to get its 422.
        if msg.type == "error" and "status of 422" not in msg.text:
            problems.append(f"{msg.page.url if msg.page else ''}: {msg.text}")

    context.on("console", watch)
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        landing = f"{host_site.origin}/summer?utm_source=baidu&utm_medium=cpc&utm_campaign=summer-e2e&bd_vid=abc123"
        page.goto(landing)
        shadow = page.locator(f'[data-edudesk-form="{form.public_id}"]')
        expect(shadow.get_by_role("heading", name="免费领取试听课")).to_be_visible()
        name = shadow.get_by_label("家长称呼")
        phone = shadow.get_by_label("手机号")
        expect(name).to_be_visible()  # the host page's `display: none !important` does not reach into the form
        assert name.evaluate("el => getComputedStyle(el).fontSize") == "16px"

        name.fill("王妈妈")
        phone.fill("1234567")  # passes the form's own check; the server's says why not, beside the field
        shadow.get_by_label("年级").select_option("三年级")
        shadow.get_by_role("button", name="提交").click()
        phone_error = shadow.locator('[data-field="phone"] .edf-error')
        expect(phone_error).to_have_text("请填写正确的手机号")
        expect(phone).to_have_attribute("aria-invalid", "true")

        phone.fill("138 0013 8000")
        shadow.get_by_role("button", name="提交").click()
        expect(shadow.get_by_role("status")).to_have_text("领取成功！老师今天会联系您。")
        expect(shadow.locator("form")).to_have_count(0)

        with database.session() as session:
            lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
            values = {k: v.value for k, v in leads_service.values_of(session, lead).items()}
            sub = session.scalars(select(LeadFormSubmission)).one()
            views = session.scalars(select(LeadFormView.views)).one()
        assert lead.source_channel == "form" and lead.campaign == "summer-e2e"
        assert lead.attribution["bd_vid"] == "abc123" and lead.attribution["utm_source"] == "baidu"
        assert values == {"name": "王妈妈", "phone": "13800138000", "grade": "三年级"}
        assert sub.page_url == landing and sub.attribution["utm_medium"] == "cpc" and views == 1

        hosted = context.new_page()
        hosted.goto(f"{live_server.url}/f/{form.public_id}?utm_campaign=hosted")
        button = hosted.locator(f'[data-edudesk-form="{form.public_id}"]').get_by_role("button", name="提交")
        expect(button).to_be_visible()
        # Styled by the form's own sheet (adopted, so the staff CSP's style-src 'self' does not block it).
        assert button.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(37, 99, 235)"
        assert not problems, problems
    finally:
        context.close()
