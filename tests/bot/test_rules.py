import pytest

from edudesk.bot.engine import BotTurn
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS, Rule, RulesBot

PRICE = "每期 3600 元。"


def bot(max_misses: int = 3) -> RulesBot:
    return RulesBot(
        [Rule(("价格", "多少钱"), PRICE), Rule(("试听",), "可以免费试听一次。")],
        handoff_keywords=DEFAULT_HANDOFF_KEYWORDS,
        fallback_text="抱歉，我还没学会。",
        max_misses=max_misses,
    )


def turn(text: str, misses: int = 0) -> BotTurn:
    return BotTurn(org_id=1, conversation_id=1, text=text, misses_before=misses)


@pytest.mark.parametrize(
    "text", ["转人工", "我要人工客服", "帮我找老师", "人工", "  人工！", "客服在吗？", "有人吗", "ＨＵＭＡＮ"]
)
def test_requests_for_a_human_hand_over(text: str) -> None:
    decision = bot().respond(turn(text))
    assert decision.handoff and decision.handoff_reason == "visitor_request"
    assert decision.replies == ()


@pytest.mark.parametrize("text", ["你们有人工智能编程课吗", "老师的教龄多少年", "价格"])
def test_words_that_merely_contain_human_do_not_hand_over(text: str) -> None:
    assert not bot().respond(turn(text)).handoff


@pytest.mark.parametrize("text", ["价格是多少", "一期多少钱？", "请问 价格"])
def test_keyword_rules_answer(text: str) -> None:
    decision = bot().respond(turn(text))
    assert decision.understood
    assert decision.replies[0].text == PRICE


def test_full_width_and_case_are_folded() -> None:
    rules_bot = RulesBot([Rule(("VIP班",), "VIP 小班 4 人。")], handoff_keywords=(), fallback_text="?")
    assert rules_bot.respond(turn("ｖｉｐ班怎么报")).replies[0].text == "VIP 小班 4 人。"


def test_first_matching_rule_wins_in_order() -> None:
    decision = bot().respond(turn("试听的价格"))
    assert decision.replies[0].text == PRICE


def test_fallback_offers_a_human_button() -> None:
    decision = bot().respond(turn("你们食堂好吃吗"))
    assert not decision.understood and not decision.handoff
    assert decision.replies[0].buttons[0].payload == "转人工"


def test_repeated_misses_hand_over() -> None:
    assert not bot(max_misses=3).respond(turn("天气", misses=1)).handoff
    decision = bot(max_misses=3).respond(turn("天气", misses=2))
    assert decision.handoff and decision.handoff_reason == "bot_misses"


@pytest.mark.parametrize("text", ["", "   ", "！！！"])
def test_empty_or_punctuation_only_text_is_a_miss(text: str) -> None:
    assert not bot().respond(turn(text)).understood
