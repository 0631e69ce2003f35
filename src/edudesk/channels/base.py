"""The Channel interface and its registry.

A channel adapter turns a provider's request into normalised ``InboundMessage``s and sends normalised
``OutboundMessage``s. Adapters register through the ``edudesk.channels`` entry-point group; a broken adapter
stops start-up with its name and error instead of disappearing silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

ENTRY_POINT_GROUP = "edudesk.channels"


@dataclass(frozen=True)
class InboundMessage:
    org_id: int
    channel: str
    external_user_id: str
    client_message_id: str | None
    text: str = ""
    attachment_id: int | None = None
    # A clicked button's payload: what the bot acts on, while ``text`` (the button's label) is what is stored.
    payload: str | None = None
    page_url: str | None = None
    page_title: str | None = None
    referrer: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    org_id: int
    channel: str
    external_user_id: str
    text: str
    buttons: tuple[dict[str, str], ...] = ()
    attachment_url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChannelAdapter(Protocol):
    kind: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    # e.g. {"realtime", "typing", "attachments", "buttons", "csat"}
    capabilities: ClassVar[frozenset[str]]

    def send(self, message: OutboundMessage) -> None: ...


class ChannelLoadError(RuntimeError):
    pass


class ChannelRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, type[ChannelAdapter]] = {}

    def register(self, adapter: type[ChannelAdapter]) -> None:
        kind = getattr(adapter, "kind", None)
        if not kind or not isinstance(kind, str):
            raise ChannelLoadError(f"channel adapter {adapter!r} declares no kind")
        for attr in ("config_model", "capabilities", "send"):
            if not hasattr(adapter, attr):
                raise ChannelLoadError(f"channel adapter {kind!r} lacks {attr}")
        if kind in self._adapters and self._adapters[kind] is not adapter:
            raise ChannelLoadError(f"two channel adapters claim kind {kind!r}")
        self._adapters[kind] = adapter

    def load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                adapter = ep.load()
            except Exception as exc:
                raise ChannelLoadError(f"channel {ep.name!r} failed to load: {exc}") from exc
            self.register(adapter)

    def get(self, kind: str) -> type[ChannelAdapter]:
        try:
            return self._adapters[kind]
        except KeyError:
            raise ChannelLoadError(f"no channel adapter of kind {kind!r}") from None

    @property
    def kinds(self) -> list[str]:
        return sorted(self._adapters)
