"""The keyword-rule bot: recognises requests for a human and answers from the org's keyword → reply list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edudesk.bot.engine import BotDecision, BotReply, BotTurn, Button
from edudesk.bot.text import normalise

DEFAULT_HANDOFF_KEYWORDS = (
    "转人工", "人工客服", "人工服务", "找人工", "要人工", "接人工", "真人", "找老师", "联系老师", "咨询老师",
    "和老师聊", "跟老师聊", "找客服", "联系客服", "客服在吗", "有人吗", "有没有人",
)
# Messages that ask for a human only when they are the whole message ("人工" inside "人工智能" is not).
EXACT_HANDOFF = frozenset({"人工", "客服", "老师", "转接", "human", "agent"})
HANDOFF_BUTTON = Button("转人工", "转人工")


@dataclass(frozen=True)
class Rule:
    keywords: tuple[str, ...]
    reply: str


class RulesBot:
    def __init__(self, rules: Sequence[Rule], *, handoff_keywords: Sequence[str], fallback_text: str,
                 max_misses: int = 3) -> None:
        self.rules = [Rule(tuple(normalise(k) for k in r.keywords if normalise(k)), r.reply) for r in rules]
        self.handoff_keywords = tuple(normalise(k) for k in handoff_keywords if normalise(k))
        self.fallback_text = fallback_text
        self.max_misses = max_misses

    def wants_human(self, text: str) -> bool:
        norm = normalise(text)
        if norm in EXACT_HANDOFF:
            return True
        return any(k in norm for k in self.handoff_keywords)

    def match_rule(self, text: str) -> Rule | None:
        """The first rule with a keyword in the text; ``keywords[0]`` of the result is the keyword that hit."""
        norm = normalise(text)
        if norm:
            for rule in self.rules:
                hit = next((k for k in rule.keywords if k in norm), None)
                if hit is not None:
                    return Rule((hit,), rule.reply)
        return None

    def respond(self, turn: BotTurn) -> BotDecision:
        if self.wants_human(turn.text):
            return BotDecision(handoff=True, handoff_reason="visitor_request")
        rule = self.match_rule(turn.text)
        if rule is not None:
            return BotDecision(replies=(BotReply(rule.reply),), matched=rule.keywords[0])
        if turn.misses_before + 1 >= self.max_misses:
            return BotDecision(handoff=True, handoff_reason="bot_misses", understood=False)
        return BotDecision(replies=(BotReply(self.fallback_text, (HANDOFF_BUTTON,)),), understood=False)
