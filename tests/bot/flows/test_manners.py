"""A script with manners (issue 14, item 4), as a table: what the script adds after the host's FAQ answer, turn by
turn, for a visitor who keeps asking other things instead of answering."""

from __future__ import annotations

from typing import Any

import pytest

from edudesk.bot.flows.runner import MOMENT_PREFIX, MOMENT_REASONS, RESUME_PREFIX
from edudesk.bot.flows.state import FlowAction, FlowState
from tests.bot.flows.test_runner import K12, Visitor, mini, texts

GRADE_RESUME = RESUME_PREFIX + "麻烦说一下孩子的年级，比如三年级～"
GRADE_LATER = MOMENT_PREFIX + "孩子几年级？" + MOMENT_REASONS["asked_price"]

# (visitor message, faq band, buying signal) → the script's own line after the FAQ's (resume), or its replies.
SIDE = ("校区在哪里？", "answer", None)
PRICE = ("一期学费多少钱？", "answer", "asked_price")
MISS = ("你们老师是985的吗？", "miss", None)


def play(v: Visitor, turns: list[tuple[str, str, str | None]]) -> list[str | None]:
    """The script's line after each turn: the resume line the host appends, else its replies, else None."""
    said: list[str | None] = []
    for text, band, moment in turns:
        out = v.says(text, faq_band=band, moment=moment)
        said.append(out.resume.text if out.resume is not None else ("|".join(texts(out)) or None))
    return said


@pytest.mark.parametrize(("turns", "expected"), [
    # Five side questions in a row: the script comes back once, then only the questions are answered.
    ([SIDE] * 5, [GRADE_RESUME, None, None, None, None]),
    # The FAQ could not answer the first one: no resume line after a fallback; the second pass shelves the question.
    ([MISS, SIDE, SIDE], [None, None, None]),
    # Shelved, then a price question: the question once more, rephrased, with the reason it helps now.
    ([SIDE, SIDE, PRICE], [GRADE_RESUME, None, GRADE_LATER]),
    # A price question before the question was shelved is just a side question.
    ([PRICE, SIDE, SIDE], [GRADE_RESUME, None, None]),
    # Rephrased and let pass again: dropped; the next question waits for a good moment, here the next price question.
    ([SIDE, SIDE, PRICE, SIDE, SIDE, PRICE], [GRADE_RESUME, None, GRADE_LATER, None, None, "想了解哪门课？"]),
    # ... or a message that asks nothing (a pause).
    ([SIDE, SIDE, PRICE, SIDE, ("好的", "other", None)], [GRADE_RESUME, None, GRADE_LATER, None, "想了解哪门课？"]),
    # Only one rephrased ask per question: a second price question while waiting adds nothing.
    ([SIDE, SIDE, PRICE, PRICE], [GRADE_RESUME, None, GRADE_LATER, None]),
])
def test_what_the_script_adds(turns: list[tuple[str, str, str | None]], expected: list[str | None]) -> None:
    v = Visitor(K12)
    assert play(v, turns) == expected


def test_no_wording_of_a_question_comes_back_after_it_was_let_pass_twice() -> None:
    v = Visitor(K12)
    said = play(v, [SIDE, SIDE, *([SIDE, ("好的", "other", None)] * 4)])
    assert said[0] == GRADE_RESUME and said[1:] == [None] * 9
    assert v.state is not None and v.state.step == "grade" and v.state.shelved == ("grade",) and v.state.waiting


def test_an_answer_after_shelving_still_counts_and_starts_afresh() -> None:
    v = Visitor(K12)
    play(v, [SIDE, SIDE])
    assert texts(v.says("三年级")) == ["想了解哪门课？"]
    assert v.state is not None and v.state.step == "subject_primary" and not v.state.waiting
    assert v.state.passes == 0 and not v.state.resumed and v.state.shelved == ("grade",)
    # The next question has its own manners: one resume line.
    assert play(v, [SIDE, SIDE]) == [RESUME_PREFIX + "想了解哪门课？", None]


def test_a_dropped_question_with_handover_on_fail_hands_over() -> None:
    card = {"grade": "三年级", "subject": ["数学"], "name": "王"}
    v = Visitor(K12, card)
    assert v.state is not None and v.state.step == "phone"
    play(v, [SIDE, SIDE, PRICE])
    out = v.says(*SIDE[:1], faq_band="answer")
    assert out.state is None and out.asked_question and not out.interrupted
    assert out.actions == (FlowAction("handover", "phone", reason="ask_failed"),)


def test_a_dropped_last_question_ends_the_script_quietly() -> None:
    flow = mini({"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "孩子几年级？"})
    v = Visitor(flow)
    play(v, [SIDE, SIDE, PRICE])
    out = v.says("校区在哪里？", faq_band="answer")
    assert out.state is None and out.replies == () and out.actions == (FlowAction("end", None, reason="completed"),)


def test_a_trial_offer_has_the_same_manners() -> None:
    v = Visitor(K12, {"grade": "三年级", "subject": ["数学"], "name": "王", "phone": "13800138000"})
    said = play(v, [SIDE, SIDE, SIDE, ("试听课多少钱？", "answer", "asked_trial")])
    assert said == [RESUME_PREFIX + "来免费试听吧！", None, None,
                    MOMENT_PREFIX + "来免费试听吧！" + MOMENT_REASONS["asked_trial"]]
    out = v.says("周末能停车吗？", faq_band="answer")  # let pass again: declined, the script's own route
    assert texts(out) == ["好的，老师稍后联系您。"] and out.state is None


def test_a_typo_still_costs_a_retry_not_a_pass() -> None:
    flow = mini({"kind": "ask_field", "id": "phone", "field": "phone", "prompt": "手机号？", "reprompt": "号码不对哦"})
    v = Visitor(flow)
    assert texts(v.says("138001")) == ["号码不对哦"]
    assert v.state is not None and v.state.retries == 1 and v.state.passes == 0


def test_manners_survive_the_json_round_trip() -> None:
    v = Visitor(K12)
    play(v, [SIDE, SIDE, PRICE])
    state = v.state
    assert state is not None
    data: dict[str, Any] = state.to_json()
    assert FlowState.from_json(data) == state
    assert data["shelved"] == ["grade"] and data["rephrased"] == ["grade"]
    # A state stored before manners existed reads as a fresh one.
    old = {k: data[k] for k in ("flow_key", "version", "step", "retries", "answers", "values")}
    assert FlowState.from_json(old).shelved == () and not FlowState.from_json(old).waiting
