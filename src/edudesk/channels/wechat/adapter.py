"""The WeChat Official Account adapter as the registry sees it: what it is called, what it can show, how long it
may write after the parent's last message, how it sends, and the routes WeChat calls."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel

from edudesk.channels.base import OutboundMessage, SendContext, SendResult
from edudesk.channels.wechat import inbound, outbound, routes
from edudesk.channels.wechat.config import WeChatConfig


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
        return routes.router
