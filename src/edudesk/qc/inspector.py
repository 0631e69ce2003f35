"""The inspector: a rule set compiled once per revision, applied to one transcript at a time.

``compile_rules(rules, price_book)`` turns stored rule dicts into checkers (phrase lists compiled to one regex
each, the price book's course-name regex built); ``CompiledRules.inspect(transcript)`` runs every enabled checker
over the turns and returns the hits and the score. Pure: no database, no clock — so it serves chats and, later, call
transcripts alike, and the benchmark measures exactly what the job runs.

Scoring: every conversation starts at 100; each rule that hits deducts its points *once*, however often it hits
(all its hits are still listed); the score never goes below 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edudesk.nlp.extract.common import fold
from edudesk.nlp.extract.phones import find_phones
from edudesk.nlp.extract.wechat import find_wechat
from edudesk.qc.lexicon import PhraseList, prepare
from edudesk.qc.prices import PriceBook, quotes
from edudesk.qc.turns import Speaker, Transcript, Turn, wall_seconds

# A hostile or endless conversation must not store thousands of rows: at most this many hits per rule.
MAX_HITS_PER_RULE = 20
MAX_MATCHED = 100
_LETTERS = re.compile(r"[a-z]")


@dataclass(frozen=True)
class Hit:
    rule_key: str
    kind: str
    name: str
    severity: str
    points: int
    turn: int | None  # index into the transcript's turns
    ref: int | None  # the message (or transcript segment) id
    start: int
    end: int
    matched: str
    reason: str


@dataclass(frozen=True)
class Result:
    hits: tuple[Hit, ...]
    score: int
    deducted: int
    severe: bool
    complaint: bool


class _Context:
    """The transcript with each turn's prepared text computed once, lazily, for all rules."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.turns = transcript.turns
        self._prepared: list[str | None] = [None] * len(self.turns)

    def text(self, i: int) -> str:
        value = self._prepared[i]
        if value is None:
            value = self._prepared[i] = prepare(self.turns[i].text)
        return value

    def of(self, speaker: Speaker) -> Iterator[tuple[int, Turn]]:
        return ((i, t) for i, t in enumerate(self.turns) if t.speaker == speaker)

    def seconds(self, start: Any, end: Any, business: bool) -> float:
        measure = self.transcript.business_seconds if business else None
        return (measure or wall_seconds)(start, end)


@dataclass
class _Rule:
    key: str
    kind: str
    name: str
    severity: str
    points: int
    params: dict[str, Any]

    def hit(self, ctx: _Context, turn: int | None, start: int, end: int, reason: str) -> Hit:
        t = ctx.turns[turn] if turn is not None else None
        return Hit(self.key, self.kind, self.name, self.severity, self.points, turn, t.ref if t else None,
                   start, end, (t.text[start:end] if t else "")[:MAX_MATCHED], reason)

    def check(self, ctx: _Context) -> list[Hit]:
        raise NotImplementedError


@dataclass
class _Phrases(_Rule):
    """forbidden / rude (agent turns) and complaint (customer turns)."""

    words: PhraseList = field(init=False)

    def __post_init__(self) -> None:
        self.words = PhraseList(self.params["words"], negation=bool(self.params.get("negation")))

    def check(self, ctx: _Context) -> list[Hit]:
        speaker = Speaker.customer if self.kind == "complaint" else Speaker.agent
        what = {"forbidden": "客服说了禁用的承诺 / 词语", "rude": "客服使用了服务禁语",
                "complaint": "访客表达了投诉或不满"}[self.kind]
        out = []
        for i, _turn in ctx.of(speaker):
            for found in self.words.find(ctx.text(i)):
                words = ctx.turns[i].text[found.start:found.end]
                out.append(self.hit(ctx, i, found.start, found.end, f"{what}：“{words}”"))
        return out


@dataclass
class _Required(_Rule):
    phrases: PhraseList = field(init=False)

    def __post_init__(self) -> None:
        self.phrases = PhraseList(self.params["phrases"], negation=False)

    def check(self, ctx: _Context) -> list[Hit]:
        agent = [i for i, _ in ctx.of(Speaker.agent)]
        if not agent:
            return []
        n = int(self.params.get("turns", 1))
        start = self.params.get("position") == "start"
        window = agent[:n] if start else agent[-n:]
        if any(self.phrases.first(ctx.text(i)) for i in window):
            return []
        example = "、".join(self.params["phrases"][:3])
        where = "开场" if start else "结束时"
        return [self.hit(ctx, window[0] if start else window[-1], 0, 0,
                         f"客服{where}没有说{self.name}（如：{example}）")]


@dataclass
class _FirstResponse(_Rule):
    def check(self, ctx: _Context) -> list[Hit]:
        began = ctx.transcript.human_start
        first = next(ctx.of(Speaker.agent), None)
        if began is None or first is None or first[1].at < began:
            return []
        limit = int(self.params["seconds"])
        waited = ctx.seconds(began, first[1].at, bool(self.params.get("business_hours")))
        if waited <= limit:
            return []
        return [self.hit(ctx, first[0], 0, 0, f"人工接入后 {int(waited)} 秒才首次回复（时限 {limit} 秒）")]


