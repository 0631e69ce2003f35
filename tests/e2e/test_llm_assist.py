"""The suggested reply (AI 建议回复) in a real browser: it appears under the reply box with the guardrail's warning,
"填入回复框" puts it into the box for the agent to edit, and nothing reaches the parent until the agent sends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from edudesk.conversations.models import Message, SenderKind
from edudesk.db import Database
from edudesk.llm import client as llm_client
from edudesk.llm.models import LlmSettings
from edudesk.settings import Settings
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login
from tests.llm.assist.conftest import serve
from tests.llm.fake_openai import FakeOpenAI, Reply

SUGGESTION = "您好，一对一每课时 200 元，本周报名立减 500 元。"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"llm_allow_private": True})  # the fake endpoint is on 127.0.0.1


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    started = FakeOpenAI().start()
    yield started
    started.stop()


def test_suggested_reply_fills_the_box(
    contexts: tuple[BrowserContext, BrowserContext],
    live_server: LiveServer,
    orgs: TwoOrgs,
    database: Database,
    fake: FakeOpenAI,
    settings: Settings,
) -> None:
    with database.session() as session:
        session.add(
            LlmSettings(
                org_id=orgs.a.id,
                base_url=fake.base_url,
                model="fake-model",
                enabled=True,
                api_key_encrypted=llm_client.secret_box(settings.secret_key).encrypt("sk-e2e"),
            )
        )
        session.commit()
    conv = serve(
        live_server.server.config.app.state.ctx.db, orgs.a.id, orgs.a.users["agent"], [("v", "一对一怎么收费？")]
    )
    fake.respond_with(lambda request: Reply(SUGGESTION))
    _, agent_ctx = contexts
    console = agent_ctx.new_page()
    agent_login(console, live_server.url)
    console.goto(f"{live_server.url}/console?c={conv}")
    expect(console.locator("#ws-status.online")).to_have_count(1, timeout=TIMEOUT)
    # The socket's hello reloads the chat pane once just after it opened (as in test_workspace): a click on the
    # old pane, or a suggestion shown in it, can be swept away; an agent would click again, and so does this.
    reply_box = console.locator("#composer textarea[name=text]")
    for _attempt in range(3):
        with contextlib.suppress(AssertionError, PlaywrightTimeoutError):
            console.get_by_role("button", name="AI 建议回复").click(timeout=TIMEOUT // 3)
            box = console.locator("#ai-suggestion")
            expect(box.locator(".ai-suggestion-text")).to_have_value(SUGGESTION, timeout=TIMEOUT // 3)
            expect(box.locator("[data-testid=ai-warnings]")).to_contain_text("500")
            box.get_by_role("button", name="填入回复框").click(timeout=TIMEOUT // 3)
            expect(reply_box).to_have_value(SUGGESTION, timeout=TIMEOUT // 3)
            break
    expect(reply_box).to_have_value(SUGGESTION, timeout=TIMEOUT)
    with database.session() as session:  # filled, not sent
        sent = session.scalars(
            select(Message.text).where(Message.conversation_id == conv, Message.sender == SenderKind.agent)
        ).all()
    assert SUGGESTION not in sent
