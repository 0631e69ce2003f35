"""The serving process's GIL switch interval (switching.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from edudesk.settings import Settings
from edudesk.switching import set_gil_switch_interval


@pytest.fixture(autouse=True)
def _restore_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_interval_is_set_in_milliseconds_and_the_previous_one_returned() -> None:
    sys.setswitchinterval(0.005)
    assert set_gil_switch_interval(0.5) == pytest.approx(5.0)
    assert sys.getswitchinterval() == pytest.approx(0.0005)


def test_zero_leaves_the_interpreter_s_own() -> None:
    sys.setswitchinterval(0.004)
    assert set_gil_switch_interval(0) == pytest.approx(4.0)
    assert sys.getswitchinterval() == pytest.approx(0.004)


@pytest.mark.parametrize("bad", ["-1", "1000", "abc"])
def test_a_bad_setting_is_refused_by_name(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDUDESK_GIL_SWITCH_INTERVAL_MS", bad)
    with pytest.raises(ValidationError, match="gil_switch_interval_ms"):
        Settings()
