"""The Channel contract and its registry.

A channel adapter turns a provider's traffic into normalised ``InboundMessage``s (its own routes, which then call
the inbound orchestrator) and sends normalised ``OutboundMessage``s (``send``, called by the delivery job for
every bot, agent and visitor-facing system message of a conversation on one of its inboxes). It declares what
the channel can show (``capabilities``) and how long after the visitor's last message it may still write
(``reply_window``); the conversation, bot, lead and routing areas learn nothing else about it.

Adapters register through the ``edudesk.channels`` entry-point group; a broken adapter stops start-up with its
name and error instead of disappearing silently. See docs/channels.md for how to write one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ENTRY_POINT_GROUP = "edudesk.channels"

# What a channel can show or carry. A channel without BUTTONS gets choices as numbered lines ("回复 1 …") and
# the visitor's "1" or the label's words pick them; without REALTIME, messages go out through ``send``.
REALTIME = "realtime"  # pushed to an open socket by the realtime hub (the web widget): ``send`` is not called
TYPING = "typing"
RICH_TEXT = "rich_text"  # links and line breaks render; otherwise plain text
BUTTONS = "buttons"
IMAGES = "images"
VOICE = "voice"
FILES = "files"
CSAT = "csat"  # the satisfaction survey renders as a form; otherwise it is asked as numbered lines
ATTACHMENTS = "attachments"  # the visitor can upload files through the channel's own UI
KNOWN_CAPABILITIES = frozenset({REALTIME, TYPING, RICH_TEXT, BUTTONS, IMAGES, VOICE, FILES, CSAT, ATTACHMENTS})


def identity_kind(kind: str, inbox_id: int | None) -> str:
    """How a contact's identity on a connected account is keyed: an openid means something only within one
    Official Account, so each inbox is its own identity space ("wechat:3"); the web widget's is plain "web"."""
    return kind if inbox_id is None else f"{kind}:{inbox_id}"


@dataclass(frozen=True)
class InboundMedia:
    """A file the visitor sent through a channel (a WeChat image or voice note), already fetched by the adapter;
    the orchestrator stores it as the message's attachment once the contact is known."""

    content: bytes
    content_type: str
    filename: str = ""


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
    # The connected account (inbox) the message came through; None for the web widget.
    inbox_id: int | None = None
    # Other identities of the same person on this org's channels (a WeChat unionid shared by the org's Official
    # Account and WeCom customer service): ``(identity kind, id)``; any one already known picks the contact.
    aliases: tuple[tuple[str, str], ...] = ()
    media: InboundMedia | None = None
    # Where the visitor came from, for the lead card and reports: a QR code's scene, a 微信客服 link's scene, an
    # ad's campaign. ``attribution`` holds the details (utm_*, click ids, scene parameters).
    campaign: str | None = None
    attribution: dict[str, str] = field(default_factory=dict)
    # The adapter's capabilities: without BUTTONS a visitor's "1" picks the first choice of the last offer.
    capabilities: frozenset[str] = frozenset({BUTTONS})


@dataclass(frozen=True)
class OutboundAttachment:
    path: Path
    content_type: str
    filename: str


@dataclass(frozen=True)
class OutboundMessage:
    org_id: int
    channel: str
    external_user_id: str
    text: str
    buttons: tuple[dict[str, str], ...] = ()
    attachment_url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    attachment: OutboundAttachment | None = None
    # Set for a message sent outside the reply window that the adapter may still deliver by other means (a WeChat
    # template message); ``send`` raises OutsideReplyWindow when it cannot.
    outside_window: bool = False
    # Unique per outbound message: the idempotency key an adapter passes to providers that accept one.
    delivery_key: str = ""
    sender: str = "bot"  # "bot", "agent" or "system"
    sender_name: str = ""


@dataclass(frozen=True)
class SendResult:
    external_message_id: str | None = None
    # "template" when a message outside the reply window went out as a template message instead.
    via: str = "message"


