"""What the app factory takes from the voice admin part: its routers, its job handlers and its daily chain, in one
place so app.py names the part once."""

from __future__ import annotations

from fastapi import APIRouter

from edudesk import jobs
from edudesk.db import Database
from edudesk.privacy.registry import PrivacyRegistry
from edudesk.settings import Settings
from edudesk.voice import admin_views, api
from edudesk.voice import jobs as voice_jobs
from edudesk.voice.privacy_holder import CallsHolder

ROUTERS: tuple[APIRouter, ...] = (*admin_views.ROUTERS, api.router)
# Routes that take a file (the app's larger body limit applies to them).
UPLOAD_PATHS = ("/admin/voice/dnc/import",)


def register(registry: jobs.JobRegistry, privacy: PrivacyRegistry, settings: Settings) -> None:
    """The voice jobs, and a person's calls in the privacy area's export and erasure."""
    voice_jobs.register(registry, settings)
    register_privacy(privacy)


def register_privacy(privacy: PrivacyRegistry) -> None:
    """A person's calls (transcripts, recordings) in their export and erasure: the app's and the CLI's."""
    privacy.register_holder(CallsHolder(privacy.upload_dir))


def ensure_scheduled(db: Database) -> None:
    voice_jobs.ensure_scheduled(db)
