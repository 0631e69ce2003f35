"""The conversation life cycle as an enum that refuses illegal transitions."""

from __future__ import annotations

import enum


class ConversationState(enum.StrEnum):
    bot = "bot"
    queued = "queued"
    assigned = "assigned"
    resolved = "resolved"
    closed = "closed"


S = ConversationState

ALLOWED: dict[ConversationState, frozenset[ConversationState]] = {
    S.bot: frozenset({S.queued, S.assigned, S.resolved, S.closed}),
    S.queued: frozenset({S.assigned, S.bot, S.resolved, S.closed}),
    # assigned → queued: the agent hands the conversation back to the queue.
    S.assigned: frozenset({S.resolved, S.queued, S.closed}),
    # resolved → assigned: the visitor writes again before the conversation is closed.
    S.resolved: frozenset({S.closed, S.assigned, S.bot}),
    S.closed: frozenset(),
}

STATE_LABELS = {
    S.bot: "机器人接待",
    S.queued: "排队中",
    S.assigned: "人工服务中",
    S.resolved: "已解决",
    S.closed: "已关闭",
}


class IllegalTransition(ValueError):
    def __init__(self, current: ConversationState, target: ConversationState) -> None:
        super().__init__(f"cannot move a conversation from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: ConversationState, target: ConversationState) -> None:
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
