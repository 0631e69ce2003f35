"""The stall monitor sees a garbage collection and a blocked event loop, and the server publishes both."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from edudesk.stalls import StallMonitor


class Recorder:
    """The monitor's logger in these tests (structlog's capture misses a module logger cached by an earlier app)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, object]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.entries.append({"event": event, **fields})


def _count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(f"{name}_count", labels or None)
    return value or 0.0


def test_collections_and_a_blocked_loop_are_measured_and_logged() -> None:
    registry = CollectorRegistry()
    logs = Recorder()
    monitor = StallMonitor(registry, log_over=0.2, logger=logs)

    async def scenario() -> None:
        monitor.start()
        try:
            await asyncio.sleep(0.12)  # the watcher ticks
            gc.collect(2)
            time.sleep(0.35)  # noqa: ASYNC251 - the point: a synchronous call that blocks the loop
            await asyncio.sleep(0.12)
        finally:
            await monitor.stop()

    asyncio.run(scenario())
    assert _count(registry, "edudesk_gc_pause_seconds", generation="2") >= 1
    assert _count(registry, "edudesk_event_loop_lag_seconds") >= 2
    stalled = [e for e in logs.entries if e["event"] == "event_loop_stalled"]
    assert stalled and float(stalled[0]["seconds"]) >= 0.3  # type: ignore[arg-type]
    # Stopped: collections are no longer counted.
    before = _count(registry, "edudesk_gc_pause_seconds", generation="2")
    gc.collect(2)
    assert _count(registry, "edudesk_gc_pause_seconds", generation="2") == before
    assert monitor._on_gc not in gc.callbacks


def test_a_long_collection_is_logged_with_its_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    def walks_the_heap() -> int:
        raise AssertionError("gc.get_freeze_count() walks every frozen object with the GIL held")

    monkeypatch.setattr(gc, "get_freeze_count", walks_the_heap)
    registry = CollectorRegistry()
    logs = Recorder()
    monitor = StallMonitor(registry, log_over=0.0, logger=logs)  # every collection counts as long here
    gc.callbacks.append(monitor._on_gc)
    try:
        gc.collect(1)
    finally:
        gc.callbacks.remove(monitor._on_gc)
    paused = [e for e in logs.entries if e["event"] == "gc_pause"]
    assert paused and paused[0]["generation"] == 1 and "collected" in paused[0]


def test_the_server_publishes_pauses_and_lag(client: TestClient) -> None:
    time.sleep(0.15)
    gc.collect()
    text = client.get("/metrics").text
    assert 'edudesk_gc_pause_seconds_count{generation="2"}' in text
    assert "edudesk_event_loop_lag_seconds_bucket" in text
