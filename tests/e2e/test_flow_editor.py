"""The bot-script form editor in a real browser: an admin opens a demo-like script, inserts a question for the
phone number between two steps, changes a keyword trigger and saves; the stored script has the new step in its
place and a new version, and everything the admin did not touch is stored exactly as before. A save whose jump
target no longer exists is refused with the problem beside the step; hostile step text stays text; without
JavaScript the JSON textarea still edits the script."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.db import Database
from tests.conftest import PASSWORD, LiveServer, TwoOrgs
from tests.e2e.test_handover import agent_login

TIMEOUT = 10_000
# The K12 demo script without its phone question: the admin is about to add one after "name".
DEMO_LIKE: dict[str, Any] = {**K12_FLOW, "steps": [s for s in K12_FLOW["steps"] if s["id"] != "phone"]}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # "删除这一步？"
    yield page
    context.close()


def seed(database: Database, org_id: int, flow: dict[str, Any]) -> int:
    with database.session() as session:
        row = scripts.save_flow(session, Actor(org_id, label="test"), json.dumps(flow, ensure_ascii=False))
        session.commit()
        return row.id


def stored(database: Database, org_id: int) -> tuple[int, dict[str, Any]]:
    with database.session() as session:
        (row,) = scripts.list_flows(session, org_id)
        return row.version, dict(row.definition)


def test_admin_inserts_a_step_changes_a_trigger_and_saves(page: Page, live_server: LiveServer, orgs: TwoOrgs,
                                                          database: Database) -> None:
    flow_id = seed(database, orgs.a.id, DEMO_LIKE)
    _, before = stored(database, orgs.a.id)
    base = live_server.url
    agent_login(page, base, username="admin")
    page.goto(f"{base}/admin/bot/flows/{flow_id}")

    # The form is filled from the stored JSON; the JSON textarea is the "advanced" tab.
    cards = page.locator(".fe-card")
    expect(cards).to_have_count(len(DEMO_LIKE["steps"]), timeout=TIMEOUT)
    expect(page.locator('[data-pane="form"] [data-f="name"]').first).to_have_value(K12_FLOW["name"])
    expect(page.locator("textarea[name=definition]")).to_be_hidden()
    keywords = page.locator(".fe-trigger").first.locator('[data-f="keywords"]')
    expect(keywords).to_have_value("，".join(K12_FLOW["triggers"][0]["keywords"]))

    # Insert a phone question below "name" (so between "name" and "trial").
    page.locator('.fe-card[data-step-id="name"]').get_by_role("button", name="在下方插入").click()
    expect(cards).to_have_count(len(DEMO_LIKE["steps"]) + 1)
    new = cards.nth(6)
    new.locator('[data-f="kind"]').select_option("ask_field")
    new.locator('[data-f="id"]').fill("phone")
    new.locator('[data-f="field"]').select_option("phone")
    new.locator('[data-f="alternatives"]').fill("wechat")
    new.locator('[data-f="prompt"]').fill("方便留一个手机号吗？老师会帮您安排免费试听课～")
    new.locator('[data-f="on_fail"]').select_option("end")
    expect(page.locator('.fe-card[data-step-id="phone"]')).to_have_count(1)

    # Change the keyword trigger: chips follow the text.
    keywords.fill("试听，报名、暑假班")
    expect(page.locator(".fe-trigger").first.locator(".fe-chips .chip")).to_have_text(["试听", "报名", "暑假班"])

    page.locator("#flow-form button.primary").click()
    expect(page.locator(".notice")).to_contain_text("第 2 版", timeout=TIMEOUT)
    expect(cards).to_have_count(len(DEMO_LIKE["steps"]) + 1)

    version, after = stored(database, orgs.a.id)
    assert version == 2 and after["version"] == 2
    ids = [s["id"] for s in after["steps"]]
    assert ids == ["hello", "grade", "stage", "subject_primary", "subject_secondary", "name", "phone", "trial",
                   "thanks_booked", "thanks_later"]
    phone = after["steps"][6]
    assert (phone["kind"], phone["field"], phone["alternatives"], phone["on_fail"]) == (
        "ask_field", "phone", ["wechat"], "end")
    assert phone["prompt"] == "方便留一个手机号吗？老师会帮您安排免费试听课～" and phone["skip_if_known"] is True
    assert after["triggers"][0]["keywords"] == ["试听", "报名", "暑假班"]
    # What the admin did not touch went through the form and back unchanged.
    assert after["steps"][:6] + after["steps"][7:] == before["steps"]
    assert after["triggers"][1:] == before["triggers"][1:]
    assert {k: v for k, v in after.items() if k not in ("steps", "triggers", "version")} == {
        k: v for k, v in before.items() if k not in ("steps", "triggers", "version")}

    # Delete the step "subject_primary" jumps to: its "then" is marked, and the save is refused beside it.
    page.locator('.fe-card[data-step-id="name"]').get_by_role("button", name="删除步骤").click()
    expect(cards).to_have_count(len(DEMO_LIKE["steps"]))
    jump = page.locator('.fe-card[data-step-id="subject_primary"] > .fe-next select')
    expect(jump).to_have_class(re.compile("fe-dangling"))
    expect(jump.locator("option:checked")).to_have_text("name（不存在）")
    page.locator("#flow-form button.primary").click()

    expect(page.locator("#flow-problems")).to_contain_text("跳转目标「name」不存在", timeout=TIMEOUT)
    card = page.locator('.fe-card[data-step-id="subject_primary"]')
    expect(card).to_have_class(re.compile("fe-card-invalid"))
    expect(card.locator(".fe-next + .fe-msg")).to_have_text("跳转目标「name」不存在")
    expect(card.locator("> .fe-next select")).to_have_attribute("aria-invalid", "true")
    expect(cards).to_have_count(len(DEMO_LIKE["steps"]))  # the form comes back as submitted
    assert stored(database, orgs.a.id)[0] == 2  # nothing saved


def test_hostile_text_stays_text_and_the_json_tab_round_trips(page: Page, live_server: LiveServer, orgs: TwoOrgs,
                                                             database: Database) -> None:
    hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    steps = [{**DEMO_LIKE["steps"][0], "text": hostile}, *DEMO_LIKE["steps"][1:]]
    flow_id = seed(database, orgs.a.id, {**DEMO_LIKE, "name": "<b>试听</b>", "steps": steps})
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    base = live_server.url
    agent_login(page, base, username="supervisor")
    page.goto(f"{base}/admin/bot/flows/{flow_id}")

    hello = page.locator('.fe-card[data-step-id="hello"]')
    expect(hello.locator('[data-f="text"]')).to_have_value(hostile, timeout=TIMEOUT)
    expect(page.locator("img[src=x]")).to_have_count(0)

    # Edit the name in the JSON tab; back in the form it shows, and a step changes kind keeping its text.
    page.get_by_role("tab", name="高级：JSON").click()
    definition = page.locator("textarea[name=definition]")
    expect(definition).to_be_visible()
    data = json.loads(definition.input_value())
    assert data["steps"][0]["text"] == hostile and data["name"] == "<b>试听</b>"
    definition.fill(json.dumps({**data, "name": "试听邀约"}, ensure_ascii=False))
    page.get_by_role("tab", name="表单").click()
    expect(page.locator('[data-pane="form"] [data-f="name"]').first).to_have_value("试听邀约")
    hello.locator('[data-f="kind"]').select_option("end")
    expect(hello.locator('[data-f="text"]')).to_have_value(hostile)

    # Broken JSON stays in its tab with a message.
    page.get_by_role("tab", name="高级：JSON").click()
    definition.fill("{坏")
    page.get_by_role("tab", name="表单").click()
    expect(page.locator(".fe-tab-error")).to_contain_text("JSON 格式有误")
    expect(definition).to_be_visible()
    assert dialogs == []


def test_without_javascript_the_json_textarea_is_the_editor(browser: Browser, live_server: LiveServer,
                                                           orgs: TwoOrgs, database: Database) -> None:
    flow_id = seed(database, orgs.a.id, DEMO_LIKE)
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        base = live_server.url
        page.goto(f"{base}/login")
        page.fill("input[name=org]", "alpha")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{base}/admin/bot/flows/{flow_id}")
        expect(page.locator("#flow-editor")).to_be_hidden()
        definition = page.locator("textarea[name=definition]")
        expect(definition).to_be_visible()
        data = json.loads(definition.input_value())
        definition.fill(json.dumps({**data, "name": "无脚本也能改"}, ensure_ascii=False))
        page.locator("#flow-form button.primary").click()
        expect(page.locator(".notice")).to_contain_text("第 2 版", timeout=TIMEOUT)
    finally:
        context.close()
    version, after = stored(database, orgs.a.id)
    assert version == 2 and after["name"] == "无脚本也能改"
