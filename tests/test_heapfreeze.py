"""The heap freezer: survivors leave the collector's reach each period, and the hourly settle reclaims the cyclic
garbage that died frozen."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from edudesk.heapfreeze import HeapFreezer, limit_malloc_arenas, settle


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process runs unfrozen (EDUDESK_FREEZE_HEAP=false)


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_young_garbage_is_collected_not_frozen() -> None:
    dead = _cycle()  # unreachable already, but in a cycle: only a collection frees it
    HeapFreezer(freeze_seconds=30, settle_seconds=3600).tick(now=100.0, last_settle=0.0)
    assert dead() is None


def test_a_tick_freezes_and_a_settle_reclaims_frozen_cycles() -> None:
    freezer = HeapFreezer(freeze_seconds=30, settle_seconds=3600)
    gc.collect()
    alive = Node()
    alive.other = Node()
    alive.other.other = alive  # a socket's objects: in a cycle, alive while it is open
    dead = weakref.ref(alive)
    assert freezer.tick(now=100.0, last_settle=0.0) == 0.0 and freezer.freezes == 1
    assert gc.get_freeze_count() > 0
    del alive  # the socket closes after its objects were frozen
    gc.collect()
    assert dead() is not None, "a frozen cycle is out of the collector's reach"
    assert freezer.tick(now=3600.0, last_settle=0.0) == 3600.0 and freezer.settles == 1
    assert dead() is None, "the settle collected it"
    assert gc.get_freeze_count() > 0, "and froze the survivors again"


def test_settle_returns_its_pause() -> None:
    assert settle() >= 0.0


@pytest.mark.parametrize(("freeze", "settle_every"), [(0, 10), (-1, 10), (30, 10)])
def test_nonsense_periods_are_refused(freeze: float, settle_every: float) -> None:
    with pytest.raises(ValueError):
        HeapFreezer(freeze, settle_every)


def test_run_freezes_every_period() -> None:
    freezer = HeapFreezer(freeze_seconds=0.05, settle_seconds=3600)

    async def briefly() -> None:
        task = asyncio.create_task(freezer.run())
        for _ in range(200):  # up to 10 s on a loaded machine; two periods are 0.1 s
            await asyncio.sleep(0.05)
            if freezer.freezes >= 2:
                break
        task.cancel()

    asyncio.run(briefly())
    assert freezer.freezes >= 2 and freezer.settles == 0


def test_malloc_arenas_can_be_capped() -> None:
    assert limit_malloc_arenas(8) is True  # glibc: the default cap on a small machine is higher; 8 changes nothing
