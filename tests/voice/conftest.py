"""The voice tests drive their coroutines with ``asyncio.run``. In a worker that has already run the browser tests,
Playwright's sync API keeps an event loop running in the main thread for the session, and ``asyncio.run`` then
refuses to start; there each coroutine runs on its own loop in a fresh thread instead (the same as the media plane
runs them: on a loop of their own)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

_real_run = asyncio.run


def _run(main: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _real_run(main, **kwargs)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_real_run, main, **kwargs).result()


@pytest.fixture(autouse=True)
def _asyncio_run_beside_a_running_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(asyncio, "run", _run)
    yield
