"""The objects one running edudesk instance is made of, built by the app factory and reached from requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import HTTPConnection

from edudesk.bot.runtime import BotRuntime
from edudesk.channels.base import ChannelRegistry
from edudesk.db import Database
from edudesk.events import EventBus
from edudesk.i18n import Catalogues
from edudesk.jobs import JobRegistry
from edudesk.ratelimit import Limiter
from edudesk.realtime import Hub
from edudesk.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    bus: EventBus
    hub: Hub
    jobs: JobRegistry
    channels: ChannelRegistry
    templates: Jinja2Templates
    catalogues: Catalogues
    bots: BotRuntime
    limiter: Limiter
    # The large-model client (edudesk.llm.client.LlmClient; the layer below llm cannot name its type).
    llm: Any = None


def get_ctx(conn: HTTPConnection) -> AppContext:
    return conn.app.state.ctx  # type: ignore[no-any-return]
