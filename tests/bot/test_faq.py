"""The FAQ bot's decisions, with a stub matcher so each band is chosen on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from edudesk.bot.engine import BotTurn, Button
from edudesk.bot.faq import ASK_CONTACT_TEXT, SUGGEST_INTRO, AnswerCard, FaqBot
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS, Rule
from edudesk.bot.sensitive import SensitiveFilter

CARDS = {
    1: AnswerCard(1, "一年级数学多少钱", "一年级数学每期 3600 元，共 16 课时。详情见 https://example.edu/price",
                  "课程/价格",
                  images=("/static/price.png",), buttons=(Button("预约试听", "预约试听"),),
                  related=("怎么预约试听", "可以退费吗")),
    2: AnswerCard(2, "怎么预约试听", "留下电话即可预约免费试听。", "试听"),
    3: AnswerCard(3, "可以退费吗", "开课 3 次内可全额退费。", "退费"),
}


@dataclass
class Cand:
    entry_id: int
    question: str
    score: float


@dataclass
class Result:
    band: str
    candidates: list[Cand] = field(default_factory=list)


class StubMatcher:
    def __init__(self, band: str, ids: tuple[int, ...] = (1, 2, 3)) -> None:
        self.band, self.ids = band, ids
        self.queries: list[str] = []

    def match(self, query: str, k: int = 3) -> Result:
        self.queries.append(query)
        return Result(self.band, [Cand(i, CARDS[i].question, 0.9 - i / 10) for i in self.ids][:k])


def bot(matcher: StubMatcher | None, *, misses: int = 3, rules: tuple[Rule, ...] = ()) -> FaqBot:
    return FaqBot(matcher=matcher, cards=CARDS, rules=rules, handoff_keywords=DEFAULT_HANDOFF_KEYWORDS,
                  fallback_text="抱歉，我还没学会。", max_misses=misses, sensitive=SensitiveFilter())


def turn(text: str, misses: int = 0) -> BotTurn:
    return BotTurn(org_id=1, conversation_id=1, text=text, misses_before=misses)


def test_answer_band_replies_with_the_card_related_buttons_and_feedback() -> None:
    decision = bot(StubMatcher("answer")).respond(turn("一年级的数学课收费多少"))
    assert decision.understood and decision.entry_id == 1 and decision.category == "课程/价格"
    reply = decision.replies[0]
    assert reply.text.startswith("一年级数学每期 3600 元")
    assert [b.label for b in reply.buttons] == ["预约试听", "怎么预约试听", "可以退费吗"]
    assert reply.extra == {"kind": "answer", "kb_entry_id": 1, "feedback": True, "images": ["/static/price.png"]}


def test_suggest_band_offers_the_top_three_and_counts_as_a_miss() -> None:
    decision = bot(StubMatcher("suggest")).respond(turn("数学"))
    assert not decision.understood and decision.miss_reason == "suggested"
    reply = decision.replies[0]
    assert reply.text == SUGGEST_INTRO
    assert [b.payload for b in reply.buttons] == ["一年级数学多少钱", "怎么预约试听", "可以退费吗", "转人工"]


def test_fallback_offers_a_human_and_leaving_details_then_hands_over_after_repeated_misses() -> None:
    first = bot(StubMatcher("fallback")).respond(turn("你们食堂伙食怎么样"))
    assert first.miss_reason == "unanswered" and not first.handoff
    assert [b.label for b in first.replies[0].buttons] == ["转人工", "留下联系方式"]
    last = bot(StubMatcher("fallback")).respond(turn("你们食堂伙食怎么样", misses=2))
    assert last.handoff and last.handoff_reason == "bot_misses" and last.miss_reason == "unanswered"


def test_a_human_request_wins_over_everything_and_skips_the_matcher() -> None:
    matcher = StubMatcher("answer")
    decision = bot(matcher).respond(turn("转人工"))
    assert decision.handoff and decision.handoff_reason == "visitor_request"
    assert matcher.queries == []


def test_a_complaint_hands_over_with_an_apology() -> None:
    decision = bot(StubMatcher("answer")).respond(turn("我要投诉你们"))
    assert decision.handoff and decision.handoff_reason == "complaint"
    assert decision.replies


def test_small_talk_and_rules_come_before_the_matcher() -> None:
    matcher = StubMatcher("answer")
    b = bot(matcher, rules=(Rule(("暑假班",), "暑假班 7 月 10 日开课。"),))
    assert b.respond(turn("你好")).replies[0].extra["kind"] == "smalltalk"
    assert b.respond(turn("暑假班什么时候开始")).replies[0].text == "暑假班 7 月 10 日开课。"
    assert matcher.queries == []


def test_abuse_is_not_matched_and_gets_a_calm_reply() -> None:
    decision = bot(StubMatcher("answer")).respond(turn("你们是傻逼吗"))
    assert decision.replies[0].extra["kind"] == "abuse"
    assert decision.entry_id is None


def test_leave_contact_button_and_a_phone_number() -> None:
    b = bot(StubMatcher("fallback"))
    assert b.respond(turn("留下联系方式")).replies[0].text == ASK_CONTACT_TEXT
    noted = b.respond(BotTurn(1, 1, "我的电话 138-0013-8000", facts=(("phone", "手机号", "13800138000"),)))
    assert noted.understood and noted.replies[0].extra["kind"] == "contact_noted"


def test_without_a_knowledge_base_every_question_falls_back() -> None:
    decision = bot(None).respond(turn("学费多少"))
    assert decision.miss_reason == "unanswered"


def test_bot_text_from_the_knowledge_base_is_filtered() -> None:
    cards = {1: AnswerCard(1, "q", "这个傻逼问题", "")}
    b = FaqBot(matcher=StubMatcher("answer", (1,)), cards=cards, rules=(), handoff_keywords=(),
               fallback_text="?", sensitive=SensitiveFilter())
    assert b.respond(turn("问题")).replies[0].text == "这个**问题"


@pytest.mark.parametrize("band", ["answer", "suggest"])
def test_candidates_missing_from_the_cards_are_ignored(band: str) -> None:
    b = FaqBot(matcher=StubMatcher(band, (1, 2)), cards={2: CARDS[2]}, rules=(), handoff_keywords=(),
               fallback_text="?")
    decision = b.respond(turn("试听"))
    if band == "answer":
        assert decision.entry_id == 2
    else:
        assert decision.replies[0].buttons[0].payload == "怎么预约试听"


def test_a_clicked_standard_question_is_answered_without_matching() -> None:
    matcher = StubMatcher("fallback")
    decision = bot(matcher).respond(turn("可以退费吗？"))
    assert decision.entry_id == 3 and matcher.queries == []


def test_a_message_that_states_facts_is_acknowledged_not_a_miss() -> None:
    facts = (("grade", "年级", "三年级"), ("subject", "意向科目", "数学"))
    decision = bot(StubMatcher("fallback")).respond(BotTurn(1, 1, "孩子三年级，数学", misses_before=2, facts=facts))
    assert decision.understood and not decision.handoff and decision.miss_reason is None
    assert "年级：三年级" in decision.replies[0].text and decision.replies[0].extra["kind"] == "facts_noted"
    noted = bot(StubMatcher("suggest")).respond(BotTurn(1, 1, "电话13800138000", facts=(("phone", "手机号", "1"),)))
    assert noted.replies[0].extra["kind"] == "contact_noted"


def test_a_question_with_facts_is_still_answered() -> None:
    facts = (("grade", "年级", "一年级"),)
    decision = bot(StubMatcher("answer")).respond(BotTurn(1, 1, "一年级数学多少钱", facts=facts))
    assert decision.entry_id == 1
