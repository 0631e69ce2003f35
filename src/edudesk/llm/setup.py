"""What the app factory builds for the large-model assist: the client (one pooled HTTP client per process), the
jobs and the admin routers. Nothing here calls an endpoint: that happens only for an org that configured one."""

from __future__ import annotations

from fastapi import APIRouter

from edudesk.jobs import JobRegistry
from edudesk.llm.client import LlmClient
from edudesk.settings import Settings

ROUTERS: tuple[APIRouter, ...] = ()


def install(settings: Settings, jobs: JobRegistry) -> LlmClient:
    """The process's client, with the jobs of this area registered."""
    return LlmClient.create(settings.secret_key, allow_private=settings.llm_allow_private)
