"""The assist's one seam to the rest of ``llm``: is an endpoint configured, ask it, find passages, check a text.

Kept in one module so the assist code reads the same whatever the client and the grounded path look like inside.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from edudesk.bot.faq import Matcher
from edudesk.kb import service as kb_service
from edudesk.llm import client, guardrails
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


def ask(
    llm: LlmClient | None,
    session: Session,
    org_id: int,
    purpose: str,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    conversation_id: int | None = None,
) -> str | None:
    """The model's text, or None (no client, no endpoint, down, slow, over budget: logged by the client)."""
    if llm is None:
        return None
    done = llm.complete(
        session, org_id, messages, purpose=purpose, max_tokens=max_tokens, conversation_id=conversation_id
    )
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


def passages(
    llm: LlmClient | None, session: Session, org_id: int, query: str, matcher: Matcher | None
) -> list[Passage]:
    """KB answers first (the institution's reviewed words), then the org's document passages."""
    found = kb_passages(session, org_id, query, matcher)
    if llm is not None and llm.indexes is not None and query.strip():
        for hit in llm.indexes.get(session, org_id).search(query, k=DOCUMENT_PASSAGES):
            found.append(Passage(f"《{hit.document}》{hit.heading}", f"{hit.heading}\n{hit.text}".strip()))
    return found


def check(session: Session, org_id: int, text: str, found: Sequence[Passage]) -> list[str]:
    """The grounded guardrails' findings on ``text`` as sentences for the agent (empty: nothing to flag).

    The same rules as a grounded answer (``llm.guardrails``), all of them reported rather than the first: every
    number, price, date, phone number and link must appear in the passages (a suggestion cites none, so all
    passages count), no forbidden promise (the defaults and the org's own), no sign that the model left its role.
    """
    row = client.settings_of(session, org_id)
    forbidden = dict.fromkeys((*guardrails.DEFAULT_FORBIDDEN, *((row.forbidden_phrases or ()) if row else ())))
    raw = "\n".join(p.text for p in found)
    source, stated = guardrails.facts(raw), guardrails.facts(text)
    digits = re.sub(r"\D", "", raw)
    problems = [
        f"电话 {phone} 不在资料里，请核对"
        for phone in sorted(stated.phones)
        if phone not in source.phones and phone not in digits
    ]
    date_numbers: set[str] = set()
    for date in sorted(stated.dates):
        date_numbers.update(date.split("-"))
        if date not in source.dates:
            problems.append(f"日期 {date} 不在资料里，请核对")
    problems += [
        f"数字 {number} 不在资料里（价格、课时、日期等请核对）"
        for number in sorted(stated.numbers - date_numbers - source.numbers)
    ]
    problems += [f"链接 {url} 不在资料里" for url in sorted(stated.urls - source.urls)]
    folded = guardrails.fold(text)
    problems += [
        f"含有不能承诺的说法“{phrase}”" for phrase in forbidden if phrase and guardrails.fold(phrase) in folded
    ]
    problems += [
        f"含有异常内容“{marker}”，可能受了访客消息的误导"
        for marker in guardrails.LEAK_MARKERS
        if guardrails.fold(marker) in folded
    ]
    return problems
