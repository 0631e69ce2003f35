"""Fixtures of the large-model assist: the fake OpenAI-compatible server, settings that let the server call
127.0.0.1, and an org with an endpoint configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.llm import client as llm_client
from edudesk.llm.documents import service as documents_service
from edudesk.llm.models import LlmSettings
from edudesk.settings import Settings
from tests.conftest import TwoOrgs
from tests.llm.fake_openai import FakeOpenAI, Reply, Request
from tests.llm.samples import BROCHURE

APP_SECRET = "test-secret-" + "x" * 20


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The fake endpoint is on 127.0.0.1, which the SSRF policy refuses unless private hosts are allowed."""
    return settings.model_copy(update={"llm_allow_private": True})


@pytest.fixture
def llm(settings: Settings) -> Iterator[llm_client.LlmClient]:
    """A client of its own (tests that go through the app use the app's, ``app.state.ctx.llm``)."""
    made = llm_client.LlmClient.create(settings.secret_key, allow_private=True)
    yield made
    made.close()


ConfigureLlm = Callable[..., LlmSettings]


@pytest.fixture
def configure_llm(database: Database, settings: Settings, fake_openai: FakeOpenAI) -> ConfigureLlm:
    """Saves an enabled endpoint (the fake) for an org, straight into the table; keyword arguments override
    columns (``grounded_enabled=True``, ``monthly_token_budget=100`` …) and ``api_key`` is encrypted."""

    def configure(org_id: int, *, api_key: str = "sk-test", **columns: Any) -> LlmSettings:
        box = llm_client.secret_box(settings.secret_key)
        with database.session() as session:
            row = llm_client.settings_of(session, org_id) or LlmSettings(org_id=org_id)
            values: dict[str, Any] = {
                "base_url": fake_openai.base_url,
                "model": "fake-model",
                "enabled": True,
                "timeout_seconds": 2.0,
                "api_key_encrypted": box.encrypt(api_key) if api_key else "",
                **columns,
            }
            for key, value in values.items():
                setattr(row, key, value)
            session.add(row)
            session.commit()
            session.refresh(row)
            session.expunge(row)
        return row

    return configure


def upload(database: Database, org_id: int, text: str, name: str = "简章.md", **kwargs: Any) -> int:
    """Stores a Markdown document for the org through the service; returns its id."""
    with database.session() as session:
        version = documents_service.add_file(
            session, Actor(org_id, label="test"), filename=name, data=text.encode(), **kwargs
        )
        session.commit()
        return version.document_id


@pytest.fixture
def grounded_org(database: Database, orgs: TwoOrgs, configure_llm: ConfigureLlm) -> int:
    """Org A with the fake endpoint, grounded answers on and the brochure uploaded."""
    configure_llm(orgs.a.id, grounded_enabled=True)
    upload(database, orgs.a.id, BROCHURE)
    return orgs.a.id


def cite(request: Request, needle: str) -> int:
    """The number the prompt gave the passage containing ``needle``."""
    user = request.messages[-1]["content"]
    for block in user.split("\n\n["):
        head, _, _ = block.partition("]")
        if needle in block:
            return int(head.lstrip("<资料>\n["))
    raise AssertionError(f"no passage with {needle!r} in the prompt")


def answering(template: str, needle: str = "3600") -> Callable[[Request], Reply]:
    """A scripted model that answers ``template`` with {n} replaced by the number of the passage with ``needle``."""
    return lambda request: Reply(template.format(n=cite(request, needle)))
