"""服务小结: a short summary of a conversation, written by the org's model when an agent resolves it.

Resolving happens in the conversations area, which must not import us (we sit in the layer above). As in
``edudesk.qc.hooks``, the app factory attaches :func:`attach` to its session factory: before every flush it looks
for conversations whose ``state`` becomes ``resolved`` and, when the org has an endpoint configured, enqueues an
``llm.summary`` job in that same session — so the job commits in the resolving transaction or not at all. The job
calls the model outside any request; when the client answers None (off, down, slow, over budget) nothing is
stored and the job ends normally: no retry storm against a dead endpoint, no error for anyone.

The summary is an internal system message with ``extra.kind == "summary"``: agents and QC see it in the
transcript, the visitor never does (internal messages are not sent, not shown in the widget, not exported to
the contact). Its rules are enforced on the output (``prompts.clean_summary``), whatever the transcript asked.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from edudesk import jobs
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.llm.assist import model, prompts
from edudesk.llm.client import LlmClient

SUMMARY_JOB = "llm.summary"
SUMMARY_KIND = "summary"
SENDER_NAME = "AI 服务小结"
ENQUEUED_KEY = "edudesk_llm_summary_enqueued"
WHO = {"visitor": "访客", "agent": "老师", "bot": "机器人"}
log = structlog.get_logger(__name__)


def _resolving(conv: Conversation) -> bool:
    state = inspect(conv)
    if "state" not in state.committed_state:
        return False  # the state did not change (no committed value, no history): every bot turn's flush
    history = state.attrs.state.history
    added = list(history.added or ())
    return (
        bool(added)
        and added[0] == ConversationState.resolved
        and ConversationState.resolved not in (history.deleted or ())
    )


def enqueue_resolved(session: Session) -> None:
    """Enqueues ``llm.summary`` for each conversation in ``session`` being resolved whose org has an endpoint
    (once per conversation and transaction)."""
    done: set[int] = session.info.setdefault(ENQUEUED_KEY, set())
    for obj in list(session.dirty):
        if not isinstance(obj, Conversation) or obj.id in done or not _resolving(obj):
            continue
        done.add(obj.id)
        with session.no_autoflush:
            if not model.configured(session, obj.org_id):
                continue
        jobs.enqueue(
            session, SUMMARY_JOB, {"org_id": obj.org_id, "conversation_id": obj.id}, org_id=obj.org_id, max_attempts=1
        )


def attach(factory: sessionmaker[Session]) -> None:
    @sa_event.listens_for(factory, "before_flush")
    def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
        enqueue_resolved(session)

    @sa_event.listens_for(factory, "after_transaction_end")
    def _end(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            session.info.pop(ENQUEUED_KEY, None)


def transcript_lines(session: Session, org_id: int, conversation_id: int) -> list[prompts.Line]:
    """What visitor, agents and bot said, in order; internal notes and system lines are not the conversation."""
    rows = conversations_service.messages_as_dicts(session, org_id, conversation_id, include_internal=False)
    return [prompts.Line(WHO[m["sender"]], m["text"] or "[图片]") for m in rows if m["sender"] in WHO]


def summarise(llm: LlmClient | None, session: Session, org_id: int, conversation_id: int) -> str | None:
    """The cleaned summary text, or None (no endpoint answer, or the visitor said nothing)."""
    lines = transcript_lines(session, org_id, conversation_id)
    if not any(line.who == "访客" for line in lines):
        return None
    raw = model.ask(
        llm,
        session,
        org_id,
        "summary",
        prompts.summary_messages(lines),
        max_tokens=400,
        conversation_id=conversation_id,
    )
    return prompts.clean_summary(raw)


class SummaryJob:
    """The ``llm.summary`` handler (holds the process's client): stores the summary as a staff-only note, or
    nothing."""

    def __init__(self, llm: LlmClient | None) -> None:
        self.llm = llm

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        org_id, conversation_id = int(payload["org_id"]), int(payload["conversation_id"])
        text = summarise(self.llm, session, org_id, conversation_id)
        if text is None:
            log.info("llm.summary.skipped", org_id=org_id, conversation_id=conversation_id)
            return
        conversations_service.post_system_note(
            session,
            org_id,
            conversation_id,
            text,
            sender_name=SENDER_NAME,
            extra={"kind": SUMMARY_KIND, "generated": True},
        )


def register_jobs(registry: jobs.JobRegistry, llm: LlmClient | None) -> None:
    registry.register(SUMMARY_JOB, SummaryJob(llm))
