"""Fixtures of the WeChat admin pages: a fake WeChat API, the app pointed at it, and a WeChat inbox per org.

Until the WeChat adapter is merged, a stand-in adapter of kind "wechat" (the same config field names) is
registered and the admin router included; once the real adapter is registered (entry point) and its ``router()``
includes the admin pages, these fixtures use it as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field, SecretStr

from edudesk.audit.service import Actor
from edudesk.channels.base import ChannelSendError, OutboundMessage, SendContext, SendResult
from edudesk.channels.wechat import admin_views
from edudesk.channels.wechat.admin_api import APPID_FIELDS, SECRET_FIELDS
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.settings import Settings
from tests.channels.wechat_admin.fake_wechat import APPID, SECRET, FakeWeChat
from tests.conftest import TwoOrgs

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's EncodingAESKey


class StandInConfig(BaseModel):
    app_id: str = Field("", title="AppID")
    app_secret: SecretStr = Field(SecretStr(""), title="AppSecret")
    token: str = Field("", title="Token")


class StandInWeChat:
    """Only what the admin pages need of the adapter: its kind, config model, router and links."""

    kind: ClassVar[str] = "wechat"
    label: ClassVar[str] = "微信公众号"
    badge: ClassVar[str] = "公"
    config_model: ClassVar[type[BaseModel]] = StandInConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()
    reply_window: ClassVar[dt.timedelta | None] = dt.timedelta(hours=48)

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        raise ChannelSendError("stand_in", "the stand-in adapter sends nothing", retryable=False)

    @staticmethod
    def admin_links(inbox: Any) -> list[tuple[str, str]]:
        return admin_views.admin_links(inbox)


def config_data(model: type[BaseModel]) -> dict[str, Any]:
    """Settings for a WeChat inbox of whichever config model is registered: the fake API's AppID and AppSecret
    under the model's names for them, and plausible values for its other required text fields."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in APPID_FIELDS:
            data[name] = APPID
        elif name in SECRET_FIELDS:
            data[name] = SECRET
        elif "aes" in name:
            data[name] = AES_KEY
        elif name == "token" or info.is_required():
            data[name] = "tokentoken"
    return data


def _has_admin_routes(app: FastAPI) -> bool:
    paths: set[str] = set()
    for route in app.routes:
        if hasattr(route, "path"):
            paths.add(route.path)
        elif hasattr(route, "effective_route_contexts"):
            paths.update(ctx.path or ctx.original_route.path for ctx in route.effective_route_contexts())
    return "/admin/channels/{inbox_id}/wechat/menu" in paths


@pytest.fixture
def wechat_api() -> Iterator[FakeWeChat]:
    fake = FakeWeChat().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(settings: Settings, wechat_api: FakeWeChat) -> Settings:
    return settings.model_copy(update={"wechat_api_base": wechat_api.url, "wechat_mp_base": wechat_api.url})


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    registry = app.state.ctx.channels
    if not registry.has("wechat"):
        registry.register(StandInWeChat)
        app.state.ctx.templates.env.globals["channel_labels"] = {
            **app.state.ctx.templates.env.globals.get("channel_labels", {}), "wechat": StandInWeChat.label}
    if not _has_admin_routes(app):
        app.include_router(admin_views.router)
    return app


def make_inbox(database: Database, app: FastAPI, org_id: int, name: str = "阿尔法公众号") -> int:
    adapter = app.state.ctx.channels.get("wechat")
    with database.session() as session:
        inbox = inboxes_service.create(session, Actor(org_id, label="test"), adapter,
                                       inboxes_service.secret_box(app.state.ctx.settings.secret_key), name=name,
                                       data=config_data(adapter.config_model))
        session.commit()
        return inbox.id


@pytest.fixture
def inboxes(database: Database, app: FastAPI, orgs: TwoOrgs) -> tuple[int, int]:
    """A WeChat inbox of org A and one of org B."""
    return make_inbox(database, app, orgs.a.id), make_inbox(database, app, orgs.b.id, "贝塔公众号")
