"""The FAQ bot: the engine behind the widget once an org has a knowledge base.

One turn goes, in order: a request for a human → a complaint → small talk → the org's own keyword rules (exact
overrides an admin wants to win) → the FAQ matcher. The matcher's band decides the reply: a direct answer with its
related questions as buttons and 解决了吗 👍/👎, "您是不是想问" with the top three, or a fallback that offers a
human or leaving contact details. Repeated misses hand over to a human.

Everything here is pure: the knowledge base arrives as an index plus answer cards, built by ``bot.runtime``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edudesk.bot import smalltalk
from edudesk.bot.engine import BotDecision, BotReply, BotTurn, Button
from edudesk.bot.flows.answers import looks_like_question
from edudesk.bot.rules import HANDOFF_BUTTON, Rule, RulesBot
from edudesk.bot.sensitive import SensitiveFilter
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
        if exact is not None:
            return self._answer(self.cards[exact])
        rule = self.rules.match_rule(text)
        if rule is not None:
            return BotDecision(replies=(self._reply(rule.reply, kind="rule"),), matched=rule.keywords[0])
        if self.matcher is not None:
            result = self.matcher.match(text, k=3)
            top = [c for c in result.candidates if c.entry_id in self.cards][:3]
            if result.band == "answer" and top:
                return self._answer(self.cards[top[0].entry_id])
            # "孩子三年级，数学" states facts (acknowledged below); "一年级多少钱" asks, so it gets suggestions.
            if result.band == "suggest" and top and (not turn.facts or looks_like_question(text)):
                return self._suggest(turn, top)
        if turn.facts:
            return self._noted(turn)
        return self._miss(turn, "unanswered")

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

    def _suggest(self, turn: BotTurn, top: Sequence[Candidate]) -> BotDecision:
        if turn.misses_before + 1 >= self.max_misses:
            return self._miss(turn, "suggested")
        buttons = tuple(Button(self.cards[c.entry_id].question, self.cards[c.entry_id].question) for c in top)
        reply = self._reply(SUGGEST_INTRO, kind="suggest", buttons=(*buttons, HANDOFF_BUTTON))
        return BotDecision(replies=(reply,), understood=False, miss_reason="suggested")

    def _miss(self, turn: BotTurn, reason: str) -> BotDecision:
        if turn.misses_before + 1 >= self.max_misses:
            return BotDecision(handoff=True, handoff_reason="bot_misses", understood=False, miss_reason=reason)
        reply = self._reply(self.fallback_text, kind="fallback", buttons=(HANDOFF_BUTTON, LEAVE_CONTACT_BUTTON))
        return BotDecision(replies=(reply,), understood=False, miss_reason=reason)

    def _reply(self, text: str, *, kind: str, buttons: tuple[Button, ...] = ()) -> BotReply:
        return BotReply(self.sensitive.apply(text).text, buttons, {"kind": kind})
