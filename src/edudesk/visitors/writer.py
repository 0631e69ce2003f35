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
from sqlalchemy import Table, and_, bindparam, func, insert, select, update
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


VISITS = cast(Table, Visit.__table__)
PAGE_VIEWS = cast(Table, PageView.__table__)


@dataclass(eq=False)
class _Visit:
    """A visit as a batch sees it: the columns it reads and moves (rows, not ORM objects: an ORM flush of a
    batch's visits was most of the writer's CPU, which it takes from the event loop under the GIL)."""

    org_id: int
    visitor_key: str
    last_seen_at: dt.datetime
    contact_id: int | None
    page_views: int
    is_bot: bool
    id: int | None = None  # None until a new visit is inserted


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts the rows a repeated beacon did not store already; returns the visit id of each row inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert  # not the module's plain ``insert``
    result = session.execute(upsert(PAGE_VIEWS).on_conflict_do_nothing(index_elements=["visit_id", "view_key"])
                             .returning(PAGE_VIEWS.c.visit_id), rows)
    return [int(visit_id) for visit_id in result.scalars()]


def _open_visits(session: Session, org_id: int, keys: list[str], since: dt.datetime) -> dict[str, _Visit]:
    """The latest visit of each visitor seen since ``since``."""
    latest: dict[str, _Visit] = {}
    c = VISITS.c
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        newest = (select(c.visitor_key, func.max(c.last_seen_at).label("seen"))
                  .where(c.org_id == org_id, c.visitor_key.in_(chunk), c.last_seen_at >= since)
                  .group_by(c.visitor_key).subquery())
        rows = session.execute(
            select(c.id, c.visitor_key, c.last_seen_at, c.contact_id, c.page_views, c.is_bot)
            .join(newest, and_(c.visitor_key == newest.c.visitor_key, c.last_seen_at == newest.c.seen))
            .where(c.org_id == org_id).order_by(c.id))
        for row in rows:
            latest[row.visitor_key] = _Visit(org_id, row.visitor_key, row.last_seen_at, row.contact_id,
                                             row.page_views or 0, bool(row.is_bot), id=row.id)
    return latest


def _new_visit_row(view: PageViewIn, contact_id: int | None) -> dict[str, Any]:
    return {"org_id": view.org_id, "visitor_key": view.visitor_key, "contact_id": contact_id, "started_at": view.at,
            "last_seen_at": view.at, "page_views": 0, "landing_url": view.url, "referrer": view.referrer,
            "current_url": view.url, "current_title": view.title, "source": dict(view.source),
            "source_kind": view.source_kind, "campaign": view.campaign, "device": view.device, "os": view.os,
            "browser": view.browser, "is_bot": view.is_bot, "province": view.province, "city": view.city,
            "ip_prefix": view.ip_prefix}


