"""Each org's bot, built once and kept in memory until the knowledge base or the bot settings change.

Building an org's bot (settings, keyword rules, answer cards and the FAQ index with its embeddings) costs far
more than answering one question, so a visitor turn must not pay for it. The runtime keeps one ``OrgBot`` per
org and rebuilds it when a ``kb.changed`` or ``bot.changed`` event arrives — through the Redis bus that is every
instance, so an admin's edit reaches all of them at once without a restart.

Events are fast but can be missed: a CLI import runs in another process, and without Redis nothing carries its
event to the server. So every change also bumps the org's ``bot_version`` in the same transaction, and the runtime
compares it at most once every ``VERSION_POLL_SECONDS`` per org (one indexed SELECT, not one per turn).

Small knowledge bases (most schools: a few hundred questions) rebuild synchronously on the next turn, so the very
next visitor sees the edit. A bot whose last build was slow keeps answering from the previous index while a
background thread builds the new one, so a big import never stalls the chat. A build also expires after
``MAX_AGE`` in case an event was lost while Redis was unreachable, and at local midnight, when entries' validity
dates may start or end.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.orm import Session

from edudesk.bot.faq import FaqBot
from edudesk.bot.flows import Flow
from edudesk.db import Database
from edudesk.events import DomainEvent
from edudesk.hours import service as hours_service
from edudesk.hours.schedule import BusinessHours
from edudesk.localtime import local_today
from edudesk.nlp.extract import Lexicon

log = structlog.get_logger(__name__)

WATCHED_EVENTS = frozenset({"kb.changed", "bot.changed", hours_service.HOURS_CHANGED})
# A build slower than this is refreshed in the background instead of on a visitor's turn.
SYNC_BUILD_LIMIT = 1.0
MAX_AGE = dt.timedelta(minutes=10)
VERSION_POLL_SECONDS = 2.0


@dataclass
class OrgBot:
    """What one org's bot needs per turn, all in memory."""

    org_id: int
    engine: FaqBot
    welcome_text: str
    hot_questions: tuple[str, ...]
    # The org's enabled bot scripts, in the admin's order.
    flows: tuple[Flow, ...] = ()
    # The org's opening hours (saving them bumps bot_version): off hours the off-hours script may run.
    hours: BusinessHours = field(default_factory=BusinessHours.always_open)
    # Subject synonyms plus the org's course catalogue, for field extraction (adding a course bumps bot_version).
    lexicon: Lexicon | None = None
    generation: int = 0
    # The org's bot_version when this was built, and when it was last compared with the database.
    version: int = 0
    version_checked_at: float = field(default_factory=time.monotonic)
    day: dt.date = field(default_factory=local_today)
    built_at: float = field(default_factory=time.monotonic)
    build_seconds: float = 0.0
    uses_embeddings: bool = False
    questions_indexed: int = 0


# Builds an OrgBot from the database; given the session to read with, the org and the generation it reflects.
Builder = Callable[[Session, int, int, dt.date], OrgBot]
# Reads an org's bot_version.
VersionReader = Callable[[Session, int], int]


class BotRuntime:
    def __init__(self, db: Database, builder: Builder, version_of: VersionReader,
                 *, poll_seconds: float = VERSION_POLL_SECONDS) -> None:
        self._db = db
        self._builder = builder
        self._version_of = version_of
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._org_locks: dict[int, threading.Lock] = {}
        self._generations: dict[int, int] = {}
        self._bots: dict[int, OrgBot] = {}
        self._background: set[int] = set()

    def on_event(self, ev: DomainEvent) -> None:
        if ev.type not in WATCHED_EVENTS:
            return
        with self._lock:
            self._generations[ev.org_id] = self._generations.get(ev.org_id, 0) + 1
            current = self._bots.get(ev.org_id)
        if current is not None and current.build_seconds >= SYNC_BUILD_LIMIT:
            self._refresh_in_background(ev.org_id)

    def get(self, session: Session, org_id: int) -> OrgBot:
        today = local_today()
        with self._lock:
            current = self._bots.get(org_id)
            generation = self._generations.get(org_id, 0)
        if current is not None and self._fresh(current, generation, today) and self._same_version(session, current):
            return current
        if current is not None and current.build_seconds >= SYNC_BUILD_LIMIT:
            self._refresh_in_background(org_id)
            return current
        return self._build(session, org_id, today)

    def _same_version(self, session: Session, bot: OrgBot) -> bool:
        now = time.monotonic()
        if now - bot.version_checked_at < self._poll_seconds:
            return True
        bot.version_checked_at = now
        if self._version_of(session, bot.org_id) == bot.version:
            return True
        with self._lock:  # changed elsewhere: treat it like an event
            self._generations[bot.org_id] = self._generations.get(bot.org_id, 0) + 1
        return False

    def invalidate(self, org_id: int) -> None:
        """Drops an org's bot at once (tests, CLI imports that bypass the bus)."""
        with self._lock:
            self._generations[org_id] = self._generations.get(org_id, 0) + 1
            self._bots.pop(org_id, None)

    def _fresh(self, bot: OrgBot, generation: int, today: dt.date) -> bool:
        age = time.monotonic() - bot.built_at
        return bot.generation == generation and bot.day == today and age < MAX_AGE.total_seconds()

    def _org_lock(self, org_id: int) -> threading.Lock:
        with self._lock:
            return self._org_locks.setdefault(org_id, threading.Lock())

    def _build(self, session: Session, org_id: int, today: dt.date) -> OrgBot:
        with self._org_lock(org_id):
            # Another thread may have finished the same build while this one waited for the lock.
            with self._lock:
                generation = self._generations.get(org_id, 0)
                current = self._bots.get(org_id)
            if current is not None and self._fresh(current, generation, today):
                return current
            started = time.monotonic()
            bot = self._builder(session, org_id, generation, today)
            # A builder may report its own time, e.g. without the one-off loading of the embedding model.
            bot.build_seconds = bot.build_seconds or time.monotonic() - started
            bot.built_at = time.monotonic()
            with self._lock:
                installed = self._bots.get(org_id)
                if installed is None or installed.generation <= bot.generation:
                    self._bots[org_id] = bot
            log.info("bot_built", org_id=org_id, seconds=round(bot.build_seconds, 3),
                     questions=bot.questions_indexed, embeddings=bot.uses_embeddings)
            return bot

    def _refresh_in_background(self, org_id: int) -> None:
        with self._lock:
            if org_id in self._background:
                return
            self._background.add(org_id)

        def run() -> None:
            try:
                with self._db.session() as session:
                    self._build(session, org_id, local_today())
            except Exception:
                log.exception("bot_rebuild_failed", org_id=org_id)
            finally:
                with self._lock:
                    self._background.discard(org_id)

        threading.Thread(target=run, name=f"edudesk-bot-build-{org_id}", daemon=True).start()
