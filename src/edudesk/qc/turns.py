"""What the inspector reads: a plain sequence of turns (speaker, text, time), whatever the medium.

A chat conversation is adapted to this shape by :mod:`edudesk.qc.adapt`; a call transcript (the voice area, when it
exists) will be adapted the same way, so every rule works on both without knowing where the words came from.
Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field


class Speaker(enum.StrEnum):
    customer = "customer"  # the visitor in a chat, the called person on a call
    agent = "agent"  # a member of staff
    bot = "bot"  # the FAQ bot, a flow, the call robot
    system = "system"  # notices (“王老师 已接入”), never inspected as words


@dataclass(frozen=True)
class Turn:
    speaker: Speaker
    text: str
    at: dt.datetime
    # The stored message (chat) or transcript segment (call) the turn came from: hits point back to it.
    ref: int | None = None


SecondsBetween = Callable[[dt.datetime, dt.datetime], float]


def wall_seconds(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds()


@dataclass(frozen=True)
class Transcript:
    """One conversation or call, in order. ``human_start``: when a person took it over (a chat's assignment, a
    call's answer), the start of the first-response clock; None when unknown. ``contact_known``: the customer's
    phone or WeChat was on file before it started (then not asking for it is no missed chance).
    ``seconds_between`` measures waiting time; the adapter passes business seconds when a rule asks for them."""

    turns: tuple[Turn, ...]
    human_start: dt.datetime | None = None
    contact_known: bool = False
    business_seconds: SecondsBetween | None = field(default=None, compare=False)

    @property
    def has_agent(self) -> bool:
        return any(t.speaker == Speaker.agent for t in self.turns)
