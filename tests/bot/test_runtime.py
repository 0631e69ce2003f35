"""The per-org bot cache: rebuilt on change events, on a version bump from another process and at midnight;
slow builds refresh in the background while the old bot keeps answering."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from edudesk.bot import runtime as runtime_mod
from edudesk.bot.faq import FaqBot
from edudesk.bot.runtime import BotRuntime, OrgBot
from edudesk.events import DomainEvent
from edudesk.hours import service as hours_service


class FakeDb:
    @contextmanager
    def session(self) -> Iterator[None]:
        yield None


class Builds:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[int, int]] = []
        self.delay = delay
        self.version = 0
        self.lock = threading.Lock()

    def __call__(self, _session: Any, org_id: int, generation: int, today: dt.date) -> OrgBot:
        with self.lock:
            self.calls.append((org_id, generation))
        time.sleep(self.delay)
        engine = FaqBot(matcher=None, cards={}, rules=(), handoff_keywords=(), fallback_text="?")
        return OrgBot(org_id=org_id, engine=engine, welcome_text=f"v{len(self.calls)}", hot_questions=(),
                      generation=generation, version=self.version, day=today)

    def version_of(self, _session: Any, _org_id: int) -> int:
        return self.version


def runtime(builds: Builds, poll: float = 3600) -> BotRuntime:
    return BotRuntime(FakeDb(), builds, builds.version_of, poll_seconds=poll)  # type: ignore[arg-type]


def test_a_bot_is_built_once_and_kept() -> None:
    builds = Builds()
    bots = runtime(builds)
    first = bots.get(None, 1)  # type: ignore[arg-type]
    assert bots.get(None, 1) is first  # type: ignore[arg-type]
    assert builds.calls == [(1, 0)]


def test_events_rebuild_only_their_org() -> None:
    builds = Builds()
    bots = runtime(builds)
    a, b = bots.get(None, 1), bots.get(None, 2)  # type: ignore[arg-type]
    bots.on_event(DomainEvent("kb.changed", 1))
    bots.on_event(DomainEvent("message.created", 2))  # not a bot change
    assert bots.get(None, 1) is not a  # type: ignore[arg-type]
    assert bots.get(None, 2) is b  # type: ignore[arg-type]
    bots.on_event(DomainEvent("bot.changed", 2))
    assert bots.get(None, 2) is not b  # type: ignore[arg-type]


def test_saved_business_hours_rebuild_the_bot() -> None:
    """The off-hours script runs by the org's hours: saving them (hours.changed) rebuilds that org's bot."""
    builds = Builds()
    bots = runtime(builds)
    a = bots.get(None, 1)  # type: ignore[arg-type]
    bots.on_event(DomainEvent(hours_service.HOURS_CHANGED, 1))
    assert bots.get(None, 1) is not a  # type: ignore[arg-type]


def test_a_version_bump_from_elsewhere_is_noticed_when_polled() -> None:
    builds = Builds()
    bots = runtime(builds, poll=0)
    first = bots.get(None, 1)  # type: ignore[arg-type]
    assert bots.get(None, 1) is first  # type: ignore[arg-type]
    builds.version = 5
    second = bots.get(None, 1)  # type: ignore[arg-type]
    assert second is not first and second.version == 5
    assert bots.get(None, 1) is second  # type: ignore[arg-type]


def test_the_version_is_not_read_on_every_turn() -> None:
    builds = Builds()
    bots = runtime(builds, poll=3600)
    first = bots.get(None, 1)  # type: ignore[arg-type]
    builds.version = 9
    assert bots.get(None, 1) is first  # type: ignore[arg-type]


def test_a_new_day_rebuilds(monkeypatch: pytest.MonkeyPatch) -> None:
    builds = Builds()
    bots = runtime(builds)
    first = bots.get(None, 1)  # type: ignore[arg-type]
    monkeypatch.setattr(runtime_mod, "local_today", lambda now=None: first.day + dt.timedelta(days=1))
    assert bots.get(None, 1) is not first  # type: ignore[arg-type]


def test_a_slow_bot_keeps_answering_while_it_rebuilds_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_mod, "SYNC_BUILD_LIMIT", 0.05)
    builds = Builds(delay=0.1)
    bots = runtime(builds)
    old = bots.get(None, 1)  # type: ignore[arg-type]
    bots.on_event(DomainEvent("kb.changed", 1))
    started = time.monotonic()
    assert bots.get(None, 1) is old  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.05  # did not wait for the build
    deadline = time.monotonic() + 5
    while bots.get(None, 1) is old and time.monotonic() < deadline:  # type: ignore[arg-type]
        time.sleep(0.01)
    assert bots.get(None, 1) is not old  # type: ignore[arg-type]
    assert len(builds.calls) == 2  # one background build, however often it was asked for


def test_concurrent_first_turns_build_once() -> None:
    builds = Builds(delay=0.05)
    bots = runtime(builds)
    got: list[OrgBot] = []
    threads = [threading.Thread(target=lambda: got.append(bots.get(None, 1))) for _ in range(8)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds.calls) == 1 and len({id(b) for b in got}) == 1


def test_invalidate_drops_the_bot() -> None:
    builds = Builds()
    bots = runtime(builds)
    first = bots.get(None, 1)  # type: ignore[arg-type]
    bots.invalidate(1)
    assert bots.get(None, 1) is not first  # type: ignore[arg-type]
