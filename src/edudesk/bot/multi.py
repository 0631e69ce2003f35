"""Several questions in one message: "校区在哪里，停车方便吗" gets both answers, in one reply.

``bot.splitter`` proposes the parts; here each part is matched on its own (by the FAQ bot's own steps: a clicked
standard question, a keyword rule, the matcher), and the outcome decides the reply:

- the parts answered confidently, each answer once (two parts hitting one entry give one answer), each under the
  entry's standard question as a short heading "【有停车位吗？】" — the visitor sees what each answer is about, and a
  wrong match shows itself. Headings, not numbers: on WeChat text the numbers are the choices (``channels.choices``);
- one line for the question parts nothing matched (quoted, so the parent knows they were read) and the way to a
  teacher; one line when the message asked more than ``MAX_PARTS`` questions;
- "您是不是想问" last, for the question parts that were only near misses, with their candidates as buttons;
- then the answered entries' own buttons and related questions, up to ``MAX_BUTTONS``.

Parts that do not ask anything ("我家孩子三年级", "谢谢") are context: answered when they match confidently, never
mentioned or logged otherwise. Whether to split at all is decided in ``FaqBot.respond`` (see ``worth_splitting``).
Pure: no database; the caller logs the misses of the parts (``BotDecision.part_misses``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edudesk.bot.engine import Button
from edudesk.bot.rules import HANDOFF_BUTTON, Rule
from edudesk.bot.splitter import Part

if TYPE_CHECKING:
    from edudesk.bot.faq import AnswerCard

__all__ = ["MAX_PARTS", "Composed", "Outcome", "Plan", "compose", "plan"]

MAX_PARTS = 3  # questions answered from one message at most
MAX_SUGGESTIONS = 3
MAX_BUTTONS = 6
MAX_TEXT_CHARS = 600  # answers past this are offered as buttons (WeChat texts stop at 2,048 bytes)
QUOTE_CHARS = 16
MISSED_TEXT = "{quoted}我暂时答不上来，可以点“转人工”问问老师～"
MORE_TEXT = "问题比较多，我先回答到这里～其他的可以接着问我，或者点“转人工”请老师解答。"
FOLDED_TEXT = "{quoted}的回答比较长，点下面的问题就能看到～"
NEAR_ONE = "关于“{quoted}”，您是不是想问："
NEAR_MANY = "另外几个问题，您是不是想问："


@dataclass(frozen=True)
class Outcome:
    """How one part fared: answered from the knowledge base (``card``) or a keyword rule, near misses only, or
    nothing; ``skipped`` for small talk ("谢谢"), which is neither answered nor missed."""

    part: Part
    card: AnswerCard | None = None
    rule: Rule | None = None
    near: tuple[AnswerCard, ...] = ()
    skipped: bool = False

    @property
    def answered(self) -> bool:
        return self.card is not None or self.rule is not None

    @property
    def key(self) -> tuple[str, object]:
        """What the answer is, so two parts answered alike are answered once."""
        if self.card is not None:
            return ("entry", self.card.entry_id)
        return ("rule", self.rule.reply if self.rule is not None else None)


Classify = Callable[[Part], Outcome]


@dataclass(frozen=True)
class Plan:
    answered: tuple[Outcome, ...]  # distinct answers, in the visitor's order
    near: tuple[Outcome, ...]  # question parts with near misses (candidates not answered above)
    missed: tuple[Outcome, ...]  # question parts nothing matched
    more: bool  # questions after the first MAX_PARTS, not looked at


def plan(parts: Sequence[Part], classify: Classify) -> Plan:
    """Matches the parts (at most ``MAX_PARTS``); a soft run-on cut is undone unless both sides are answered by
    different entries, and the rejoined text is matched as one."""
    outcomes: list[Outcome] = []
    more = False
    for part in parts:
        if sum(not o.skipped for o in outcomes) >= MAX_PARTS:  # "谢谢" takes no place
            more = more or part.question
            continue
        outcome = classify(part)
        if not outcome.answered and part.core:
            # "我微信 abc123，学费多少": the context made the question harder to match; the question alone may not be.
            alone = classify(Part(part.core, part.question, part.soft))
            outcome = alone if alone.answered or alone.near else outcome
        if part.soft and outcomes:
            before = outcomes[-1]
            if not (before.answered and outcome.answered and before.key != outcome.key):
                outcomes[-1] = classify(Part(before.part.text + part.text, True, before.part.soft))
                continue
        outcomes.append(outcome)
    answered: dict[tuple[str, object], Outcome] = {}
    for outcome in outcomes:
        if outcome.answered:
            answered.setdefault(outcome.key, outcome)
    done = {o.card.entry_id for o in answered.values() if o.card is not None}
    near: list[Outcome] = []
    missed: list[Outcome] = []
    for outcome in outcomes:
        if outcome.answered or outcome.skipped or not outcome.part.question:
            continue
        if outcome.near and outcome.near[0].entry_id in done:
            continue  # closest to an answer given above: the same question in other words ("…，怎么退")
        left = tuple(c for c in outcome.near if c.entry_id not in done)
        if left:
            near.append(Outcome(outcome.part, near=left))
        elif not outcome.near:
            missed.append(outcome)
        # else: its near misses were all answered above — the same question in other words, said once.
    return Plan(tuple(answered.values()), tuple(near), tuple(missed), more)


def quote(text: str) -> str:
    """The visitor's words, short, for a line of the reply."""
    text = text.strip().rstrip("？?。.!！~～")
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


