"""The web chat widget channel. Outbound messages reach the widget through the realtime hub, which pushes
every ``message.created`` event to the visitor's socket, so ``send`` is never called for it (REALTIME)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from fastapi import APIRouter
from pydantic import BaseModel

from edudesk.channels import base
from edudesk.channels.base import OutboundMessage, SendContext, SendResult
from edudesk.channels.web import beacon, routes
from edudesk.shortcuts import Shortcut


class WebConfig(BaseModel):
    allowed_origins: list[str] = []


class WebChannel:
    kind: ClassVar[str] = "web"
    label: ClassVar[str] = "网页"
    badge: ClassVar[str] = "网"
    config_model: ClassVar[type[BaseModel]] = WebConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({
        base.REALTIME, base.TYPING, base.ATTACHMENTS, base.BUTTONS, base.CSAT, base.RICH_TEXT, base.IMAGES})
    reply_window: ClassVar[dt.timedelta | None] = None

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        return SendResult()

    @staticmethod
    def router() -> Any:
        """The widget's HTTP and WebSocket routes, mounted by the app factory for every registered channel."""
        combined = APIRouter()
        combined.include_router(routes.router)
        combined.include_router(beacon.router)
        return combined

    @staticmethod
    def shortcuts() -> list[Shortcut]:
        """The page-view beacon, the hottest request of all, skips what does not change its answer."""
        return [beacon.SHORTCUT]
