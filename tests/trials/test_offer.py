"""Bot buttons for trial sessions: Beijing time, weekday within the week, the date further out, online sessions."""

from __future__ import annotations

import datetime as dt

from edudesk.trials import offer

NOW = dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai


def slot(session_id: int, starts_at: dt.datetime, campus: str | None = "西湖校区") -> offer.Slot:
    return offer.Slot(session_id, starts_at, "少儿英语", campus)


def test_label_is_in_shanghai_time() -> None:
    saturday_10 = dt.datetime(2026, 3, 14, 2, 0, tzinfo=dt.UTC)
    assert offer.slot_label(slot(1, saturday_10), now=NOW) == "周六 10:00 西湖校区 少儿英语"
    late_friday_utc = dt.datetime(2026, 3, 13, 17, 30, tzinfo=dt.UTC)  # already Saturday 01:30 in Shanghai
    assert offer.slot_label(slot(1, late_friday_utc, None), now=NOW) == "周六 01:30 线上 少儿英语"


def test_a_session_a_week_or_more_away_shows_its_date() -> None:
    next_monday = dt.datetime(2026, 3, 16, 11, 0, tzinfo=dt.UTC)
    assert offer.when_label(next_monday, now=NOW) == "3月16日 周一 19:00"


def test_buttons_earliest_first_at_most_five_and_a_way_out() -> None:
    slots = [slot(i, NOW + dt.timedelta(days=1, hours=-i)) for i in range(1, 8)]
    buttons = offer.buttons(slots, now=NOW)
    assert [b.payload for b in buttons] == ["trial:7", "trial:6", "trial:5", "trial:4", "trial:3", "暂时不用"]
    assert len(buttons) <= 6
    assert offer.buttons([], now=NOW) == []
    assert offer.buttons(slots[:1], now=NOW, with_decline=False) == [
        offer.TrialButton(offer.slot_label(slots[0], now=NOW), "trial:1")]


def test_payload_round_trip() -> None:
    assert offer.parse_payload(offer.payload_of(42)) == 42
    assert offer.parse_payload(" trial:7\n") == 7
    for text in ("trial:", "trial:x", "我想约 trial:7", "", "trial:12345678901234"):
        assert offer.parse_payload(text) is None


def test_booked_text() -> None:
    saturday_10 = dt.datetime(2026, 3, 14, 2, 0, tzinfo=dt.UTC)
    assert offer.booked_text(slot(1, saturday_10), now=NOW) == "已为您预约：周六 10:00 西湖校区 少儿英语 试听课。"
