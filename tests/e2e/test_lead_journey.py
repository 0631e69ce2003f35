"""Issue 5 end to end in a real browser: a parent asks the price, the K12 script collects grade, subject, name and
phone, offers this weekend's trial classes, the parent clicks one — and the lead is graded A, booked, and the
CRM's receiver gets a signed trial.booked webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot.flows.templates import K12_FLOW
from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.leads.models import Lead, LeadStatus
from edudesk.settings import Settings
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.signing import verify
from edudesk.webhooks.urls import UrlPolicy
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_widget import Widget
from tests.trials import factories
from tests.webhooks.conftest import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": True, "run_jobs_in_process": True,
                                       "worker_poll_seconds": 0.2})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_a_parent_becomes_a_graded_lead_with_a_booked_trial(browser: Browser, live_server: LiveServer,
                                                          database: Database, orgs: TwoOrgs, settings: Settings,
                                                          receiver: Receiver) -> None:
    actor = Actor(orgs.a.id, label="test")
    with database.session() as session:
        kb_service.create_entry(session, actor, EntryInput(
            question="学费多少？", similar=["一期多少钱", "价格是多少", "怎么收费"],
            answer="数学思维课每期 3600 元（16 课时）。"))
        scripts.save_flow(session, actor, json.dumps(K12_FLOW, ensure_ascii=False))
        _, secret = webhooks_service.create_endpoint(
            session, actor, webhooks_service.secret_box(settings.with_secret().secret_key),
            UrlPolicy(allow_private=True),
            webhooks_service.EndpointInput(receiver.url, ["lead.created", "trial.booked"], "CRM"))
        session.commit()
    course_id, campus_id = factories.catalog(database, orgs.a.id, course="小学数学思维提高班", subject="数学")
    factories.trial(database, orgs.a.id, course_id, campus_id)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    widget = Widget(context, live_server.url)
    page = widget.open()
    bot = page.locator(".edk-msg-bot")
    widget.send("学费多少？")
    expect(bot.filter(has_text="每期 3600 元")).to_have_count(1)
    expect(bot.last).to_contain_text("几年级")
    widget.send("三年级")
    expect(bot.last).to_contain_text("哪门课程")
    bot.last.locator(".edk-chip", has_text="数学思维").click()
    expect(bot.last).to_contain_text("怎么称呼您")
    widget.send("王妈妈")
    expect(bot.last).to_contain_text("手机号")
    widget.send("138 0013 8000")
    offer = bot.filter(has_text="免费试听课").last
    session_chip = offer.locator(".edk-chip").first
    expect(session_chip).to_contain_text("数学")
    session_chip.click()
    expect(bot.filter(has_text="已为您预约")).to_have_count(1)
    expect(page.locator(".edk-msg-visitor").last).not_to_contain_text("trial:")  # the label, not the payload
    assert not widget.page_errors
    context.close()

    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == orgs.a.id)).one()
        assert lead.status == LeadStatus.trial_booked and lead.level == "A", lead.score_reasons
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(r.json["type"] == "trial.booked" for r in receiver.accepted()):
        time.sleep(0.2)
    booked = [r for r in receiver.accepted() if r.json["type"] == "trial.booked"]
    assert len(booked) == 1, [r.json["type"] for r in receiver.requests]
    hit = booked[0]
    assert verify(secret, hit.headers["x-edudesk-timestamp"], hit.body, hit.headers["x-edudesk-signature"])
    assert next(r.json["type"] for r in receiver.accepted()) == "lead.created"