def _insert_visits(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts new visits; their ids in the rows' order."""
    result = session.execute(insert(VISITS).returning(VISITS.c.id, sort_by_parameter_order=True), rows)
    return [int(visit_id) for visit_id in result.scalars()]


def store(session: Session, views: list[PageViewIn]) -> Stored:
    """Stores a batch (see the module's doc) with Core statements in the session's transaction; never commits."""
    by_org: dict[int, dict[str, list[PageViewIn]]] = defaultdict(lambda: defaultdict(list))
    for view in views:
        by_org[view.org_id][view.visitor_key].append(view)
    placed: list[tuple[_Visit, PageViewIn]] = []
    lefts: list[dict[str, Any]] = []
    current_visits: list[_Visit] = []
    created: list[tuple[_Visit, dict[str, Any]]] = []
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
                    visit = _Visit(org_id, key, view.at, contacts.get(key), 0, view.is_bot)
                    created.append((visit, _new_visit_row(view, visit.contact_id)))
                elif visit.contact_id is None and key in contacts:
                    visit.contact_id = contacts[key]
                placed.append((visit, view))
    if created:  # new visits get their ids
        for (visit, _), visit_id in zip(created, _insert_visits(session, [row for _, row in created]), strict=True):
            visit.id = visit_id
    rows = [{"org_id": view.org_id, "visit_id": visit.id, "view_key": view.view_key, "url": view.url,
             "title": view.title, "referrer": view.referrer, "viewed_at": view.at, "seconds": None}
            for visit, view in placed]
    inserted_in = [visit_id for i in range(0, len(rows), 1000)
                   for visit_id in _insert_ignoring_duplicates(session, rows[i:i + 1000])]
    inserted = len(inserted_in)
    visits = list({id(v): v for v, _ in placed}.values())
    # The page a visit is on now: its newest view (a new visit's views all count, from its first).
    now_at: dict[int, tuple[dt.datetime, str, str]] = {}
    for visit, view in placed:
        seen = now_at[id(visit)][0] if id(visit) in now_at else visit.last_seen_at
        if view.at >= seen or visit.page_views == 0:
            now_at[id(visit)] = (view.at, view.url, view.title)
    page_views: dict[int | None, int]
    if inserted == len(rows):
        per_visit: dict[int | None, int] = defaultdict(int)
        for visit_id in inserted_in:
            per_visit[visit_id] += 1
        page_views = {v.id: v.page_views + per_visit[v.id] for v in visits}
    else:  # repeated beacons: count the visits' rows as stored
        counts = {visit_id: n for visit_id, n in session.execute(
            select(PAGE_VIEWS.c.visit_id, func.count()).where(PAGE_VIEWS.c.visit_id.in_([v.id for v in visits]))
            .group_by(PAGE_VIEWS.c.visit_id))}
        page_views = {v.id: counts.get(v.id, 0) for v in visits}
    updates = []
    for visit in visits:
        visit.page_views = page_views[visit.id]
        row: dict[str, Any] = {"vid": visit.id, "pv": visit.page_views, "cid": visit.contact_id}
        row["ls"], row["url"], row["title"] = now_at.get(id(visit)) or (visit.last_seen_at, None, None)
        updates.append(row)
    _update_visits(session, [u for u in updates if u["url"] is not None],
                   [u for u in updates if u["url"] is None])
    if lefts:
        # The view left is in the visitor's visit this batch continued or started (a view over 30 minutes
        # earlier, in an older visit, keeps no time): updated by (visit, view key), the unique index.
        visits_of: dict[tuple[int, str], set[int]] = defaultdict(set)
        for visit in [*current_visits, *visits]:
            if visit.id is not None:
                visits_of[(visit.org_id, visit.visitor_key)].add(visit.id)
        params = [{"o": left["o"], "v": visit_id, "vk": left["vk"], "s": left["s"]} for left in lefts
                  for visit_id in sorted(visits_of.get((left["o"], left["k"]), ()))]
        if params:
            session.connection().execute(
                update(PAGE_VIEWS).where(PAGE_VIEWS.c.visit_id == bindparam("v"),
                                         PAGE_VIEWS.c.view_key == bindparam("vk"),
                                         PAGE_VIEWS.c.org_id == bindparam("o"))
                .values(seconds=bindparam("s")), params)
    linked = {(v.org_id, v.contact_id) for v, _ in created if v.contact_id is not None}
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
        _touches.trail_changed(session, org_id, contact_ids, changed=classify.TRAIL_CHANGE)
    return Stored(inserted, len(placed) - inserted, len(created), known)


def _update_visits(session: Session, moved: list[dict[str, Any]], counted: list[dict[str, Any]]) -> None:
    """One executemany per shape: visits on a new page, and visits whose count alone changed (a repeat)."""
    c = VISITS.c
    if moved:
        session.connection().execute(
            update(VISITS).where(c.id == bindparam("vid"))
            .values(last_seen_at=bindparam("ls"), current_url=bindparam("url"), current_title=bindparam("title"),
                    page_views=bindparam("pv"), contact_id=bindparam("cid")), moved)
    if counted:
        session.connection().execute(
            update(VISITS).where(c.id == bindparam("vid"))
            .values(page_views=bindparam("pv"), contact_id=bindparam("cid")),
            [{"vid": u["vid"], "pv": u["pv"], "cid": u["cid"]} for u in counted])


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
