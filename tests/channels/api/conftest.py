"""API channel fixtures: the adapter registered (before and after its entry point is installed), an API inbox
connected through the admin page with its one-time secret, tokens, and running every job as a worker would."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from edudesk import jobs
from edudesk.apitokens import service as apitokens_service
from edudesk.audit.service import Actor
from edudesk.channels.api.adapter import ApiChannel
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import ChannelDelivery, DeliveryState
from edudesk.db import Database, utcnow
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.settings import Settings
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import UNFINISHED, WebhookDelivery
from tests.conftest import csrf_from, login

EXAMPLE = Path(__file__).resolve().parents[3] / "docs/examples/api_channel_client.py"
ONCE_RE = re.compile(r'<code class="once-value">([^<]+)</code>')
URL_RE = re.compile(r'<code id="callback-url" class="url">[^<]*/api/v1/channels/([A-Za-z0-9_-]+)/messages</code>')
TOKEN_RE = re.compile(r"<code>(edk_[^<]+)</code>")


def example() -> ModuleType:
    """docs/examples/api_channel_client.py, imported from its file (the documentation is what is tested)."""
    name = "api_channel_client_example"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": True})


def register(app: FastAPI) -> FastAPI:
    """The adapter as its entry point registers it once installed (the tests run before and after that)."""
    reg = app.state.ctx.channels
    if not reg.has("api"):
        reg.register(ApiChannel)
        app.include_router(ApiChannel.router())
        templates = app.state.ctx.templates
        templates.env.globals["channel_labels"] = {**templates.env.globals["channel_labels"], **reg.labels()}
        templates.env.globals["channel_badges"] = reg.badges()
    return app


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return register(app)


@dataclass
class ApiInbox:
    id: int
    public_id: str
    secret: str
    endpoint_id: int


def connect_inbox(client: Any, callback_url: str, *, name: str = "小程序", org: str = "alpha") -> ApiInbox:
    """An admin connects an API inbox on /admin/channels: the page that answers shows the secret once."""
    login(client, org, "admin")
    csrf = csrf_from(client.get("/admin/channels/new/api").text)
    resp = client.post("/admin/channels/new/api", data={"name": name, "callback_url": callback_url,
                                                        "description": "小程序后端", "csrf_token": csrf})
    assert resp.status_code == 200, resp.text
    secrets_shown, public = ONCE_RE.findall(resp.text), URL_RE.search(resp.text)
    assert len(secrets_shown) == 1 and secrets_shown[0].startswith("whsec_") and public is not None
    inbox_id = int(re.search(r'action="/admin/channels/(\d+)"', resp.text).group(1))  # type: ignore[union-attr]
    endpoint = re.search(r'href="/admin/webhooks/(\d+)"', resp.text)
    assert endpoint is not None
    return ApiInbox(inbox_id, public.group(1), secrets_shown[0], int(endpoint.group(1)))


def make_inbox(db: Database, app: FastAPI, org_id: int, callback_url: str = "http://127.0.0.1:9/hook", *,
               name: str = "小程序") -> ApiInbox:
    """An API inbox made through the same service calls and hook the admin page uses (faster than the page)."""
    ctx = app.state.ctx
    box = inboxes_service.secret_box(ctx.settings.secret_key)
    with db.session() as session:
        actor = Actor(org_id, label="t")
        inbox = inboxes_service.create(session, actor, ApiChannel, box, name=name,
                                       data={"callback_url": callback_url})
        once = inboxes_service.provision(session, actor, ctx.channels.adapter("api"), inbox, box,
                                         ctx.channels.services, created=True)
        session.commit()
        return ApiInbox(inbox.id, inbox.public_id, next(iter(once.values())), inbox.state["endpoint_id"])


def make_token(db: Database, org_id: int, scopes: list[str] | None = None) -> dict[str, str]:
    with db.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(org_id, label="t"), name="小程序",
                                                scopes=scopes or ["channels:write"])
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def inbox_row(db: Database, inbox_id: int) -> Inbox:
    with db.session() as session:
        row = session.scalars(select(Inbox).where(Inbox.id == inbox_id)).one()
        session.expunge(row)
        return row


def seed_kb(db: Database, org_id: int, answer: str = "一年级数学每期 3600 元，共 16 课时。") -> None:
    with db.session() as session:
        kb_service.create_entry(session, Actor(org_id, label="t"), EntryInput(
            question="学费多少钱？", similar=["学费多少", "收费标准", "一期多少钱"], answer=answer,
            images=["/static/demo/price.png"]))
        session.commit()


DELIVERY_JOBS = (webhooks_service.DELIVER_JOB, conversations_service.DELIVER_JOB)


def fast_forward(db: Database) -> None:
    """Makes every scheduled delivery retry due now: the test's stand-in for waiting minutes (other timers, such as
    the queue timeout, keep their time)."""
    past = utcnow() - dt.timedelta(seconds=1)
    with db.session() as session:
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending,
                                               jobs.Job.kind.in_(DELIVERY_JOBS)).values(run_at=past))
        session.execute(update(WebhookDelivery).where(WebhookDelivery.status.in_(UNFINISHED))
                        .values(next_attempt_at=past))
        session.execute(update(ChannelDelivery).where(ChannelDelivery.state.in_(
            (DeliveryState.pending, DeliveryState.sending))).values(next_attempt_at=past))
        session.commit()


def run_jobs(db: Database, app: FastAPI, *, retries: bool = False, deadline_seconds: float = 60.0) -> None:
    """Runs due jobs (channel deliveries and webhook deliveries) until none is left; with ``retries``, scheduled
    retries are made due too. The deadline only stops a broken test from hanging."""
    worker = jobs.Worker(db, app.state.ctx.jobs, worker_id="t")
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        while worker.run_pending(limit=50):
            pass
        if not retries:
            return
        fast_forward(db)
        with db.session() as session:
            left = session.query(jobs.Job).filter(jobs.Job.status == jobs.JobStatus.pending,
                                                  jobs.Job.kind.in_(DELIVERY_JOBS)).count()
        if not left:
            return
    raise AssertionError("jobs did not settle")