@dataclass
class _ReplyTime(_Rule):
    def check(self, ctx: _Context) -> list[Hit]:
        limit = int(self.params["seconds"])
        business = bool(self.params.get("business_hours"))
        out: list[Hit] = []
        seen_agent = False
        waiting = None
        for i, turn in enumerate(ctx.turns):
            if turn.speaker == Speaker.customer and seen_agent and waiting is None:
                waiting = turn.at
            elif turn.speaker == Speaker.agent:
                if waiting is not None:
                    waited = ctx.seconds(waiting, turn.at, business)
                    if waited > limit:
                        out.append(self.hit(ctx, i, 0, 0, f"访客等待 {int(waited)} 秒才得到回复（时限 {limit} 秒）"))
                seen_agent, waiting = True, None
        return out


@dataclass
class _MissedContact(_Rule):
    intent: PhraseList = field(init=False)
    ask: PhraseList = field(init=False)

    def __post_init__(self) -> None:
        self.intent = PhraseList(self.params["intent_words"], negation=True)
        self.ask = PhraseList(self.params["ask_words"], negation=True)

    def check(self, ctx: _Context) -> list[Hit]:
        if ctx.transcript.contact_known or not ctx.transcript.has_agent:
            return []
        shown = None
        for i, turn in ctx.of(Speaker.customer):
            text = ctx.text(i)
            if _gives_contact(turn.text, text):
                return []
            if shown is None:
                found = self.intent.first(text)
                if found is not None:
                    shown = (i, found)
        if shown is None:
            return []
        if any(self.ask.first(ctx.text(i)) for i, _ in ctx.of(Speaker.agent)):
            return []
        i, found = shown
        word = ctx.turns[i].text[found.start:found.end]
        return [self.hit(ctx, i, found.start, found.end,
                         f"访客表达了意向（“{word}”），会话结束时客服没有询问、访客也没有留下手机号或微信")]


def _gives_contact(original: str, prepared: str) -> bool:
    phones = find_phones(prepared)
    if phones:
        return True
    if _LETTERS.search(prepared):
        return find_wechat(fold(original), []) is not None
    return False


@dataclass
class _PriceMismatch(_Rule):
    book: PriceBook | None = None

    def check(self, ctx: _Context) -> list[Hit]:
        book = self.book
        if book is None or not book.prices:
            return []
        min_amount = int(self.params.get("min_amount", 0))
        tolerance = float(self.params.get("tolerance", 0))
        context: str | None = None
        out = []
        for i, turn in enumerate(ctx.turns):
            if turn.speaker == Speaker.customer:
                named = {course for _, course in book.names.mentions(ctx.text(i))}
                context = named.pop() if len(named) == 1 else None
            elif turn.speaker == Speaker.agent:
                for quote in quotes(book, ctx.text(i), context, min_amount):
                    if any(abs(quote.amount.value - known) <= tolerance for known in quote.known):
                        continue
                    listed = "、".join(f"{k:g}" for k in sorted(quote.known))
                    reason = f"报价 {quote.amount.value:g} 元与知识库中“{quote.course}”的价格（{listed} 元）不符"
                    out.append(self.hit(ctx, i, quote.amount.start, quote.amount.end, reason))
        return out


_CHECKERS: dict[str, type[_Rule]] = {
    "forbidden": _Phrases, "rude": _Phrases, "complaint": _Phrases, "required": _Required,
    "first_response": _FirstResponse, "reply_time": _ReplyTime, "missed_contact": _MissedContact,
    "price_mismatch": _PriceMismatch,
}


@dataclass(frozen=True)
class CompiledRules:
    rules: tuple[_Rule, ...]

    def inspect(self, transcript: Transcript) -> Result:
        ctx = _Context(transcript)
        hits: list[Hit] = []
        deducted = 0
        for rule in self.rules:
            found = rule.check(ctx)[:MAX_HITS_PER_RULE]
            if found:
                deducted += rule.points
                hits.extend(found)
        hits.sort(key=lambda h: (h.turn if h.turn is not None else -1, h.start))
        return Result(tuple(hits), max(0, 100 - deducted), deducted, any(h.severity == "severe" for h in hits),
                      any(h.kind == "complaint" for h in hits))


def compile_rules(rules: list[dict[str, Any]], price_book: PriceBook | None = None) -> CompiledRules:
    """Checkers for the enabled ``rules`` (stored, already validated dicts)."""
    compiled: list[_Rule] = []
    for r in rules:
        if not r.get("enabled") or r["kind"] not in _CHECKERS:
            continue
        checker = _CHECKERS[r["kind"]](r["key"], r["kind"], r["name"], r["severity"], int(r["points"]),
                                       dict(r["params"]))
        if isinstance(checker, _PriceMismatch):
            checker.book = price_book
        compiled.append(checker)
    return CompiledRules(tuple(compiled))
