"""The API channel: an org's own app, mini-program backend or Douyin enterprise-account integration speaks for its
users through edudesk's REST API and receives the bot's and agents' replies as signed webhooks.

Inbound, the integrator posts each user message to ``POST /api/v1/channels/{inbox}/messages`` (routes.py).
Outbound, ``send`` does not call anyone: it queues a signed ``message.outbound`` event for the inbox's own webhook
endpoint in the delivery job's transaction, so the webhooks outbox gives the integrator what it gives a CRM —
HMAC signatures, retries with backoff for 24 hours, order per conversation, the delivery log and manual replay.
The endpoint belongs to the inbox (``owner="inbox:<id>"``): it is created with the inbox (its signing secret shown
to the admin once), follows the inbox's callback URL and enabled state, receives nothing else, and is deleted with
the inbox. See docs/channels-api.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from edudesk.channels.api import routes
from edudesk.channels.api.common import CAPABILITIES, EVENT_TYPE, KIND, absolute, inbound_path, owner_of
from edudesk.channels.base import ChannelSendError, InboxChange, OutboundMessage, SendContext, SendResult
from edudesk.conversations import schemas as conversations_schemas
from edudesk.conversations import service as conversations_service
from edudesk.errors import DomainError
from edudesk.inboxes import service as inboxes_service
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.urls import UrlPolicy

SECRET_LABEL = "签名密钥（验证推送请求的 X-Edudesk-Signature）："  # noqa: S105 (a label)


class ApiConfig(BaseModel):
    callback_url: str = Field("", title="消息推送地址",
                              description="机器人和客服的回复签名后 POST 到这个地址（建议 https://）；签名密钥在接入后"
                                          "只显示一次", max_length=2000)
    description: str = Field("", title="备注", description="例如：小程序后端、抖音企业号对接", max_length=200)

    @field_validator("callback_url")
    @classmethod
    def _required(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("请填写消息推送地址")
        return value.strip()


class ApiChannel:
    kind: ClassVar[str] = KIND
    label: ClassVar[str] = "API"
    badge: ClassVar[str] = "API"
    config_model: ClassVar[type[BaseModel]] = ApiConfig
    capabilities: ClassVar[frozenset[str]] = CAPABILITIES
    reply_window: ClassVar[dt.timedelta | None] = None
    url_label: ClassVar[str] = "接口地址（对接方用 API 令牌向这里发送用户消息）："

    # --- outbound ---------------------------------------------------------------------------------------------

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        session = ctx.session
        if session is None:
            raise ChannelSendError("no_session", "API 渠道需要在投递任务的事务中发送", retryable=False)
        org_id = ctx.inbox.org_id
        endpoint = webhooks_service.owned_endpoint(session, org_id, owner_of(ctx.inbox.id))
        if endpoint is None:
            raise ChannelSendError("no_callback", "API 渠道没有消息推送地址，请在渠道设置中填写", retryable=False)
        if not endpoint.enabled:
            raise ChannelSendError("callback_disabled", "API 渠道的消息推送地址已停用", retryable=False)
        payload = outbound_payload(session, ctx, message)
        try:
            event = webhooks_service.emit(session, org_id, EVENT_TYPE, f"conversation:{payload['conversation_id']}",
                                          payload, endpoint_ids=[endpoint.id])
        except webhooks_service.WebhookError as exc:
            raise ChannelSendError(exc.code, exc.message, retryable=False) from None
        return SendResult(external_message_id=event.public_id)

    # --- the inbox's webhook endpoint ---------------------------------------------------------------------------

    def provision(self, change: InboxChange) -> dict[str, str] | None:
        """Creates the inbox's endpoint (returning its signing secret, shown once) or brings it in line with the
        inbox's callback URL, description and enabled state."""
        config = change.inbox.config
        assert isinstance(config, ApiConfig)
        settings = change.services.settings
        policy = UrlPolicy(allow_private=settings.webhooks_allow_private)
        description = (config.description or f"API 渠道：{change.inbox.name}")[:200]
        owner = owner_of(change.inbox.id)
        try:
            endpoint = webhooks_service.owned_endpoint(change.session, change.inbox.org_id, owner, for_update=True)
            if endpoint is not None:
                webhooks_service.update_owned_endpoint(change.session, change.actor, policy, endpoint,
                                                       url=config.callback_url, description=description,
                                                       enabled=change.enabled)
                return None
            endpoint, secret = webhooks_service.create_owned_endpoint(
                change.session, change.actor, webhooks_service.secret_box(settings.secret_key), policy, owner=owner,
                url=config.callback_url, description=description, enabled=change.enabled)
        except DomainError as exc:
            raise DomainError(exc.code, exc.message, "callback_url" if exc.field == "url" else exc.field) from None
        row = inboxes_service.get(change.session, change.inbox.org_id, change.inbox.id)
        inboxes_service.set_state(change.session, row, endpoint_id=endpoint.id)
        return {SECRET_LABEL: secret}

    def deprovision(self, change: InboxChange) -> None:
        webhooks_service.delete_owned_endpoint(change.session, change.actor, owner_of(change.inbox.id))

    @staticmethod
    def admin_links(inbox: Any) -> list[tuple[str, str]]:
        """The endpoint's own pages: test event, secret rotation, delivery log and replay."""
        endpoint_id = (inbox.state or {}).get("endpoint_id")
        if not isinstance(endpoint_id, int):
            return []
        return [("推送设置与签名密钥", f"/admin/webhooks/{endpoint_id}"),
                ("推送记录", f"/admin/webhooks/{endpoint_id}/deliveries")]

    @staticmethod
    def inbound_path(public_id: str) -> str:
        return inbound_path(public_id)

    @staticmethod
    def router() -> Any:
        return routes.router


def outbound_payload(session: Session, ctx: SendContext, message: OutboundMessage) -> dict[str, Any]:
    """The ``data`` of a ``message.outbound`` event: everything the integrator's client needs to show the message
    to the user, with absolute URLs (pictures and attachments are capability URLs: the random key is the secret)."""
    base_url = str(ctx.services.settings.base_url)
    meta = message.meta
    stored = conversations_service.message_in_org(session, message.org_id, meta.get("message_id"))
    images: list[str] = []
    attachment: dict[str, Any] | None = None
    if stored is not None:
        images = [absolute(base_url, str(u)) for u in (stored.extra or {}).get("images") or ()]
        if stored.attachment_id is not None:
            att = conversations_service.get_attachment(session, message.org_id, stored.attachment_id)
            attachment = {"url": absolute(base_url, conversations_schemas.attachment_url(att)),
                          "content_type": att.content_type, "name": att.original_name, "size": att.size}
    return {
        "inbox_id": ctx.inbox.public_id,
        "conversation_id": meta.get("conversation_id"),
        "message_id": meta.get("message_id"),
        "user_id": message.external_user_id,
        "text": message.text,
        "buttons": [{"label": b.get("label", ""), "payload": b.get("payload", "")} for b in message.buttons],
        "images": images,
        "attachment": attachment,
        "sender": {"kind": message.sender, "name": message.sender_name},
        "kind": meta.get("kind"),
        "created_at": meta.get("created_at"),
    }
