"""One conversation's measures (``rollup_conversations.measure``), definition by definition: a table of message
timelines and conversation columns with the expected numbers (docs/metrics.md, "Conversations")."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from edudesk.analytics.rollup_conversations import Said, measure

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def t(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def conv(**kw: Any) -> SimpleNamespace:
    base = {"state": "bot", "handoff_reason": None, "queued_at": None, "assigned_at": None, "resolved_at": None,
            "closed_at": None, "csat_score": None, "csat_scale": None}
    return SimpleNamespace(**{**base, **kw})


V, B, A, SYS = "visitor", "bot", "agent", "system"
CASES = [
    ("opened, never written", conv(), [Said(B, t(0))],
     {"valid": False, "bot_resolved": False, "handed_over": False, "served": False}),
    ("bot alone", conv(), [Said(V, t(0)), Said(B, t(1))],
     {"valid": True, "bot_resolved": True, "handed_over": False, "first_response_seconds": None}),
    ("handed over off hours, no queue (a ticket)", conv(handoff_reason="visitor_request"), [Said(V, t(0))],
     {"bot_resolved": False, "handed_over": True, "queued": False, "abandoned": False}),
    ("waiting now is not abandoned", conv(state="queued", queued_at=t(5)), [Said(V, t(0))],
     {"queued": True, "abandoned": False, "wait_seconds": None}),
    ("left the queue", conv(state="bot", queued_at=t(5)), [Said(V, t(0))],
     {"abandoned": True, "served": False}),
    ("queued, assigned, answered", conv(state="assigned", queued_at=t(10), assigned_at=t(70)),
     [Said(V, t(0)), Said(SYS, t(70)), Said(A, t(100)), Said(V, t(110)), Said(V, t(115)), Said(A, t(140))],
     {"wait_seconds": 60, "first_response_seconds": 30, "response_sum": 30, "response_count": 1,
      "handling_seconds": None, "abandoned": False}),
    ("internal notes are no reply", conv(assigned_at=t(0)),
     [Said(V, t(1)), Said(A, t(5), internal=True), Said(A, t(9))],
     {"first_response_seconds": 9, "response_sum": 8, "response_count": 1}),
    ("an agent stepped in from the bot", conv(state="resolved", assigned_at=t(50), resolved_at=t(350)),
     [Said(V, t(0)), Said(A, t(50)), Said(V, t(60))],
     {"served": True, "queued": False, "wait_seconds": None, "first_response_seconds": 0,
      "handling_seconds": 300, "response_count": 0}),
    ("transferred after the first reply: service starts at the first reply",
     conv(state="assigned", queued_at=t(0), assigned_at=t(500)), [Said(V, t(0)), Said(A, t(20)), Said(V, t(30)),
                                                                Said(A, t(45))],
     {"wait_seconds": 20, "first_response_seconds": 0, "response_sum": 15, "response_count": 1}),
    ("rated 2 of 3", conv(state="closed", assigned_at=t(0), csat_score=2, csat_scale=3), [Said(V, t(0))],
     {"csat_rated": True, "csat_value": 0.5, "csat_satisfied": False}),
    ("rated 4 of 5 is satisfied", conv(state="closed", assigned_at=t(0), csat_score=4, csat_scale=5),
     [Said(V, t(0))], {"csat_value": 0.75, "csat_satisfied": True}),
    ("a rating stored without a scale was on five stars", conv(assigned_at=t(0), csat_score=5), [Said(V, t(0))],
     {"csat_value": 1.0, "csat_satisfied": True}),
]


@pytest.mark.parametrize(("name", "row", "said", "expected"), CASES, ids=[c[0] for c in CASES])
def test_measure(name: str, row: SimpleNamespace, said: list[Said], expected: dict[str, Any]) -> None:
    got = measure(row, said)
    assert {k: got[k] for k in expected} == expected
