"""Feeds the live-visitor registry on one instance: ``visitor.page_viewed`` events from the bus, and the widget
sockets this instance holds (opened, closed, a heartbeat while open).

Bus subscribers run in the committing thread or in the Redis listener's event loop, so an event is only queued
here; one thread applies the queue in batches (one registry call per org and batch) and then asks the auto-invite
engine about the visitors whose socket is on this instance — the one place an invitation can be delivered from
without crossing instances, so each page view is judged once per deployment. The same thread runs the socket
heartbeat and the "seconds on page" timer.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from edudesk.events import DomainEvent
from edudesk.visitors.live import SOCKET_HEARTBEAT_SECONDS, SOCKET_TTL, LiveVisitor, Registry, view_patch

log = structlog.get_logger(__name__)

PAGE_VIEWED = "visitor.page_viewed"
BATCH_SECONDS = 0.05
TIMER_SECONDS = 2.0
# A socket from a crawler or headless browser never enters the list (the beacon publishes nothing for them).
_CRAWLER_RE = re.compile(r"bot|spider|crawl|slurp|headless|phantomjs|lighthouse|preview|python-|curl/|wget",
                         re.IGNORECASE)


def looks_like_crawler(user_agent: str | None) -> bool:
    return bool(user_agent) and _CRAWLER_RE.search(user_agent or "") is not None


class InviteEngine(Protocol):
    """Judges visitors whose widget socket is on this instance (``visitors.autoinvite``)."""

    def on_views(self, org_id: int, visitors: list[LiveVisitor]) -> None: ...

    def on_timer(self, org_id: int, visitors: list[LiveVisitor]) -> None: ...

    def wants_timer(self, org_id: int) -> bool: ...


def _write_failed(org_id: int, exc: Exception) -> None:
    """Redis away: the list misses this change; messages and the trail do not care."""
    log.warning("live_registry_write_failed", org_id=org_id, error=f"{type(exc).__name__}: {exc}"[:200])


class LiveTracker:
    def __init__(self, registry: Registry, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.clock = clock
        self.engine: InviteEngine | None = None
        self._queue: list[tuple[int, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (org, visitor key) → open sockets on this instance
        self._sockets: dict[tuple[int, str], int] = defaultdict(int)
        self.applied = 0

    # --- feeding ------------------------------------------------------------------------------------------------

    def on_event(self, event: DomainEvent) -> None:
        """Bus subscriber (any thread): queues a page view; applied within ``BATCH_SECONDS``."""
        if event.type != PAGE_VIEWED:
            return
        found = view_patch(event.data, self.clock())
        if found is None:
            return
        with self._lock:
            self._queue.append((event.org_id, *found))
        if self._thread is None:
            self.flush()  # not started (a test, a CLI): apply at once
        else:
            self._wake.set()

    def local_keys(self, org_id: int) -> set[str]:
        with self._lock:
            return {key for (org, key), n in self._sockets.items() if org == org_id and n > 0}

    def socket_opened(self, org_id: int, visitor_key: str, contact_id: int, url: str | None, title: str | None
                      ) -> None:
        """The widget's socket opened on this instance (called in a worker thread)."""
        now = self.clock()
        with self._lock:
            self._sockets[(org_id, visitor_key)] += 1
        self._apply_safely(org_id, [(visitor_key, {
            "contact_id": contact_id, "socket_until": now + SOCKET_TTL, "touch": now, "socket_page": True,
            "url": (url or "")[:1000], "title": (title or "")[:300], "view_at": now})])

    def socket_closed(self, org_id: int, visitor_key: str) -> None:
        now = self.clock()
        with self._lock:
            left = self._sockets[(org_id, visitor_key)] - 1
            if left > 0:
                self._sockets[(org_id, visitor_key)] = left
                return
            self._sockets.pop((org_id, visitor_key), None)
        self._apply_safely(org_id, [(visitor_key, {"socket_until": now, "touch": now})])

    def heartbeat(self) -> None:
        """Keeps this instance's socket visitors on the list (another instance may have closed their other tab)."""
        until = self.clock() + SOCKET_TTL
        with self._lock:
            by_org: dict[int, list[str]] = defaultdict(list)
            for org_id, key in self._sockets:
                by_org[org_id].append(key)
        for org_id, keys in by_org.items():
            try:
                self.registry.renew(org_id, keys, until)
            except Exception as exc:
                _write_failed(org_id, exc)

    # --- applying -----------------------------------------------------------------------------------------------

    def _apply_safely(self, org_id: int, patches: list[tuple[str, dict[str, Any]]]) -> list[LiveVisitor]:
        try:
            return self.registry.apply(org_id, patches)
        except Exception as exc:
            _write_failed(org_id, exc)
            return []

    def flush(self) -> int:
        with self._lock:
            batch, self._queue = self._queue, []
        by_org: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for org_id, key, patch in batch:
            by_org[org_id].append((key, patch))
        for org_id, patches in by_org.items():
            merged = self._apply_safely(org_id, patches)
            self.applied += len(merged)
            with self._lock:  # a look-up per visitor, not a set of every socket held (thousands) per batch
                mine = {v.visitor_key: v for v in merged if self._sockets.get((org_id, v.visitor_key), 0) > 0}
            if mine and self.engine is not None:
                try:
                    self.engine.on_views(org_id, list(mine.values()))
                except Exception:
                    log.exception("auto_invite_failed", org_id=org_id)
        return len(batch)

    def tick(self) -> None:
        """The "seconds on page" timer: the engine judges this instance's socket visitors again."""
        if self.engine is None:
            return
        with self._lock:
            orgs = {org for (org, _), n in self._sockets.items() if n > 0}
        for org_id in orgs:
            try:
                if not self.engine.wants_timer(org_id):
                    continue  # no rule waits for seconds on a page: no read of the list at all
                local = self.local_keys(org_id)
                visitors = [v for v in self.registry.visitors(org_id) if v.visitor_key in local]
                if visitors:
                    self.engine.on_timer(org_id, visitors)
            except Exception:
                log.exception("auto_invite_timer_failed", org_id=org_id)

    # --- the thread ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edudesk-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        next_beat = self.clock() + SOCKET_HEARTBEAT_SECONDS
        next_tick = self.clock() + TIMER_SECONDS
        while not self._stop.is_set():
            self._wake.wait(TIMER_SECONDS)
            self._wake.clear()
            if self._stop.wait(BATCH_SECONDS):  # let a burst gather into one call; stopping cuts the wait short
                break  # ``stop`` flushes what is left
            try:
                self.flush()
                now = self.clock()
                if now >= next_beat:
                    next_beat = now + SOCKET_HEARTBEAT_SECONDS
                    self.heartbeat()
                if now >= next_tick:
                    next_tick = now + TIMER_SECONDS
                    self.tick()
            except Exception:
                log.exception("live_tracker_failed")
