"""The grounded path as the evaluations call it: one question and its passages in, a ``judging.Grounded`` out.

Both answerers use ``llm.grounded``'s prompt (``build_messages``) and ``llm.guardrails.check_answer`` — the live
path's own words and checks — over passages given as references: ``offline_answerer`` for ``eval faq --llm`` (an
endpoint from the command line, the KB file's answers as passages) and ``live_answerer`` for the org's own
evaluation (the org's endpoint through the client, purpose ``eval``; the answers of the matcher's best entries
plus the org's document passages). The live ``grounded.attempt`` cannot be used as it is: it answers only once the
org has switched grounded answers on, which is what the evaluation decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy.orm import Session

from edudesk.errors import DomainError
from edudesk.llm import client as llm_client
from edudesk.llm import grounded, guardrails
from edudesk.llm.assist import judging
from edudesk.llm.client import LlmClient
from edudesk.llm.documents.index import Hit

Complete = Callable[[list[dict[str, str]]], str | None]


class AssistUnavailable(DomainError):
    """The assist cannot run for this org (no endpoint configured)."""


def _hit(ref: judging.Reference, position: int) -> Hit:
    return Hit(
        passage_id=0,
        document_id=0,
        document=ref.label,
        version=0,
        position=position,
        heading="",
        text=ref.text,
        score=0.0,
    )


def answer_with(
    complete: Complete, question: str, refs: Sequence[judging.Reference], forbidden: Iterable[str] = ()
) -> judging.Grounded:
    """Prompt, call, check: the grounded path's outcome for one question."""
    if not refs:
        return judging.Grounded("refused", reason="no_passages")
    hits = [_hit(ref, n) for n, ref in enumerate(refs)]
    raw = complete(grounded.build_messages(question, hits))
    if raw is None:
        return judging.Grounded("unavailable")
    verdict = guardrails.check_answer(raw, [f"{h.heading}\n{h.text}" for h in hits], forbidden=forbidden)
    if not verdict.ok:
        if verdict.reason == "no_answer":
            return judging.Grounded("refused", raw)
        return judging.Grounded("blocked", raw, reason=verdict.reason)
    return judging.Grounded("answered", raw, tuple(n - 1 for n in dict.fromkeys(guardrails.citations(raw))))


def offline_answerer(complete: Callable[[list[dict[str, str]], int], str | None]) -> judging.Answerer:
    def answer(question: str, refs: Sequence[judging.Reference]) -> judging.Grounded:
        return answer_with(lambda messages: complete(messages, grounded.MAX_TOKENS), question, refs)

    return answer


def live_answerer(llm: LlmClient | None, session: Session, org_id: int) -> judging.Answerer:
    """The org's endpoint; the references given (KB answers) plus the org's own document passages."""
    row = llm_client.settings_of(session, org_id)
    forbidden = tuple(row.forbidden_phrases or ()) if row is not None else ()

    def complete(messages: list[dict[str, str]]) -> str | None:
        if llm is None:
            return None
        done = llm.complete(session, org_id, messages, purpose="eval", max_tokens=grounded.MAX_TOKENS)
        return done.text if done is not None else None

    def answer(question: str, refs: Sequence[judging.Reference]) -> judging.Grounded:
        documents = document_refs(llm, session, org_id, question)
        return answer_with(complete, question, [*refs, *documents], forbidden)

    return answer


def document_refs(
    llm: LlmClient | None, session: Session, org_id: int, question: str, limit: int = grounded.PASSAGES
) -> list[judging.Reference]:
    """The org's document passages for a question, as references that name no KB entry."""
    if llm is None or llm.indexes is None:
        return []
    hits = llm.indexes.get(session, org_id).search(question, k=limit)
    return [judging.Reference(None, f"《{h.document}》{h.heading}", f"{h.heading}\n{h.text}".strip()) for h in hits]
