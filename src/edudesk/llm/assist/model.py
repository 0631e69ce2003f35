"""The assist's one seam to the rest of ``llm``: is an endpoint configured, ask it, find passages, check a text.

Kept in one module so the assist code reads the same whatever the client and the grounded path look like inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.bot.faq import Matcher
from edudesk.kb import service as kb_service
from edudesk.llm import client
from edudesk.llm.client import LlmClient

KB_PASSAGES = 3
DOCUMENT_PASSAGES = 4

__all__ = ["Matcher", "Passage", "ask", "check", "configured", "kb_passages", "passages"]


@dataclass(frozen=True)
class Passage:
    label: str  # where it comes from, for the agent: "词条 #12 学费多少" / "文档《招生简章》"
    text: str


def configured(session: Session, org_id: int) -> bool:
    """Whether the org has an endpoint switched on (not whether it is up: a call finds that out, answering None)."""
    return client.usable(client.settings_of(session, org_id))


def ask(llm: LlmClient | None, session: Session, org_id: int, purpose: str, messages: list[dict[str, str]], *,
        max_tokens: int, conversation_id: int | None = None) -> str | None:
    """The model's text, or None (no client, no endpoint, down, slow, over budget: logged by the client)."""
    if llm is None:
        return None
    done = llm.complete(session, org_id, messages, purpose=purpose, max_tokens=max_tokens,
                        conversation_id=conversation_id)
    return done.text if done is not None else None


def kb_passages(session: Session, org_id: int, query: str, matcher: Matcher | None) -> list[Passage]:
    """The answers of the KB entries the question matches best (active ones only)."""
    if matcher is None or not query.strip():
        return []
    found = []
    for candidate in matcher.match(query, k=KB_PASSAGES).candidates[:KB_PASSAGES]:
        card = kb_service.entry_card(session, org_id, candidate.entry_id)
        if card is not None:
            found.append(Passage(f"词条 #{card.entry_id} {card.question}", f"{card.question}：{card.answer}"))
    return found


def passages(session: Session, org_id: int, query: str, matcher: Matcher | None) -> list[Passage]:
    """KB answers first (the institution's reviewed words), then document passages."""
    found = kb_passages(session, org_id, query, matcher)
    return found  # WIP: document passages from llm.grounded


def check(session: Session, org_id: int, text: str, found: Sequence[Passage]) -> list[str]:
    """The grounded guardrails' findings on ``text`` as sentences for the agent (empty: nothing to flag)."""
    return []  # WIP: llm.grounded's guardrails
