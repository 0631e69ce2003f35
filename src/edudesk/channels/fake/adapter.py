"""A channel that keeps what it sends in memory: the test double for every channel-facing test, and the worked
example of docs/channels.md. It has no buttons, so choices go to it as numbered lines, and a reply window that a
test may shorten."""

from __future__ import annotations

import datetime as dt
import threading
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr

from edudesk.channels.base import (
    IMAGES,
    ChannelSendError,
    OutboundMessage,
    OutsideReplyWindow,
    SendContext,
    SendResult,
)


class FakeConfig(BaseModel):
    account: str = Field("demo", title="账号", max_length=64)
    api_key: SecretStr = Field(SecretStr(""), title="密钥")
    # Test switches: every send fails (as a provider outage would), or fails for good (a blocked user).
    fail_sends: bool = Field(False, title="发送失败（测试用）")
    refuse_sends: bool = Field(False, title="拒绝发送（测试用）")
    template_fallback: bool = Field(False, title="超出回复时间时改发模板消息")


class FakeChannel:
    kind: ClassVar[str] = "fake"
    label: ClassVar[str] = "测试渠道"
    badge: ClassVar[str] = "测"
    config_model: ClassVar[type[BaseModel]] = FakeConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({IMAGES})
    reply_window: ClassVar[dt.timedelta | None] = dt.timedelta(hours=48)

    # Every message any fake inbox sent, in order, shared by the process (tests read and clear it).
    sent: ClassVar[list[tuple[int, OutboundMessage]]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        config = ctx.inbox.config
        assert isinstance(config, FakeConfig)
        if config.refuse_sends:
            raise ChannelSendError("refused", "对方已拒收消息", retryable=False)
        if config.fail_sends:
            raise ChannelSendError("unavailable", "测试渠道暂时不可用")
        if message.outside_window and not config.template_fallback:
            raise OutsideReplyWindow()
        with self._lock:
            self.sent.append((ctx.inbox.id, message))
            number = len(self.sent)
        return SendResult(external_message_id=f"fake-{number}",
                          via="template" if message.outside_window else "message")