@dataclass(frozen=True)
class Composed:
    text: str
    buttons: tuple[Button, ...]
    extra: dict[str, Any]
    answered: tuple[Outcome, ...]  # the answers in the text (not the ones folded into buttons)
    misses: tuple[tuple[str, str], ...]  # (part, "suggested" / "unanswered") for the misses log


def compose(found: Plan) -> Composed:
    """The one reply for a plan with at least one answer.

    Answers after the first that would take the text past ``MAX_TEXT_CHARS`` are folded: their questions become
    buttons (a click sends the standard question and gets that answer alone). Three long answers in one bubble are
    a wall of text, and WeChat refuses a text message over 2,048 bytes."""
    sections: list[str] = []
    own: list[Button] = []
    images: list[str] = []
    answers: list[dict[str, Any]] = []
    shown: list[Outcome] = []
    folded: list[Outcome] = []
    for outcome in found.answered:
        card = outcome.card
        heading = card.question if card is not None else quote(outcome.part.asked)
        body = card.answer if card is not None else outcome.rule.reply if outcome.rule is not None else ""
        section = f"【{heading}】\n{body}"
        if sections and sum(len(t) + 2 for t in sections) + len(section) > MAX_TEXT_CHARS:
            folded.append(outcome)
            continue
        sections.append(section)
        shown.append(outcome)
        if card is not None:
            own.extend((*card.buttons, *(Button(q, q) for q in card.related)))
            images.extend(i for i in card.images if i not in images)
            answers.append({"kb_entry_id": card.entry_id, "asked": outcome.part.asked})
    lines: list[str] = []
    if found.missed:
        lines.append(MISSED_TEXT.format(quoted="".join(f"“{quote(o.part.asked)}”" for o in found.missed)))
    if found.more:
        lines.append(MORE_TEXT)
    unfold = [_button(o) for o in folded]
    if unfold:
        lines.append(FOLDED_TEXT.format(quoted="".join(f"“{b.label}”" for b in unfold)))
    suggestions = _suggestions(found.near)
    if suggestions:
        lines.append(NEAR_ONE.format(quoted=quote(found.near[0].part.asked)) if len(found.near) == 1 else NEAR_MANY)
    text = "\n\n".join(sections) + ("\n\n" + "\n".join(lines) if lines else "")
    buttons = [*(Button(c.question, c.question) for c in suggestions), *unfold]
    if found.missed or found.more or suggestions:
        buttons.append(HANDOFF_BUTTON)
    answered = {o.card.question for o in found.answered if o.card is not None}
    for button in own:
        if button.payload not in answered and all(b.payload != button.payload for b in buttons):
            buttons.append(button)
    extra: dict[str, Any] = {"kind": "rule"}
    if answers:
        extra = {"kind": "answer", "kb_entry_id": answers[0]["kb_entry_id"], "feedback": True, "answers": answers}
        if images:
            extra["images"] = images
    misses = (*((o.part.asked, "suggested") for o in found.near), *((o.part.asked, "unanswered") for o in found.missed))
    return Composed(text, tuple(buttons[:MAX_BUTTONS]), extra, tuple(shown), misses)


def _button(outcome: Outcome) -> Button:
    """A folded answer as a button that asks for it: the standard question, or the words that hit the rule."""
    if outcome.card is not None:
        return Button(outcome.card.question, outcome.card.question)
    return Button(quote(outcome.part.asked), outcome.part.asked)


def _suggestions(near: Sequence[Outcome]) -> list[AnswerCard]:
    """The near misses of all parts, best of each part first, each entry once."""
    picked: list[AnswerCard] = []
    for rank in range(MAX_SUGGESTIONS):
        for outcome in near:
            if rank < len(outcome.near) and all(c.entry_id != outcome.near[rank].entry_id for c in picked):
                picked.append(outcome.near[rank])
    return picked[:MAX_SUGGESTIONS]
