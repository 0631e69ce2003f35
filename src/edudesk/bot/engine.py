"""The bot engine interface that every bot feature plugs into (keyword rules, the FAQ matcher, later lead flows).
Engines are pure: they see the turn and return a decision; the caller stores and sends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    # Structured parts stored with the message for the widget: "kind" (answer / suggest / fallback / smalltalk),
    # "kb_entry_id" and "feedback" (show 解决了吗 👍/👎), "images" (URLs shown under the text); a reply answering
    # several questions also has "answers": [{"kb_entry_id", "asked"}] (``bot.multi``).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BotTurn:
    org_id: int
    conversation_id: int
    text: str
    # How many visitor questions in a row the bot has failed to answer before this one.
    misses_before: int = 0
    page_title: str | None = None
    # Lead facts this message stated and the card recorded, as (field key, label, value): ("grade", "年级", "三年级").
    facts: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class BotDecision:
    replies: tuple[BotReply, ...] = ()
    handoff: bool = False
    handoff_reason: str | None = None
    understood: bool = True
    matched: str | None = field(default=None)
    # The knowledge-base entry answered directly, and its category path (for "猜你所想").
    entry_id: int | None = None
    category: str | None = None
    # Why a question counts as not answered, for the misses log: "unanswered" or "suggested".
    miss_reason: str | None = None
    # A message asking several questions (``bot.multi``): the entries answered after ``entry_id``, each with its
    # category path, and the parts left unanswered as (the visitor's words, miss reason) for the misses log.
    more_answers: tuple[tuple[int, str | None], ...] = ()
    part_misses: tuple[tuple[str, str], ...] = ()


class BotEngine(Protocol):
    def respond(self, turn: BotTurn) -> BotDecision: ...
