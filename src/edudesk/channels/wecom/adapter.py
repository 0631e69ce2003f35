"""The 微信客服 channel adapter: what the registry, the outbox and the app factory see of it."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel

from edudesk.channels.base import OutboundMessage, SendContext, SendResult
from edudesk.channels.wecom import config, routes, sending
from edudesk.channels.wecom.sync import SyncJob
from edudesk.context import AppContext
from edudesk.jobs import JobRegistry


class WeComChannel:
    kind: ClassVar[str] = config.KIND
    label: ClassVar[str] = config.LABEL
    badge: ClassVar[str] = config.BADGE
    config_model: ClassVar[type[BaseModel]] = config.WeComConfig
    capabilities: ClassVar[frozenset[str]] = config.CAPABILITIES
    reply_window: ClassVar[dt.timedelta | None] = config.REPLY_WINDOW

    def send(self, ctx: SendContext, message: OutboundMessage) -> SendResult:
        return sending.send(ctx, message)

    @staticmethod
    def router() -> Any:
        """The callback URL (verification and message notices), mounted by the app factory."""
        return routes.router

    @classmethod
    def register_jobs(cls, job_registry: JobRegistry, ctx: AppContext) -> None:
        """The message pull runs as a durable job; the app factory registers it once its context exists."""
        job_registry.register(config.SYNC_JOB, SyncJob(ctx))
