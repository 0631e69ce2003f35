"""Visitor turns mark the process busy; the background job loop waits for a pause, never longer than its cap."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edudesk.foreground import Foreground


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_turn_and_the_moment_after_it_are_busy() -> None:
    clock = Clock()
    fg = Foreground(clock)
    assert not fg.busy(0.02)
    with fg.turn():
        assert fg.busy(0.0)
        with fg.turn():  # two visitors at once
            pass
        assert fg.busy(0.0), "the other turn still runs"
    assert fg.busy(0.02)
    clock.now += 0.03
    assert not fg.busy(0.02)


def test_a_turn_that_fails_still_ends() -> None:
    fg = Foreground(Clock())

    @fg.marks
    def receive(text: str) -> str:
        assert fg.busy(0.0)
        if not text:
            raise ValueError("empty")
        return text.upper()

    assert receive("hi") == "HI" and receive.__name__ == "receive"
    with pytest.raises(ValueError, match="empty"):
        receive("")
    with fg.turn():
        pass
    assert fg._active == 0


def test_nothing_running_means_no_wait() -> None:
    assert asyncio.run(Foreground(Clock()).wait_quiet(0.01, max_wait=5.0)) == 0.0


def test_waiting_for_quiet_is_bounded_and_ends_with_the_turns() -> None:
    fg = Foreground()

    async def scenario() -> tuple[float, float]:
        release = threading.Event()

        def long_turn() -> None:
            with fg.turn():
                release.wait(10)

        turn = threading.Thread(target=long_turn)
        turn.start()
        try:
            capped = await fg.wait_quiet(0.01, max_wait=0.05)
            asyncio.get_running_loop().call_later(0.05, release.set)
            ended = await fg.wait_quiet(0.01, max_wait=5.0)
        finally:
            release.set()
            turn.join()
        return capped, ended

    capped, ended = asyncio.run(scenario())
    assert 0.05 <= capped < 5.0, "a turn that never ends does not hold the background for longer than the cap"
    assert 0.05 <= ended < 5.0, "the wait ended once the turn had ended and the quiet moment passed"
