"""Real-browser fixtures: one headless Debian chromium per test session, a fresh context per test.

Every test in this folder is marked ``e2e`` and kept in one xdist group, so under ``-n`` they share a worker
(and its browser) instead of launching a chromium per worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).parent
# Assertions wait up to 20 s (Playwright's default is 5 s): on a loaded 2-core machine a widget's socket handshake
# alone has taken longer than 5 s, and once (a machine at load 10) the widget's session took over 10 s. A wait ends
# as soon as the condition holds, so this costs nothing when all is well.
expect.set_options(timeout=20_000)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist registers this marker itself; register it too so `-p no:xdist --strict-markers` still works.
    config.addinivalue_line("markers", "xdist_group(name): run the marked tests on one xdist worker")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The browser tests exercise the widget, not the database: SQLite only (the API tests cover PostgreSQL)."""
    return sqlite_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        # Under CI a missing browser fails the run: a green CI means the browser tests ran.
        why = f"{CHROMIUM} is not installed (make test installs it; or apt-get install chromium)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """A visitor's browser and an agent's, side by side (tests with more people define their own)."""
    visitor = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    agent = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    yield visitor, agent
    visitor.close()
    agent.close()
