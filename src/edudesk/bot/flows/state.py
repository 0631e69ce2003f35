"""What the runner hands back and what the host stores: the flow state per conversation and one turn's output.

Plain frozen dataclasses rather than pydantic models: they cross no trust boundary (the host builds the state
from its own JSON column), and the state's JSON is a handful of keys so it stays cheap to read and write every turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edudesk.bot.engine import BotReply

__all__ = ["Captured", "FlowAction", "FlowOutput", "FlowState", "TrialOutcome"]

TrialOutcome = Literal["booked", "declined", "unavailable"]


@dataclass(frozen=True)
class FlowState:
    """Where a conversation is in a flow; ``to_json()`` is what the host stores (small, JSON-only values)."""

    flow_key: str
    version: int
    step: str  # the step waiting for the visitor (an ask or an offer)
    retries: int = 0  # failed answers to this step so far
    answers: dict[str, Any] = field(default_factory=dict)  # step id → the answer it got
    values: dict[str, Any] = field(default_factory=dict)  # field key → value given during this flow
    last_answer: Any = None
    interrupted: bool = False  # the last message left the flow to ask something
    # Manners (see ``runner``): side questions in a row while ``step`` waits; whether the script already came back
    # to ``step`` once since it was asked; whether it waits for a better moment instead of asking; whether ``step``
    # has not run yet (reached by dropping a question: it runs at the next good moment).
    passes: int = 0
    resumed: bool = False
    waiting: bool = False
    deferred: bool = False
    shelved: tuple[str, ...] = ()  # asks let pass twice: never asked again in their own words
    rephrased: tuple[str, ...] = ()  # shelved asks already asked once more at a better moment

    def to_json(self) -> dict[str, Any]:
        return {"flow_key": self.flow_key, "version": self.version, "step": self.step, "retries": self.retries,
                "answers": dict(self.answers), "values": dict(self.values), "last_answer": self.last_answer,
                "interrupted": self.interrupted, "passes": self.passes, "resumed": self.resumed,
                "waiting": self.waiting, "deferred": self.deferred, "shelved": list(self.shelved),
                "rephrased": list(self.rephrased)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowState:
        return cls(flow_key=str(data["flow_key"]), version=int(data["version"]), step=str(data["step"]),
                   retries=int(data.get("retries", 0)), answers=dict(data.get("answers") or {}),
                   values=dict(data.get("values") or {}), last_answer=data.get("last_answer"),
                   interrupted=bool(data.get("interrupted", False)), passes=int(data.get("passes", 0)),
                   resumed=bool(data.get("resumed", False)), waiting=bool(data.get("waiting", False)),
                   deferred=bool(data.get("deferred", False)),
                   shelved=tuple(str(s) for s in data.get("shelved") or ()),
                   rephrased=tuple(str(s) for s in data.get("rephrased") or ()))


@dataclass(frozen=True)
class Captured:
    """A lead-card value the visitor gave in answer to the flow, with the words it was read from."""

    key: str
    value: Any
    evidence: str
    step: str


@dataclass(frozen=True)
class FlowAction:
    """Something only the host can do. ``handover``: route to a human (``reason``). ``offer_trial``: show trial
    sessions for ``course`` and later call :func:`trial_outcome`. ``end``: the flow finished (``reason``:
    ``completed``, ``ask_failed``, ``flow_changed`` or ``step_budget``)."""

    kind: Literal["handover", "offer_trial", "end"]
    step: str | None = None
    reason: str | None = None
    course: str | None = None


@dataclass(frozen=True)
class FlowOutput:
    replies: tuple[BotReply, ...] = ()
    state: FlowState | None = None  # None: the flow is over (after handover or end)
    captured: tuple[Captured, ...] = ()
    actions: tuple[FlowAction, ...] = ()
    interrupted: bool = False  # the message was a question, not an answer: the host answers it (FAQ)
    asked_question: bool = False  # the message looked like a question (answered or not)
    resume: BotReply | None = None  # on interruption: the pending question again, to send after the FAQ answer

    @property
    def ended(self) -> bool:
        return self.state is None
