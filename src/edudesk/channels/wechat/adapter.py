"""The WeChat Official Account adapter as the registry sees it: what it is called, what it can show, how long it
may write after the parent's last message, how it sends, and the routes WeChat calls."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from fastapi import APIRouter
from pydantic import BaseModel

from edudesk.channels.base import OutboundMessage, SendContext, SendResult
from edudesk.channels.wechat import admin_views, inbound, outbound, routes
from edudesk.channels.wechat.config import WeChatConfig
from edudesk.inboxes.models import Inbox


class WeChatChannel:
    kind: ClassVar[str] = "wechat"
    label: ClassVar[str] = "微信公众号"
    badge: ClassVar[str] = "公"
    config_model: ClassVar[type[BaseModel]] = WeChatConfig
    # Images and voice; no buttons (choices arrive as numbered lines and "1" picks), no realtime (everything goes
    # through ``send``). Declared in ``inbound``, which hands them to the orchestrator with every message.
    capabilities: ClassVar[frozenset[str]] = inbound.CAPABILITIES
    # Customer-service messages are allowed for 48 hours after the parent's last interaction.
    reply_window: ClassVar[dt.timedelta | None] = dt.timedelta(hours=48)

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        return outbound.send(ctx, message)

    @staticmethod
    def router() -> Any:
        """WeChat's callback URL and the account's admin pages (QR codes, the custom menu)."""
        combined = APIRouter()
        combined.include_router(routes.router)
        combined.include_router(admin_views.router)
        return combined

    @staticmethod
    def admin_links(inbox: Inbox) -> list[tuple[str, str]]:
        return admin_views.admin_links(inbox)
