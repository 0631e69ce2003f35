"""Scoring the grounded path on labelled questions: what counts as answered, wrong and refused. Pure.

Shared by ``edudesk eval faq --llm`` (a KB file and a test file) and the per-org evaluation behind the gate
(``assist.gate``), so both report the same figures the same way.

A question goes to the grounded path only when the FAQ matcher would not answer it directly (the bot's rule). The
grounded path gives one :class:`Grounded`: ``answered`` (the text passed every guardrail), ``refused`` (the
model said the passages do not answer it), ``blocked`` (a guardrail stopped the text: it is not sent, so for the
parent this is a refusal too) or ``unavailable`` (no answer from the endpoint: FAQ-only behaviour).

An answer is judged against the label:

- out of scope (no expected entry): any answer is **wrong** — the bot should not have answered;
- in scope, answer citing the expected entry's passage: **right**;
- in scope, citing only passages that name no entry (documents): **right** when it states at least one fact
  (number, price, date, phone) and every fact it states appears in the expected entry's answer — the KB's
  reviewed answer is the truth the document answer must agree with; otherwise **wrong**;
- in scope, anything else (another entry cited, nothing cited): **wrong**.

This is deliberately strict: an answer that is right in substance but cites the wrong passage counts as wrong, so
the gate errs towards keeping the grounded path off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["answered", "refused", "blocked", "unavailable"]
_FACT = re.compile(r"\d+(?:[.:：]\d+)*|[零一二三四五六七八九十百千万两]+[元块岁节课次期个月天号日点分]")


@dataclass(frozen=True)
class Reference:
    """A passage offered to the model, with the entry it comes from (None for a document passage)."""

    entry: Any
    label: str
    text: str


@dataclass(frozen=True)
class Grounded:
    status: Status
    text: str = ""
    cited: tuple[int, ...] = ()  # 0-based indexes into the references offered
    reason: str = ""  # which guardrail, for blocked answers


Answerer = Callable[[str, Sequence[Reference]], Grounded]


def facts(text: str) -> set[str]:
    return {m.group(0).replace("：", ":") for m in _FACT.finditer(text)}


def judge(expected: Any, expected_answer: str, refs: Sequence[Reference], result: Grounded) -> str:
    """ "right" | "wrong" for an answer (module docstring), else the result's status."""
    if result.status != "answered":
        return result.status
    if expected is None:
        return "wrong"
    cited = [refs[i] for i in result.cited if 0 <= i < len(refs)]
    if any(r.entry == expected for r in cited):
        return "right"
    if cited and all(r.entry is None for r in cited):
        stated = facts(result.text)
        if stated and stated <= facts(expected_answer):
            return "right"
    return "wrong"


@dataclass
class Tally:
    """Counts of one run; ``in_scope`` / ``out_of_scope`` are of the whole labelled set (FAQ-answered included)."""

    in_scope: int = 0
    out_of_scope: int = 0
    faq_answered: int = 0  # in scope, answered directly by the FAQ matcher
    faq_wrong: int = 0  # in scope, answered directly with another entry
    faq_out_answered: int = 0  # out of scope, answered directly by the FAQ matcher
    sent: int = 0
    sent_in_scope: int = 0
    outcomes: dict[str, int] = field(
        default_factory=lambda: {"right": 0, "wrong": 0, "refused": 0, "blocked": 0, "unavailable": 0}
    )
    in_right: int = 0
    in_wrong: int = 0
    out_answered: int = 0
    blocked_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, expected: Any, verdict: str, reason: str = "") -> None:
        self.sent += 1
        self.sent_in_scope += expected is not None
        self.outcomes[verdict] = self.outcomes.get(verdict, 0) + 1
        if verdict == "blocked" and reason:
            self.blocked_reasons[reason] = self.blocked_reasons.get(reason, 0) + 1
        if expected is None:
            self.out_answered += verdict in ("right", "wrong")
        elif verdict == "right":
            self.in_right += 1
        elif verdict == "wrong":
            self.in_wrong += 1

    def report(self) -> dict[str, Any]:
        """The ``llm`` object: FAQ-only and combined figures with the FAQ report's definitions (answered and
        wrong over in-scope questions, refused over out-of-scope ones), and the grounded path's own outcomes
        over the questions sent to it."""

        def share(n: int, total: int) -> float:
            return round(n / total, 4) if total else 0.0

        answered_by_model = self.in_right + self.in_wrong
        grounded = {k: share(v, self.sent) for k, v in self.outcomes.items()}
        grounded["answered"] = share(self.outcomes["right"] + self.outcomes["wrong"], self.sent)
        return {
            "sent": self.sent,
            "sent_in_scope": self.sent_in_scope,
            "sent_out_of_scope": self.sent - self.sent_in_scope,
            "faq_only": {
                "answered": share(self.faq_answered, self.in_scope),
                "wrong_answer_rate": share(self.faq_wrong, self.in_scope),
                "refused": share(self.out_of_scope - self.faq_out_answered, self.out_of_scope),
            },
            "combined": {
                "answered": share(self.faq_answered + answered_by_model, self.in_scope),
                "wrong_answer_rate": share(self.faq_wrong + self.in_wrong, self.in_scope),
                "refused": share(self.out_of_scope - self.faq_out_answered - self.out_answered, self.out_of_scope),
                # The gate's figure: every wrong answer the parent would read (in scope answered with
                # the wrong entry or text, out of scope answered at all) over all labelled questions.
                "wrong_rate": share(
                    self.faq_wrong + self.in_wrong + self.faq_out_answered + self.out_answered,
                    self.in_scope + self.out_of_scope,
                ),
            },
            "grounded": grounded,
            "blocked_reasons": dict(sorted(self.blocked_reasons.items())),
        }
