"""The visitors area's per-process parts, built by the app factory, started and stopped by its lifespan.

The trail: the batched writer, the memory of recent visitors, and a short cache of each org's widget key, origins
and trail switch — so that an accepted beacon costs no database round trip at all in the steady state
(docs/visitors.md, "The beacon"); the web channel's beacon route and socket reach it on ``app.state.trail``.
The live list: the tracker of who is on the site now and its auto-inviter, on ``app.state.live``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from edudesk import events
from edudesk.db import Database
from edudesk.orgs import service as orgs_service
from edudesk.settings import Settings
from edudesk.visitors import settings as trail_settings
from edudesk.visitors import useragent
from edudesk.visitors.autoinvite import AutoInviter
from edudesk.visitors.beacons import PageViewIn, Recent, RecentVisitors, continues, page_viewed
from edudesk.visitors.live import make_registry
from edudesk.visitors.tracker import LiveTracker
from edudesk.visitors.writer import BeaconWriter

GATE_TTL_SECONDS = 10.0
GATE_CAPACITY = 10_000


@dataclass(frozen=True)
class Gate:
    """What the beacon route checks for an org key: the org, its widget origins and whether the trail is on."""

    org_id: int
    origins: tuple[str, ...]
    trail_enabled: bool


class Trail:
    def __init__(self, db: Database, writer: BeaconWriter | None = None, *, gate_ttl: float = GATE_TTL_SECONDS
                 ) -> None:
        self.db = db
        self.writer = writer or BeaconWriter(db)
        self.recent = RecentVisitors()
        self.writer.on_contacts = self.recent.set_contacts
        self.gate_ttl = gate_ttl
        self._gates: OrderedDict[str, tuple[float, Gate | None]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Starts the writer; the user-agent rules load now (a second or two), not on the first visitor's beacon."""
        useragent.describe("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()

    def cached_gate(self, public_key: str) -> tuple[bool, Gate | None]:
        """(found in the cache, the gate): the beacon route asks the database (``gate``) only on a miss."""
        with self._lock:
            cached = self._gates.get(public_key)
            if cached is not None and cached[0] > time.monotonic():
                return True, cached[1]
        return False, None

    def gate(self, public_key: str) -> Gate | None:
        """The org behind a widget key (None: no such org), cached for ``gate_ttl`` seconds — a settings change
        or a new origin takes effect within that time on every instance."""
        found, cached = self.cached_gate(public_key)
        if found:
            return cached
        now = time.monotonic()
        with self.db.session() as session:
            org = orgs_service.get_by_public_key(session, public_key)
            gate = None if org is None else Gate(org.id, tuple(org.widget_origins or ()),
                                                 trail_settings.settings_of(session, org.id).trail_enabled)
        with self._lock:
            self._gates[public_key] = (now + self.gate_ttl, gate)
            self._gates.move_to_end(public_key)
            while len(self._gates) > GATE_CAPACITY:
                self._gates.popitem(last=False)
        return gate

    def forget_gates(self) -> None:
        with self._lock:
            self._gates.clear()

    def accept(self, view: PageViewIn) -> events.DomainEvent | None:
        """Queues the view for the writer and returns its ``visitor.page_viewed`` event (None for a crawler, and
        when the queue is full: what is not stored is not announced). No database call: the contact comes from
        this process's memory (the socket opened here, or the writer found it when storing an earlier view)."""
        if not self.writer.submit(view):
            return None
        if view.is_bot:
            return None
        recent = self.recent.get(view.org_id, view.visitor_key)
        landing = not continues(recent, view)
        if recent is None or landing:
            recent = Recent(view.at, dict(view.source), view.source_kind,
                            recent.contact_id if recent is not None else None)
        else:
            recent.last_seen = view.at
        self.recent.put(view.org_id, view.visitor_key, recent)
        return page_viewed(view, landing=landing, source=recent.source, source_kind=recent.source_kind,
                           contact_id=recent.contact_id)


def make_live(settings: Settings, db: Database) -> LiveTracker:
    registry = make_registry(settings.redis_url, settings.redis_namespace)
    tracker = LiveTracker(registry)
    tracker.engine = AutoInviter(db, registry)
    return tracker


def live_of(conn: HTTPConnection) -> LiveTracker:
    return conn.app.state.live  # type: ignore[no-any-return]
