"""The trail's writer: accepted page views are queued in memory and stored in batches, one transaction per batch.

One writer per process (started and stopped by the app's lifespan). A batch is flushed when it holds
``max_rows`` views or ``interval`` seconds after its first one, and on shutdown. The queue is bounded: when the
database cannot keep up, further views are dropped and counted (a warning at most once per ``warn_every``) —
the trail is analytics, and the beacon must stay cheap for the page that sends it.

Storing a batch (``store``): each visitor's views continue their latest visit when it was seen within 30 minutes,
else start a new one (landing page, referrer and attribution from that view); a view already stored (the same
``view_key`` in the visit: a repeated beacon) is skipped, also across processes (``ON CONFLICT DO NOTHING``);
``left`` sets the earlier view's seconds; a new visit of a visitor who already is a contact (a ``web`` identity)
gets the contact's id. Two processes may, rarely, both start a visit for the same visitor at the same moment;
that visit is then split in two, which reports tolerate (nothing is lost or counted twice).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.visitors import classify
from edudesk.visitors import service as _touches
from edudesk.visitors.beacons import SESSION_GAP, PageViewIn
from edudesk.visitors.models import PageView, Visit

log = structlog.get_logger(__name__)

WEB = "web"


@dataclass
class WriterStats:
    accepted: int = 0
    written: int = 0
    duplicates: int = 0
    dropped: int = 0
    batches: int = 0
    failed_batches: int = 0


@dataclass(frozen=True)
class Stored:
    views: int
    duplicates: int
    new_visits: int
    # (org id, visitor key) → contact id of the batch's visitors known as contacts (for the event's contact_id)
    contacts: dict[tuple[int, str], int] = field(default_factory=dict)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts the rows a repeated beacon did not store already; returns the visit id of each row inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(insert(PageView).on_conflict_do_nothing(index_elements=["visit_id", "view_key"])
                             .returning(PageView.visit_id), rows)
    return [int(visit_id) for visit_id in result.scalars()]


def _open_visits(session: Session, org_id: int, keys: list[str], since: dt.datetime) -> dict[str, Visit]:
    """The latest visit of each visitor seen since ``since``."""
    latest: dict[str, Visit] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        newest = (select(Visit.visitor_key, func.max(Visit.last_seen_at).label("seen"))
                  .where(Visit.org_id == org_id, Visit.visitor_key.in_(chunk), Visit.last_seen_at >= since)
                  .group_by(Visit.visitor_key).subquery())
        rows = session.scalars(select(Visit).join(newest, and_(Visit.visitor_key == newest.c.visitor_key,
                                                               Visit.last_seen_at == newest.c.seen))
                               .where(Visit.org_id == org_id).order_by(Visit.id))
        for visit in rows:
            latest[visit.visitor_key] = visit
    return latest


def _new_visit(view: PageViewIn, contact_id: int | None) -> Visit:
    return Visit(org_id=view.org_id, visitor_key=view.visitor_key, contact_id=contact_id, started_at=view.at,
                 last_seen_at=view.at, page_views=0, landing_url=view.url, referrer=view.referrer,
                 current_url=view.url, current_title=view.title, source=dict(view.source),
                 source_kind=view.source_kind, campaign=view.campaign, device=view.device, os=view.os,
                 browser=view.browser, is_bot=view.is_bot, province=view.province, city=view.city,
                 ip_prefix=view.ip_prefix)


def store(session: Session, views: list[PageViewIn]) -> Stored:
    """Stores a batch (see the module's doc); flushes, never commits."""
    by_org: dict[int, dict[str, list[PageViewIn]]] = defaultdict(lambda: defaultdict(list))
    for view in views:
        by_org[view.org_id][view.visitor_key].append(view)
    rows: list[dict[str, Any]] = []
    placed: list[tuple[Visit, PageViewIn]] = []
    lefts: list[dict[str, Any]] = []
    current_visits: list[Visit] = []
    created: list[Visit] = []
    for org_id, visitors in by_org.items():
        keys = sorted(visitors)
        earliest = min(v.at for group in visitors.values() for v in group)
        current = _open_visits(session, org_id, keys, earliest - SESSION_GAP)
        current_visits.extend(current.values())
        missing = [k for k in keys if k not in current or current[k].contact_id is None]
        contacts = contacts_service.contact_ids_by_identity(session, org_id, WEB, missing) if missing else {}
        for key in keys:
            visit = current.get(key)
            seen_in_batch: set[str] = set()
            for view in sorted(visitors[key], key=lambda v: v.at):
                if view.left_key and view.left_seconds is not None:
                    lefts.append({"o": org_id, "k": key, "vk": view.left_key, "s": view.left_seconds})
                if view.view_key in seen_in_batch:
                    continue
                seen_in_batch.add(view.view_key)
                if visit is None or view.at - visit.last_seen_at > SESSION_GAP:
                    visit = _new_visit(view, contacts.get(key))
                    session.add(visit)
                    created.append(visit)
                elif visit.contact_id is None and key in contacts:
                    visit.contact_id = contacts[key]
                placed.append((visit, view))
    session.flush()  # new visits get their ids
    for visit, view in placed:
        rows.append({"org_id": view.org_id, "visit_id": visit.id, "view_key": view.view_key, "url": view.url,
                     "title": view.title, "referrer": view.referrer, "viewed_at": view.at, "seconds": None})
    inserted_in = [visit_id for i in range(0, len(rows), 1000)
                   for visit_id in _insert_ignoring_duplicates(session, rows[i:i + 1000])]
    inserted = len(inserted_in)
    visits = list({id(v): v for v, _ in placed}.values())
    for visit, view in placed:
        if view.at >= visit.last_seen_at or visit.page_views == 0:
            visit.last_seen_at, visit.current_url, visit.current_title = view.at, view.url, view.title
    if inserted == len(rows):
        per_visit: dict[int, int] = defaultdict(int)
        for row in rows:
            per_visit[row["visit_id"]] += 1
        for visit in visits:
            visit.page_views = (visit.page_views or 0) + per_visit[visit.id]
    else:  # repeated beacons: count the visits' rows as stored
        ids = [v.id for v in visits]
        counts = {visit_id: n for visit_id, n in session.execute(
            select(PageView.visit_id, func.count()).where(PageView.visit_id.in_(ids)).group_by(PageView.visit_id))}
        for visit in visits:
            visit.page_views = counts.get(visit.id, 0)
    stored = inserted
    if lefts:
        # The view left is in the visitor's visit this batch continued or started (a view over 30 minutes
        # earlier, in an older visit, keeps no time): updated by (visit, view key), the unique index.
        visits_of: dict[tuple[int, str], set[int]] = defaultdict(set)
        for visit in [*current_visits, *visits]:
            visits_of[(visit.org_id, visit.visitor_key)].add(visit.id)
        params = [{"o": left["o"], "v": visit_id, "vk": left["vk"], "s": left["s"]} for left in lefts
                  for visit_id in sorted(visits_of.get((left["o"], left["k"]), ()))]
        if params:
            session.flush()
            table = cast(Table, PageView.__table__)
            session.connection().execute(
                update(table).where(table.c.visit_id == bindparam("v"), table.c.view_key == bindparam("vk"),
                                    table.c.org_id == bindparam("o"))
                .values(seconds=bindparam("s")), params)
    session.flush()
    linked = {(v.org_id, v.contact_id) for v in created if v.contact_id is not None}
    known = {(v.org_id, v.visitor_key): v.contact_id for v in visits if v.contact_id is not None}
    for org_id, contact_id in sorted(linked):  # a known contact's new visit: maybe their first touch
        _touches.note_first_touch(session, org_id, contact_id)
    # The contacts whose trail gained a page are classified again: one debounced job each at most, enqueued in
    # this batch's transaction (crawler visits change nothing rules look at). After the first touches: contacts'
    # rows before their classification states, the order the message path and the classify job lock them in.
    grown = set(inserted_in)
    changed: dict[int, set[int]] = defaultdict(set)
    for visit in visits:
        if visit.contact_id is not None and visit.id in grown and not visit.is_bot:
            changed[visit.org_id].add(visit.contact_id)
    for org_id, contact_ids in sorted(changed.items()):
        _touches.trail_changed(session, org_id, contact_ids, changed=_TRAIL_CHANGE)
    return Stored(stored, len(placed) - stored, len(created), known)


# What a stored page view may change for the classification rules (an org whose rules read none skips the job).
_TRAIL_CHANGE = dict.fromkeys(classify.TRAIL_KINDS, frozenset[str]())


class BeaconWriter:
    """The process's writer thread (see the module's doc)."""

    def __init__(self, db: Database, *, max_rows: int = 500, interval: float = 0.5, capacity: int = 50_000,
                 warn_every: float = 60.0) -> None:
        self.db, self.max_rows, self.interval, self.warn_every = db, max_rows, interval, warn_every
        # Told the contacts of each stored batch's visitors (the runtime's memory, for the event's contact_id).
        self.on_contacts: Callable[[dict[tuple[int, str], int]], None] | None = None
        self._queue: queue.Queue[PageViewIn | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.stats = WriterStats()

    def submit(self, view: PageViewIn) -> bool:
        """Queues a view; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(view)
        except queue.Full:
            self.stats.dropped += 1
            now = time.monotonic()
            if now - self._last_warning >= self.warn_every:
                self._last_warning = now
                log.warning("visitor_trail_queue_full", dropped=self.stats.dropped, capacity=self._queue.maxsize)
            return False
        with self._pending_lock:
            self._pending += 1
        self.stats.accepted += 1
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="visitor-trail-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Flushes what is queued and ends the thread (waiting up to ``timeout`` seconds: a full queue is a minute
        of a busy site's page views; what is still queued after that is lost with the process)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + self.interval
            while len(batch) < self.max_rows:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(remaining, 0.0)) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self.flush(batch)
            finally:
                with self._pending_lock:
                    self._pending -= len(batch)

    def flush(self, batch: list[PageViewIn]) -> None:
        """Stores one batch in one transaction; retried twice when the database is busy (SQLite's lock)."""
        for attempt in range(3):
            try:
                with self.db.session() as session:
                    result = store(session, batch)
                    session.commit()
            except OperationalError as exc:
                if attempt == 2:
                    self.stats.failed_batches += 1
                    log.error("visitor_trail_batch_failed", views=len(batch), error=str(exc)[:300])
                    return
                time.sleep(0.2 * (attempt + 1))
                continue
            except Exception:
                self.stats.failed_batches += 1
                log.exception("visitor_trail_batch_failed", views=len(batch))
                return
            self.stats.batches += 1
            self.stats.written += result.views
            self.stats.duplicates += result.duplicates
            if self.on_contacts is not None and result.contacts:
                self.on_contacts(result.contacts)
            return

    def drain(self, timeout: float = 5.0) -> None:
        """Waits until the queue is empty and the batch in hand is stored (tests and the benchmark)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self._pending > 0:
            time.sleep(0.02)
