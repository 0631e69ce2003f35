"""What the app factory builds for the large-model assist: the client (one pooled HTTP client per process), the
jobs and the admin routers. Nothing here calls an endpoint: that happens only for an org that configured one."""

from __future__ import annotations

from fastapi import APIRouter

from edudesk.jobs import JobRegistry
from edudesk.llm import views
from edudesk.llm.client import LlmClient
from edudesk.llm.documents import jobs as document_jobs
from edudesk.llm.documents import views as document_views
from edudesk.settings import Settings

ROUTERS: tuple[APIRouter, ...] = (views.router, document_views.router)


def install(settings: Settings, jobs: JobRegistry) -> LlmClient:
    """The process's client, with the jobs of this area registered."""
    client = LlmClient.create(settings.secret_key, allow_private=settings.llm_allow_private)
    document_jobs.register(jobs, client)
    return client
