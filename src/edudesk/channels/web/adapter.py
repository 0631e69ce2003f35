"""The web chat widget channel. Outbound messages reach the widget through the realtime hub, which pushes
every ``message.created`` event to the visitor's socket, so ``send`` has nothing to do beyond that."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from edudesk.channels.base import OutboundMessage
from edudesk.channels.web import routes


class WebConfig(BaseModel):
    allowed_origins: list[str] = []


class WebChannel:
    kind: ClassVar[str] = "web"
    config_model: ClassVar[type[BaseModel]] = WebConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"realtime", "typing", "attachments", "buttons", "csat"})

    def __init__(self, config: WebConfig | None = None) -> None:
        self.config = config or WebConfig()

    def send(self, message: OutboundMessage) -> None:
        return None

    @staticmethod
    def router() -> Any:
        """The widget's HTTP and WebSocket routes, mounted by the app factory for every registered channel."""
        return routes.router
