"""The trail's per-process state: the batched writer, the memory of recent visitors, and a short cache of each
org's widget key, origins and trail switch — so that an accepted beacon costs no database round trip at all in
the steady state (docs/visitors.md, "The beacon").

Built by the app factory, started and stopped by its lifespan; the web channel's beacon route and socket reach it
on ``app.state.trail``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from edudesk import events
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.orgs import service as orgs_service
from edudesk.visitors import settings as trail_settings
from edudesk.visitors.beacons import PageViewIn, Recent, RecentVisitors, continues, page_viewed
from edudesk.visitors.writer import WEB, BeaconWriter

GATE_TTL_SECONDS = 10.0
GATE_CAPACITY = 10_000
CONTACT_RECHECK = 60.0  # seconds before an unknown visitor's contact is looked up again


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
        self.gate_ttl = gate_ttl
        self._gates: OrderedDict[str, tuple[float, Gate | None]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()

    def gate(self, public_key: str) -> Gate | None:
        """The org behind a widget key (None: no such org), cached for ``gate_ttl`` seconds — a settings change
        or a new origin takes effect within that time on every instance."""
        now = time.monotonic()
        with self._lock:
            cached = self._gates.get(public_key)
            if cached is not None and cached[0] > now:
                return cached[1]
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

    def _contact_of(self, org_id: int, visitor_key: str) -> int | None:
        with self.db.session() as session:
            return contacts_service.contact_ids_by_identity(session, org_id, WEB, [visitor_key]).get(visitor_key)

    def accept(self, view: PageViewIn) -> events.DomainEvent | None:
        """Queues the view for the writer and returns its ``visitor.page_viewed`` event (None for a crawler, and
        when the queue is full: what is not stored is not announced)."""
        if not self.writer.submit(view):
            return None
        if view.is_bot:
            return None
        recent = self.recent.get(view.org_id, view.visitor_key)
        landing = not continues(recent, view)
        if recent is None or landing:
            contact_id = recent.contact_id if recent is not None else None
            checked = recent.contact_checked if recent is not None else None
            if contact_id is None and (checked is None or (view.at - checked).total_seconds() > CONTACT_RECHECK):
                contact_id, checked = self._contact_of(view.org_id, view.visitor_key), view.at
            recent = Recent(view.at, dict(view.source), view.source_kind, contact_id, checked or view.at)
        else:
            recent.last_seen = view.at
        self.recent.put(view.org_id, view.visitor_key, recent)
        return page_viewed(view, landing=landing, source=recent.source, source_kind=recent.source_kind,
                           contact_id=recent.contact_id)
