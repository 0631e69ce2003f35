"""No sentence twice in a row (bot.manners.vary): alternates, the pointer to an answer just given, lead-ins for a
script's line, repeats left out."""

from __future__ import annotations

import itertools

from edudesk.bot import manners, smalltalk
from edudesk.bot.engine import BotReply, Button
from edudesk.bot.faq import SUGGEST_INTRO
from edudesk.bot.rules import HANDOFF_BUTTON

FALLBACK = BotReply("抱歉，这个问题我还没学会。", (HANDOFF_BUTTON,), {"kind": "fallback"})
ANSWER = BotReply("一期 12 次课，2980 元。", (), {"kind": "answer", "kb_entry_id": 7, "feedback": True})
PROMPT = BotReply("孩子几年级？", (Button("三年级", "三年级"),), {"kind": "flow", "flow": "k12", "step": "grade"})


def turns(*replies: tuple[BotReply, ...]) -> list[list[str]]:
    """Runs turns one after another, as the bot service does, and returns the texts said in each."""
    said: list[str] = []
    out = []
    for turn in replies:
        varied, said = manners.vary(turn, said)
        out.append([r.text for r in varied])
    return out


def flat(said: list[list[str]]) -> list[str]:
    return [t for turn in said for t in turn]


def test_the_fallback_is_said_in_other_words_then_may_come_back() -> None:
    said = turns((FALLBACK,), (FALLBACK,), (FALLBACK,), (FALLBACK,))
    assert said[0] == [FALLBACK.text] and said[1] != said[0] and said[2] == said[0] and said[3] == said[1]


def test_no_text_twice_in_a_row_over_many_turns() -> None:
    kinds = [(FALLBACK,), (ANSWER,), (ANSWER,), (ANSWER, PROMPT), (PROMPT,), (PROMPT,), (ANSWER, PROMPT)]
    said = flat(turns(*kinds))
    assert all(a != b for a, b in itertools.pairwise(said))


def test_an_answer_asked_again_at_once_points_to_it() -> None:
    varied, _ = manners.vary((ANSWER,), [ANSWER.text])
    assert [r.text for r in varied] == [manners.ANSWER_AGAIN]
    assert varied[0].buttons == (HANDOFF_BUTTON,) and varied[0].extra["kind"] == "answer_again"


def test_a_script_line_gets_a_lead_in_and_keeps_its_buttons() -> None:
    varied, said = manners.vary((PROMPT,), [PROMPT.text])
    assert varied[0].text == manners.FLOW_LEAD_INS[0] + PROMPT.text and varied[0].buttons == PROMPT.buttons
    assert said == [varied[0].text]


def test_a_repeat_inside_one_turn_is_left_out() -> None:
    plain = BotReply("好的～", (), {"kind": "rule"})
    varied, _ = manners.vary((plain, ANSWER, plain), [])
    assert [r.text for r in varied] == ["好的～", ANSWER.text]


def test_small_talk_and_suggestions_have_alternates() -> None:
    ok = next(t for t in smalltalk.REPLIES if t.intent == "ok")
    reply = BotReply(ok.reply, (), {"kind": "smalltalk"})
    assert [r.text for r in manners.vary((reply,), [ok.reply])[0]] == [ok.alternates[0]]
    suggest = BotReply(SUGGEST_INTRO, (Button("学费", "学费"),), {"kind": "suggest"})
    varied, _ = manners.vary((suggest,), [SUGGEST_INTRO])
    assert varied[0].text != SUGGEST_INTRO and varied[0].buttons == suggest.buttons


def test_a_silent_turn_remembers_the_turn_before() -> None:
    assert manners.vary((), ["上一句"]) == ((), ["上一句"])


def test_punctuation_and_spaces_do_not_make_a_new_sentence() -> None:
    reply = BotReply("抱歉，这个问题我还没学会！", (), {"kind": "complaint_x"})
    varied, _ = manners.vary((reply,), ["抱歉 这个问题我还没学会。"])
    assert [r.text for r in varied] == [manners.LEAD_IN + reply.text]


def test_a_keyword_rule_repeated_points_to_itself() -> None:
    rule = BotReply("周末两个校区都有课。", (), {"kind": "rule"})
    assert [r.text for r in manners.vary((rule,), [rule.text])[0]] == [manners.ANSWER_AGAIN]
