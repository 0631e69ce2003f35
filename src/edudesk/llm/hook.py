"""Where the inbound orchestrator meets the grounded path: one call per visitor question the FAQ bot did not
answer confidently. It returns the bot's decision, changed only when a checked grounded answer exists, and it
never raises: whatever fails, the parent gets the FAQ bot's own reply (docs/llm.md, "Faults").

Streaming (the widget): each sentence that passed the checks goes out at once as a ``bot_stream`` frame
(docs/protocol.md); an answer stopped halfway is withdrawn with ``dropped``, and the stored reply (the bot's
fallback) arrives as usual. A finished stream ends with ``done``, and the stored answer, which names the stream in
``extra.stream_id``, takes the streamed bubble's place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.orm import Session

from edudesk.bot import service as bot_service
from edudesk.bot.engine import BotDecision
from edudesk.llm import grounded
from edudesk.llm.client import LlmClient

log = structlog.get_logger(__name__)

Frames = Callable[[dict[str, Any]], None]
STREAM_FRAME = "bot_stream"


def grounded_turn(
    session: Session,
    llm: LlmClient,
    org_id: int,
    conversation_id: int,
    question: str,
    decision: BotDecision,
    *,
    sensitive: object | None = None,
    frames: Frames | None = None,
    client_id: str | None = None,
) -> BotDecision:
    if not grounded.replaceable(decision):
        return decision
    stream_id = grounded.new_stream_id() if frames is not None else None
    seq = 0

    def sink(sentence: str | None) -> None:
        nonlocal seq
        if frames is None:
            return
        frame: dict[str, Any] = {"type": STREAM_FRAME, "stream_id": stream_id, "client_id": client_id}
        if sentence is None:
            frame.update(done=True, dropped=True)
        else:
            seq += 1
            frame.update(seq=seq, text=sentence)
        try:
            frames(frame)
        except Exception:  # a socket that went away must not cost the stored answer
            log.warning("llm_stream_frame_failed", org_id=org_id)

    try:
        result = grounded.attempt(
            session,
            llm,
            org_id,
            question,
            sensitive=sensitive,
            conversation_id=conversation_id,
            stream_to=sink if frames is not None else None,
        )
    except Exception:
        log.exception("llm_grounded_failed", org_id=org_id)
        return decision
    if result.answer is None:
        return decision
    answer = result.answer
    if seq:
        answer = replace(answer, stream_id=stream_id)
        if frames is not None:
            try:
                frames(
                    {
                        "type": STREAM_FRAME,
                        "stream_id": stream_id,
                        "client_id": client_id,
                        "done": True,
                        "dropped": False,
                    }
                )
            except Exception:
                log.warning("llm_stream_frame_failed", org_id=org_id)
    bot_service.understood(session, org_id, conversation_id)
    return grounded.with_answer(decision, answer)
