"""A channel that keeps what it sends in memory: the test double for every channel-facing test."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from edudesk.channels.base import OutboundMessage


class FakeConfig(BaseModel):
    fail_sends: bool = False


class FakeChannel:
    kind: ClassVar[str] = "fake"
    config_model: ClassVar[type[BaseModel]] = FakeConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"buttons"})

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> None:
        if self.config.fail_sends:
            raise ConnectionError("fake channel configured to fail")
        self.sent.append(message)
