"""The dashboard pages' tests run against a hand-made source of numbers (tests/analytics/pages/fakes.py)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.analytics.pages.fakes import FakeSource


@pytest.fixture
def fake_source(app: FastAPI) -> FakeSource:
    source = FakeSource()
    app.state.dashboards = source
    return source
