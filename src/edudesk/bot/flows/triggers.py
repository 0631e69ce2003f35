"""Which flow, if any, a conversation should start now.

The host calls :func:`pick_flow` when the widget opens and after each visitor message while no flow is running,
with the org's flows in admin order. The first enabled flow with a matching trigger wins, trigger kinds taken in
this precedence (a flow's trigger of a higher kind beats another flow's trigger of a lower kind; within one kind,
the admin's order decides):

1. ``off_hours`` — nobody can take over, so the lead-capture script is the only way the visit is not lost;
   it fires on the widget opening and on any message outside business hours.
2. ``keywords`` — the visitor said what they want (报名, 价格, 试听): explicit intent beats anything inferred.
3. ``faq_category`` — the bot just answered a question in a category that signals intent (课程/价格).
4. ``turns_without_contact`` — a nudge after N messages without a phone or WeChat: the weakest signal, and it
   must not pre-empt a flow that matches what the visitor is asking about.
5. ``widget_opened`` — only on the open event, a greeting script; no message trigger competes with it.

A flow this conversation already ran (finished, handed over or abandoned — the host passes their keys in
``event.done``) is never started again, whatever its triggers, so a parent is not asked for their number twice.
Keywords match case- and width-insensitively as substrings; a category trigger matches the answered entry's category
or any category below it (``课程`` matches ``课程`` and ``课程/价格``, not ``课程表``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from edudesk.bot.flows.spec import (
    FaqCategoryTrigger,
    Flow,
    KeywordsTrigger,
    OffHoursTrigger,
    Trigger,
    TurnsWithoutContactTrigger,
    WidgetOpenedTrigger,
)
from edudesk.bot.text import normalise

__all__ = ["PRECEDENCE", "FlowEvent", "matching_trigger", "pick_flow"]

PRECEDENCE = ("off_hours", "keywords", "faq_category", "turns_without_contact", "widget_opened")


@dataclass(frozen=True)
class FlowEvent:
    """What just happened in a conversation, as far as triggers care."""

    kind: Literal["widget_opened", "message"]
    text: str = ""  # the visitor's message
    faq_category: str | None = None  # category path of the FAQ entry the bot answered this turn (课程/价格)
    turns: int = 0  # visitor messages in this conversation so far, this one included
    has_contact: bool = False  # the lead card has a phone or WeChat
    off_hours: bool = False
    done: frozenset[str] = frozenset()  # keys of flows this conversation already ran


def _fires(trigger: Trigger, event: FlowEvent) -> bool:
    if isinstance(trigger, OffHoursTrigger):
        return event.off_hours
    if isinstance(trigger, WidgetOpenedTrigger):
        return event.kind == "widget_opened"
    if event.kind != "message":
        return False
    if isinstance(trigger, KeywordsTrigger):
        text = normalise(event.text)
        return any(normalise(k) in text for k in trigger.keywords if normalise(k))
    if isinstance(trigger, FaqCategoryTrigger):
        if not event.faq_category:
            return False
        prefix = trigger.category.strip("/ ")
        category = event.faq_category.strip("/ ")
        return category == prefix or category.startswith(prefix + "/")
    assert isinstance(trigger, TurnsWithoutContactTrigger)
    return not event.has_contact and event.turns >= trigger.turns


def matching_trigger(flow: Flow, event: FlowEvent) -> Trigger | None:
    """The highest-precedence trigger of ``flow`` that ``event`` fires (for logging which trigger started a flow
    and for the per-flow capture-rate report), or None."""
    fired = [t for t in flow.triggers if _fires(t, event)]
    return min(fired, key=lambda t: PRECEDENCE.index(t.kind), default=None)


def pick_flow(flows: Iterable[Flow], event: FlowEvent) -> Flow | None:
    """The flow to start for ``event`` (see the module docstring for the precedence), or None."""
    candidates: Sequence[Flow] = [f for f in flows if f.enabled and f.key not in event.done]
    best: tuple[int, int, Flow] | None = None
    for position, flow in enumerate(candidates):
        trigger = matching_trigger(flow, event)
        if trigger is None:
            continue
        rank = (PRECEDENCE.index(trigger.kind), position)
        if best is None or rank < best[:2]:
            best = (*rank, flow)
    return best[2] if best is not None else None
