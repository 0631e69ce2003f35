"""Call windows, holidays, make-up workdays and retries: pure functions, tested with explicit times in
Asia/Shanghai (no DST, so local noon is 04:00 UTC every day of the year)."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.localtime import LOCAL_TZ
from edudesk.voice.campaigns import scheduling
from edudesk.voice.campaigns.models import CampaignError, CampaignState, TargetState
from edudesk.voice.models import CallOutcome

WEEKDAYS_ONLY = scheduling.parse_windows_text("mon-fri 09:00-12:00, 14:00-20:30")


def at(day: str, clock: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LOCAL_TZ)


def schedule(now: dt.datetime, *, skip: bool = True, closed: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return scheduling.call_schedule(WEEKDAYS_ONLY, skip_holidays=skip, closed_days=closed, now=now)


def test_windows_text_round_trip() -> None:
    assert WEEKDAYS_ONLY["mon"] == [["09:00", "12:00"], ["14:00", "20:30"]]
    assert WEEKDAYS_ONLY["sat"] == []
    text = scheduling.windows_text(WEEKDAYS_ONLY)
    assert text == "mon-fri 09:00-12:00, 14:00-20:30"
    assert scheduling.parse_windows_text(text + "\nsat 10:00-11:00")["sat"] == [["10:00", "11:00"]]
    assert scheduling.windows_text(scheduling.DEFAULT_WINDOWS) == "mon-sun 09:00-12:00, 14:00-20:30"


@pytest.mark.parametrize(
    "text",
    [
        "mon 25:00-26:00",
        "mon 09:00",
        "funday 09:00-10:00",
        "fri-mon 09:00-10:00",
        "mon 12:00-09:00",
        "mon 09:00-12:00, 11:00-13:00",
        "",
        "mon 09:00-10:00\n" * 20,
        "mon <script>-10:00",
    ],
)
def test_bad_windows_are_refused_on_the_field(text: str) -> None:
    with pytest.raises(CampaignError) as caught:
        scheduling.parse_windows_text(text)
    assert caught.value.field == "windows"


def test_inside_outside_and_the_window_edges() -> None:
    now = at("2026-12-07", "10:00")  # a Monday
    sched = schedule(now)
    assert scheduling.window_at(sched, now) == scheduling.Window(True, at("2026-12-07", "12:00"), None)
    # 12:00 is the end: closed, the next start is 14:00; 08:59:59 is before the start.
    noon = scheduling.window_at(sched, at("2026-12-07", "12:00"))
    assert not noon.open and noon.next_start == at("2026-12-07", "14:00")
    assert scheduling.window_at(sched, at("2026-12-07", "11:59:59")).open
    assert not scheduling.window_at(sched, at("2026-12-07", "08:59:59")).open
    assert scheduling.window_at(sched, at("2026-12-07", "09:00")).open
    assert scheduling.window_at(sched, at("2026-12-07", "20:29")).end == at("2026-12-07", "20:30")
    # Friday evening → Monday morning.
    assert scheduling.window_at(sched, at("2026-12-11", "21:00")).next_start == at("2026-12-14", "09:00")


def test_holidays_and_make_up_workdays() -> None:
    now = at("2026-09-30", "10:00")
    sched = schedule(now)
    # National Day (a Thursday) is closed; the first window after it is the make-up Saturday 10-10.
    assert not scheduling.window_at(sched, at("2026-10-01", "10:00")).open
    assert scheduling.window_at(sched, at("2026-10-01", "10:00")).next_start == at("2026-10-08", "09:00")
    assert scheduling.window_at(sched, at("2026-10-10", "10:00")).open  # 调休 Saturday, Monday's windows
    assert not scheduling.window_at(sched, at("2026-10-11", "10:00")).open  # an ordinary Sunday
    # Without holidays, 10-01 is an ordinary Thursday and the Saturday is closed.
    plain = schedule(now, skip=False)
    assert scheduling.window_at(plain, at("2026-10-01", "10:00")).open
    assert not scheduling.window_at(plain, at("2026-10-10", "10:00")).open
    # The org's own closed day wins, also over a make-up workday.
    own = schedule(now, closed=("2026-10-10", "2026-10-09"))
    assert not scheduling.window_at(own, at("2026-10-10", "10:00")).open
    assert not scheduling.window_at(own, at("2026-10-09", "10:00")).open
    assert scheduling.window_at(own, at("2026-10-08", "10:00")).open


def test_closed_days_input() -> None:
    assert scheduling.parse_closed_days(["2026-10-09", " ", "2026-10-09"]) == ["2026-10-09"]
    for bad in (["2026-13-01"], ["明天"], ["x" * 5000]):
        with pytest.raises(CampaignError):
            scheduling.parse_closed_days(bad)
    with pytest.raises(CampaignError):
        scheduling.parse_closed_days([(dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(201)])


def test_holiday_table_covers_this_year() -> None:
    assert scheduling.holiday_years_missing([2025, 2026]) == []
    assert scheduling.holiday_years_missing([2200]) == [2200]


def test_retry_delay_grows_and_is_capped() -> None:
    assert scheduling.retry_delay(1, 30, 1.0) == dt.timedelta(minutes=30)
    assert scheduling.retry_delay(3, 30, 1.0) == dt.timedelta(minutes=30)
    assert scheduling.retry_delay(1, 30, 2.0) == dt.timedelta(minutes=30)
    assert scheduling.retry_delay(3, 30, 2.0) == dt.timedelta(minutes=120)
    assert scheduling.retry_delay(500, 30, 10.0) == scheduling.MAX_RETRY


def step(
    outcome: CallOutcome | None, now: dt.datetime, *, attempts: int = 1, callback_at: dt.datetime | None = None
) -> scheduling.NextStep:
    return scheduling.next_step(
        outcome,
        attempts=attempts,
        max_attempts=3,
        retry_minutes=60,
        retry_growth=1.0,
        callback_at=callback_at,
        schedule=schedule(now),
        now=now,
    )


def test_next_step_after_each_outcome() -> None:
    now = at("2026-12-07", "10:00")
    for final in (
        CallOutcome.interested,
        CallOutcome.refused,
        CallOutcome.wrong_number,
        CallOutcome.already_enrolled,
        CallOutcome.connected,
    ):
        assert step(final, now) == scheduling.NextStep(TargetState.done, None)
    for retry in (CallOutcome.no_answer, CallOutcome.busy, CallOutcome.failed, None):
        assert step(retry, now) == scheduling.NextStep(TargetState.pending, at("2026-12-07", "11:00"))
        assert step(retry, now, attempts=3) == scheduling.NextStep(TargetState.exhausted, None)
    # The spacing runs past the window's end: the retry waits for the next window.
    assert step(CallOutcome.busy, at("2026-12-07", "11:30")).next_attempt_at == at("2026-12-07", "14:00")
    assert step(CallOutcome.busy, at("2026-12-11", "20:00")).next_attempt_at == at("2026-12-14", "09:00")


def test_callbacks_land_in_a_window() -> None:
    now = at("2026-12-07", "10:00")
    inside = at("2026-12-08", "15:00")
    assert step(CallOutcome.callback, now, callback_at=inside).next_attempt_at == inside
    evening = at("2026-12-08", "22:00")
    assert step(CallOutcome.callback, now, callback_at=evening).next_attempt_at == at("2026-12-09", "09:00")
    # No time given (or a time already past): the next window moment, now when inside one.
    assert step(CallOutcome.callback, now).next_attempt_at == now
    assert step(CallOutcome.callback, now, callback_at=now - dt.timedelta(days=1)).next_attempt_at == now
    # A callback asked on the last attempt still happens once.
    assert step(CallOutcome.callback, now, attempts=3).state == TargetState.pending
    assert step(CallOutcome.callback, now, attempts=4).state == TargetState.exhausted


def test_campaign_state_machine() -> None:
    s = CampaignState
    assert s.draft.move_to(s.running) == s.running
    assert s.running.move_to(s.paused) == s.paused
    assert s.paused.move_to(s.running) == s.running
    for state, target in (
        (s.draft, s.paused),
        (s.finished, s.running),
        (s.canceled, s.running),
        (s.running, s.draft),
        (s.paused, s.draft),
        (s.finished, s.canceled),
    ):
        with pytest.raises(CampaignError):
            state.move_to(target)
