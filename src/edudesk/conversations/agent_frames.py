"""The agent socket's client frames (docs/protocol.md, "Agent WebSocket") as typed commands.

Agent actions are POST forms; the socket only carries typing state and keep-alives. ``parse`` is pure and total,
like the visitor's (``channels/web/frames.py``): a command or a documented ``FrameProblem``, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from edudesk.wsframes import FrameProblem, Refused, decode, get_bool, get_id, unknown_type


@dataclass(frozen=True)
class AgentTyping:
    conversation_id: int
    is_typing: bool


@dataclass(frozen=True)
class AgentPing:
    pass


AgentCommand = AgentTyping | AgentPing

CLIENT_TYPES: Final = frozenset({"typing", "ping"})


def parse(raw: str | bytes | None) -> AgentCommand | FrameProblem:
    frame = decode(raw)
    if isinstance(frame, FrameProblem):
        return frame
    kind: str = frame["type"]
    try:
        if kind == "ping":
            return AgentPing()
        if kind == "typing":
            return AgentTyping(get_id(frame, "conversation_id"), get_bool(frame, "is_typing", default=False))
    except Refused as exc:
        return exc.problem
    return unknown_type(kind)