class ChannelSendError(Exception):
    """A send that failed. ``retryable`` (the default): the provider or the network failed and the delivery is
    tried again later, in order; otherwise the message can never go out this way (blocked by the user, bad
    configuration) and the agents are told."""

    def __init__(self, code: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class OutsideReplyWindow(ChannelSendError):
    """The visitor's last message is older than the channel's reply window and no fallback was configured."""

    def __init__(self, message: str = "超出平台允许的回复时间，无法送达") -> None:
        super().__init__("outside_reply_window", message, retryable=False)


@dataclass(frozen=True)
class InboxInfo:
    """The connected account a message goes out through, with its settings decrypted for the adapter."""

    id: int
    org_id: int
    kind: str
    public_id: str
    name: str
    config: BaseModel


@dataclass
class ChannelServices:
    """What adapters share across requests and jobs, built once by the app factory: its settings, a pooled HTTP
    client, Redis (for tokens shared by every instance; None on the embedded setup) and the upload folder."""

    settings: Any
    http: Any  # httpx.Client
    redis: Any = None  # redis.Redis | None
    upload_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendContext:
    inbox: InboxInfo
    services: ChannelServices
    # The delivery job's database session, for adapters whose sending is itself a database write (the API
    # channel queues a signed webhook delivery in the same transaction).
    session: Session | None = None


@dataclass(frozen=True)
class InboxChange:
    """An admin connected, reconfigured or is removing one of the adapter's inboxes: what the adapter's optional
    ``provision`` and ``deprovision`` hooks get. They run inside the transaction of that change, so a hook that
    raises a ``DomainError`` (a callback URL the SSRF policy refuses) refuses the whole change, shown beside the
    field it names."""

    session: Session
    inbox: InboxInfo
    enabled: bool
    created: bool
    actor: Any  # edudesk.audit.service.Actor (the core does not import areas)
    services: ChannelServices


@runtime_checkable
class ChannelAdapter(Protocol):
    kind: ClassVar[str]
    # Shown in the console, the lead card and reports (Chinese first; the template translates it).
    label: ClassVar[str]
    # A short badge (one or two characters) beside conversations in the console.
    badge: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    capabilities: ClassVar[frozenset[str]]
    # How long after the visitor's last message the channel still accepts messages to them (None: no limit).
    reply_window: ClassVar[dt.timedelta | None]

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult: ...

    # Optional, looked up with getattr (see docs/channels.md):
    #   router() -> APIRouter                          (static) the adapter's own routes, mounted by the app
    #   shortcuts() -> list[edudesk.shortcuts.Shortcut] (static) endpoints answered ahead of the session and locale
    #                                                   middlewares and the routing (edudesk/shortcuts.py)
    #   admin_links(inbox) -> list[(label, url)]        pages of its own beside the inbox on /admin/channels
    #   inbound_path(public_id) -> str                  (static) where the provider or integrator calls us, when it
    #                                                   is not /channels/<kind>/<public_id>
    #   url_label: str                                  how the inbox page introduces that URL
    #   provision(change: InboxChange) -> dict[str, str] | None
    #       after an inbox is created or saved: set up what the inbox owns elsewhere (the API channel's signed
    #       webhook endpoint); returns values to show the admin this once (label → value), e.g. a signing secret
    #   deprovision(change: InboxChange) -> None        before an inbox is deleted: remove what provision set up


class ChannelLoadError(RuntimeError):
    pass


REQUIRED = ("config_model", "capabilities", "send", "label", "badge", "reply_window")


class ChannelRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, type[ChannelAdapter]] = {}
        self._instances: dict[str, ChannelAdapter] = {}
        self.services: ChannelServices | None = None

    def register(self, adapter: type[ChannelAdapter]) -> None:
        kind = getattr(adapter, "kind", None)
        if not kind or not isinstance(kind, str):
            raise ChannelLoadError(f"channel adapter {adapter!r} declares no kind")
        for attr in REQUIRED:
            if not hasattr(adapter, attr):
                raise ChannelLoadError(f"channel adapter {kind!r} lacks {attr}")
        unknown = set(adapter.capabilities) - KNOWN_CAPABILITIES
        if unknown:
            raise ChannelLoadError(f"channel adapter {kind!r} declares unknown capabilities {sorted(unknown)}")
        if kind in self._adapters and self._adapters[kind] is not adapter:
            raise ChannelLoadError(f"two channel adapters claim kind {kind!r}")
        self._adapters[kind] = adapter
        self._instances.pop(kind, None)

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

    def has(self, kind: str) -> bool:
        return kind in self._adapters

    def adapter(self, kind: str) -> ChannelAdapter:
        """The one instance of an adapter this process uses (adapters keep no per-inbox state of their own)."""
        found = self._instances.get(kind)
        if found is None:
            found = self.get(kind)()
            self._instances[kind] = found
        return found

    def labels(self) -> dict[str, str]:
        return {kind: cls.label for kind, cls in self._adapters.items()}

    def badges(self) -> dict[str, str]:
        return {kind: cls.badge for kind, cls in self._adapters.items()}

    @property
    def kinds(self) -> list[str]:
        return sorted(self._adapters)
