"""The bot engine interface that every bot feature plugs into (keyword rules today, the FAQ matcher and lead
flows later). Engines are pure: they see the turn and return a decision; the caller stores and sends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Button:
    label: str
    payload: str

    def as_dict(self) -> dict[str, str]:
        return {"label": self.label, "payload": self.payload}


@dataclass(frozen=True)
class BotReply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class BotTurn:
    org_id: int
    conversation_id: int
    text: str
    # How many visitor questions in a row the bot has failed to answer before this one.
    misses_before: int = 0


@dataclass(frozen=True)
class BotDecision:
    replies: tuple[BotReply, ...] = ()
    handoff: bool = False
    handoff_reason: str | None = None
    understood: bool = True
    matched: str | None = field(default=None)


class BotEngine(Protocol):
    def respond(self, turn: BotTurn) -> BotDecision: ...
