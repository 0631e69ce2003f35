"""The ``phone`` channel: what a call robot's conversation is labelled with in the console, the lead card and the
reports. A call's words arrive as recognised speech (``edudesk.voice.robot`` calls the inbound orchestrator with
``channel="phone"``) and the bot's replies are spoken on the call, so nothing is ever *sent* through this
adapter: conversations on it have no inbox and get no outbox rows. An agent who wants to reach the parent after
the call calls them (telesales) or writes on a channel that carries text."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import BaseModel

from edudesk.channels.base import VOICE, ChannelSendError, OutboundMessage, SendContext, SendResult


class PhoneConfig(BaseModel):
    """No settings: the lines a call goes out on are the voice area's (admin → 语音 → 线路)."""


class PhoneChannel:
    kind: ClassVar[str] = "phone"
    label: ClassVar[str] = "电话"
    badge: ClassVar[str] = "电"
    config_model: ClassVar[type[BaseModel]] = PhoneConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({VOICE})
    reply_window: ClassVar[dt.timedelta | None] = None

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        raise ChannelSendError(
            "not_sendable", "电话渠道的消息只在通话中播报，不能事后发送；请回拨电话或通过其他渠道联系", retryable=False
        )
