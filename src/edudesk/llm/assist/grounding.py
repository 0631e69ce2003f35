"""The grounded path as the evaluations call it: one question and its passages in, a ``judging.Grounded`` out.

Two answerers over the same ``llm.grounded`` prompt and guardrails: ``offline_answerer`` for ``eval faq --llm``
(an endpoint from the command line, the KB file's answers as passages) and ``live_answerer`` for the org's own
evaluation (the org's endpoint through the client, KB answers plus the org's document passages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from edudesk.errors import DomainError
from edudesk.llm.assist import judging
from edudesk.llm.client import LlmClient

Complete = Callable[[list[dict[str, str]], int], str | None]


class AssistUnavailable(DomainError):
    """The assist cannot run for this org (no endpoint configured)."""


def offline_answerer(complete: Complete) -> judging.Answerer:
    def answer(question: str, refs: Sequence[judging.Reference]) -> judging.Grounded:
        return judging.Grounded("unavailable")  # WIP: llm.grounded

    return answer


def live_answerer(llm: LlmClient | None, session: Session, org_id: int) -> judging.Answerer:
    def answer(question: str, refs: Sequence[judging.Reference]) -> judging.Grounded:
        return judging.Grounded("unavailable")  # WIP: llm.grounded

    return answer
