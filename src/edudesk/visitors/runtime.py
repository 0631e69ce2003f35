"""The live-visitor parts one ``serve`` instance runs, built by the app factory and reached from requests."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.visitors.autoinvite import AutoInviter
from edudesk.visitors.live import make_registry
from edudesk.visitors.tracker import LiveTracker


def make_live(settings: Settings, db: Database) -> LiveTracker:
    registry = make_registry(settings.redis_url, settings.redis_namespace)
    tracker = LiveTracker(registry)
    tracker.engine = AutoInviter(db, registry)
    return tracker


def live_of(conn: HTTPConnection) -> LiveTracker:
    return conn.app.state.live  # type: ignore[no-any-return]
