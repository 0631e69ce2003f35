"""The app as `edudesk serve` runs it on SQLite (deliver on commit): a parent's question is answered through the fake
WeChat API by the process that stored the answer, with no job run; the jobs left are only the safety net's, done."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from edudesk import jobs
from edudesk.conversations.models import DeliveryState
from edudesk.db import Database
from edudesk.settings import Settings
from tests.channels.wechat.conftest import PARENT, Platform, deliveries
from tests.channels.wechat.fake_api import FakeWeChat


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"deliver_on_commit": True})


def test_the_answer_leaves_on_commit(app: FastAPI, database: Database, platform: Platform,
                                     fake_wechat: FakeWeChat) -> None:
    direct = app.state.deliver_on_commit
    assert direct is not None
    platform.say("你好", 9001)
    assert direct.wait_idle()
    platform.say("你好", 9001)  # WeChat's resend: stored once, answered once
    platform.say("学费多少", 9002)
    assert direct.wait_idle()
    rows = deliveries(database)
    assert rows and all(d.state == DeliveryState.sent for d in rows)
    assert len(fake_wechat.texts(PARENT)) == len(rows)
    with database.session() as session:
        statuses = set(session.scalars(select(jobs.Job.status).where(jobs.Job.kind == "channels.deliver")))
    assert statuses == {jobs.JobStatus.done}
