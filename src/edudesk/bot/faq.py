"""The FAQ bot: the engine behind the widget once an org has a knowledge base.

One turn goes, in order: a request for a human → a complaint → small talk → the org's own keyword rules (exact
overrides an admin wants to win) → the FAQ matcher. The matcher's band decides the reply: a direct answer with its
related questions as buttons and 解决了吗 👍/👎, "您是不是想问" with the top three, or a fallback that offers a
human or leaving contact details. Repeated misses hand over to a human.

A message asking several questions ("校区在哪里，停车方便吗") is split (``bot.splitter``) after the checks that
read the whole message (a human, a complaint, abuse, small talk); each part goes through the rules and the matcher,
and the answers come in one reply (``bot.multi``, ``FaqBot._several``).

Everything here is pure: the knowledge base arrives as an index plus answer cards, built by ``bot.runtime``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from edudesk.bot import multi, smalltalk, splitter
from edudesk.bot.engine import BotDecision, BotReply, BotTurn, Button
from edudesk.bot.rules import HANDOFF_BUTTON, Rule, RulesBot
from edudesk.bot.sensitive import SensitiveFilter
from edudesk.bot.splitter import Part
from edudesk.bot.text import normalise

SUGGEST_INTRO = "您是不是想问："
LEAVE_CONTACT = "留下联系方式"
LEAVE_CONTACT_BUTTON = Button(LEAVE_CONTACT, LEAVE_CONTACT)
ASK_CONTACT_TEXT = "好的～请留下您的手机号或微信号，并说说孩子的年级和想了解的课程，老师会尽快与您联系。"
CONTACT_NOTED_TEXT = "收到，已为您记下联系方式，课程老师会尽快与您联系～还有其他问题也可以继续问我。"
FACTS_NOTED_TEXT = "好的，已为您记下（{noted}）。想了解课程安排、价格还是免费试听？直接问我就行～"
CONTACT_FIELDS = frozenset({"phone", "wechat"})
COMPLAINT_TEXT = "非常抱歉给您带来了不好的体验，正在为您转接老师处理，请稍候。"
ABUSE_TEXT = "理解您着急的心情，我们文明沟通，我会尽力帮您解决～"
COMPLAINT_WORDS = ("投诉", "骗子", "骗钱", "差评", "举报", "曝光你们", "太坑了", "坑人", "维权", "12315")
MAX_RELATED = 3
MAX_BUTTONS = 6


@dataclass(frozen=True)
class AnswerCard:
    entry_id: int
    question: str
    answer: str
    category: str = ""
    images: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    related: tuple[str, ...] = ()


class Candidate(Protocol):
    """Read-only: the matcher's candidates are frozen."""

    @property
    def entry_id(self) -> int: ...

    @property
    def question(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def lexical(self) -> float: ...

    @property
    def semantic(self) -> float: ...


class MatchResult(Protocol):
    @property
    def band(self) -> str: ...

    @property
    def candidates(self) -> Sequence[Candidate]: ...


class Matcher(Protocol):
    def match(self, query: str, k: int = 3) -> MatchResult: ...

    def suggest_for(self, context: str, k: int = 3) -> Sequence[Candidate]:
        """Entries related to a context (page title, categories asked about), for "猜你所想"."""
        ...


class FaqBot:
    def __init__(
        self,
        *,
        matcher: Matcher | None,
        cards: Mapping[int, AnswerCard],
        rules: Sequence[Rule],
        handoff_keywords: Sequence[str],
        fallback_text: str,
        max_misses: int = 3,
        sensitive: SensitiveFilter | None = None,
    ) -> None:
        self.matcher = matcher
        self.cards = cards
        self.rules = RulesBot(rules, handoff_keywords=handoff_keywords, fallback_text=fallback_text,
                              max_misses=max_misses)
        self.fallback_text = fallback_text
        self.max_misses = max_misses
        self.sensitive = sensitive or SensitiveFilter(())
        # A click on a hot question, a suggestion or a related question sends the standard question itself.
        self._by_question = {normalise(c.question): c.entry_id for c in cards.values()}

    def respond(self, turn: BotTurn) -> BotDecision:
        text = turn.text
        if self.rules.wants_human(text):
            return BotDecision(handoff=True, handoff_reason="visitor_request")
        norm = normalise(text)
        if any(w in norm for w in COMPLAINT_WORDS):
            return BotDecision(replies=(self._reply(COMPLAINT_TEXT, kind="complaint"),), handoff=True,
                               handoff_reason="complaint")
        if self.sensitive.apply(text).hit:
            return BotDecision(replies=(self._reply(ABUSE_TEXT, kind="abuse"),))
        if norm == normalise(LEAVE_CONTACT):
            return BotDecision(replies=(self._reply(ASK_CONTACT_TEXT, kind="ask_contact"),))
        talk = smalltalk.recognise(text)
        if talk is not None:
            return BotDecision(replies=(self._reply(talk.reply, kind="smalltalk"),), matched=talk.intent)
        exact = self._by_question.get(norm)
        if exact is not None:  # a click on a standard question, also one written as two ("学费多少，能分期吗？")
            return self._answer(self.cards[exact])
        parts = splitter.split(text)
        outcomes: dict[str, multi.Outcome] = {}

        def classify(part: Part) -> multi.Outcome:
            known = outcomes.get(part.text)  # the whole message may come up twice: matched once
            if known is None:
                known = outcomes[part.text] = self._classify(part)
            return known if known.part == part else replace(known, part=part)

        whole = Part(text, splitter.asks(text))
        if len(parts) > 1:
            several = self._several(turn, parts, classify, lambda: classify(whole).answered)
            if several is not None:
                return several
        outcome = classify(whole)
        if outcome.answered:
            return self._answered(outcome)
        # "孩子三年级，数学" states facts (acknowledged below); "一年级多少钱" asks, so it gets suggestions.
        if outcome.near and (not turn.facts or whole.question):
            return self._suggest(turn, outcome.near)
        if turn.facts:
            return self._noted(turn)
        return self._miss(turn, "unanswered")

    def _classify(self, part: Part) -> multi.Outcome:
        """One question's match, by the bot's usual steps: a clicked standard question, then the org's keyword
        rules (exact overrides an admin wants to win), then the matcher."""
        if smalltalk.recognise(part.text) is not None:
            return multi.Outcome(part, skipped=True)
        exact = self._by_question.get(normalise(part.text))
        if exact is not None:
            return multi.Outcome(part, card=self.cards[exact])
        rule = self.rules.match_rule(part.text)
        if rule is not None:
            return multi.Outcome(part, rule=rule)
        if self.matcher is None:
            return multi.Outcome(part)
        result = self.matcher.match(part.text, k=3)
        top = tuple(self.cards[c.entry_id] for c in result.candidates if c.entry_id in self.cards)[:3]
        if result.band == "answer" and top:
            return multi.Outcome(part, card=top[0])
        return multi.Outcome(part, near=top if result.band == "suggest" else ())

    def _several(self, turn: BotTurn, parts: Sequence[Part], classify: multi.Classify,
                 whole_answered: Callable[[], bool]) -> BotDecision | None:
        """A message of several questions answered part by part (``bot.multi``), or None to answer it whole.

        Split only when that answers more: two or more different answers; one, when the whole message is not
        answered confidently by itself; or one beside a part that matches nothing at all (it is another question,
        not an elaboration: "你们食堂伙食怎么样，学费多少" must not pass the canteen over in silence). One answer for
        which the whole message also has an answer, the other parts near it, stays a single question written with
        a comma ("报名后可以退费吗，上了几节课还能退吗", "老师怎么样，有没有经验丰富的")."""
        found = multi.plan(parts, classify)
        if not found.answered or (len(found.answered) == 1 and not found.missed and whole_answered()):
            return None
        first = found.answered[0]
        if len(found.answered) == 1 and not (found.near or found.missed or found.more):
            return self._answered(first)
        composed = multi.compose(found)
        reply = BotReply(self.sensitive.apply(composed.text).text, composed.buttons, composed.extra)
        cards = [o.card for o in composed.answered if o.card is not None]
        matched = cards[0].question if cards else (first.rule.keywords[0] if first.rule is not None else None)
        return BotDecision(replies=(reply,), matched=matched, entry_id=cards[0].entry_id if cards else None,
                           category=(cards[0].category or None) if cards else None,
                           more_answers=tuple((c.entry_id, c.category or None) for c in cards[1:]),
                           part_misses=composed.misses)

    def _answered(self, outcome: multi.Outcome) -> BotDecision:
        if outcome.card is not None:
            return self._answer(outcome.card)
        assert outcome.rule is not None
        return BotDecision(replies=(self._reply(outcome.rule.reply, kind="rule"),), matched=outcome.rule.keywords[0])

    def _noted(self, turn: BotTurn) -> BotDecision:
        """The message told us about the visitor rather than asking: say what was recorded (not a miss)."""
        if {key for key, _, _ in turn.facts} & CONTACT_FIELDS:
            return BotDecision(replies=(self._reply(CONTACT_NOTED_TEXT, kind="contact_noted"),))
        noted = "，".join(f"{label}：{value}" for _, label, value in turn.facts[:4])
        return BotDecision(replies=(self._reply(FACTS_NOTED_TEXT.format(noted=noted), kind="facts_noted"),))

    def _answer(self, card: AnswerCard) -> BotDecision:
        related = tuple(Button(q, q) for q in card.related[:MAX_RELATED])
        buttons = (*card.buttons, *related)[:MAX_BUTTONS]
        extra: dict[str, object] = {"kind": "answer", "kb_entry_id": card.entry_id, "feedback": True}
        if card.images:
            extra["images"] = list(card.images)
        reply = BotReply(self.sensitive.apply(card.answer).text, buttons, extra)
        return BotDecision(replies=(reply,), matched=card.question, entry_id=card.entry_id,
                           category=card.category or None)

    def _suggest(self, turn: BotTurn, top: Sequence[AnswerCard]) -> BotDecision:
        if turn.misses_before + 1 >= self.max_misses:
            return self._miss(turn, "suggested")
        buttons = tuple(Button(card.question, card.question) for card in top)
        reply = self._reply(SUGGEST_INTRO, kind="suggest", buttons=(*buttons, HANDOFF_BUTTON))
        return BotDecision(replies=(reply,), understood=False, miss_reason="suggested")

    def _miss(self, turn: BotTurn, reason: str) -> BotDecision:
        if turn.misses_before + 1 >= self.max_misses:
            return BotDecision(handoff=True, handoff_reason="bot_misses", understood=False, miss_reason=reason)
        reply = self._reply(self.fallback_text, kind="fallback", buttons=(HANDOFF_BUTTON, LEAVE_CONTACT_BUTTON))
        return BotDecision(replies=(reply,), understood=False, miss_reason=reason)

    def _reply(self, text: str, *, kind: str, buttons: tuple[Button, ...] = ()) -> BotReply:
        return BotReply(self.sensitive.apply(text).text, buttons, {"kind": kind})
