"""The flow runner, turn by turn: asks, skips, retries, leaving to ask a question and coming back, branches,
trial offers and handovers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from edudesk.bot.flows.runner import RESUME_PREFIX, TYPE_HINTS, advance, start, trial_outcome
from edudesk.bot.flows.spec import FieldDef, Flow, load_flow
from edudesk.bot.flows.state import FlowAction, FlowOutput, FlowState
from edudesk.nlp.extract import extract

TODAY = dt.date(2025, 6, 10)

K12 = load_flow({
    "key": "k12", "name": "试听邀约", "version": 3,
    "steps": [
        {"kind": "say", "id": "hello", "text": "您好～想先了解几个情况。"},
        {"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "孩子几年级？",
         "reprompt": "麻烦说一下孩子的年级，比如三年级～"},
        {"kind": "branch", "id": "stage", "field": "grade",
         "cases": [{"in": ["初一", "初二", "初三"], "goto": "subject_middle"}]},
        {"kind": "ask_buttons", "id": "subject_primary", "field": "subject", "question": "想了解哪门课？",
         "skip_if_known": True,
         "next": "name", "options": [{"label": "数学思维", "value": "数学"}, {"label": "英语"}]},
        {"kind": "ask_buttons", "id": "subject_middle", "field": "subject", "question": "哪科最想提升？",
         "skip_if_known": True,
         "options": [{"label": "数学"}, {"label": "物理"}]},
        {"kind": "ask_field", "id": "name", "field": "name", "prompt": "怎么称呼您？"},
        {"kind": "ask_field", "id": "phone", "field": "phone", "prompt": "留个手机号吧？", "max_retries": 1,
         "on_fail": "handover"},
        {"kind": "offer_trial", "id": "trial", "text": "来免费试听吧！", "course": "数学",
         "booked": "thanks", "declined": "later"},
        {"kind": "end", "id": "thanks", "text": "预约成功！"},
        {"kind": "end", "id": "later", "text": "好的，老师稍后联系您。"},
    ],
})


def mini(*steps: dict[str, Any]) -> Flow:
    return load_flow({"key": "mini", "name": "小流程", "steps": list(steps)})


def texts(out: FlowOutput) -> list[str]:
    return [r.text for r in out.replies]


class Visitor:
    """Plays the host: keeps the state and the lead card between turns, as the bot service will."""

    def __init__(self, flow: Flow, card: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.flow, self.card, self.kwargs = flow, dict(card or {}), kwargs
        self.out = start(flow, self.card, today=TODAY, **kwargs)
        self.state = self.out.state

    def says(self, text: str, **extra: Any) -> FlowOutput:
        assert self.state is not None, "the flow already ended"
        self.out = advance(self.flow, self.state, text, self.card, today=TODAY, **self.kwargs, **extra)
        for c in self.out.captured:
            self.card[c.key] = c.value
        self.state = self.out.state
        return self.out


def test_full_k12_conversation() -> None:
    v = Visitor(K12)
    assert texts(v.out) == ["您好～想先了解几个情况。", "孩子几年级？"]
    assert v.state is not None and v.state.step == "grade" and v.state.version == 3
    assert texts(v.says("孩子读三年级")) == ["想了解哪门课？"]
    assert [b.label for b in v.out.replies[0].buttons] == ["数学思维", "英语"]
    assert texts(v.says("数学思维")) == ["怎么称呼您？"]
    assert texts(v.says("我姓王")) == ["留个手机号吧？"]
    out = v.says("13800138000")
    assert texts(out) == ["来免费试听吧！"]
    assert out.actions == (FlowAction("offer_trial", "trial", course="数学"),)
    assert v.card == {"grade": "三年级", "subject": ["数学"], "name": "王", "phone": "13800138000"}
    assert v.state is not None
    done = trial_outcome(K12, v.state, "booked", v.card)
    assert texts(done) == ["预约成功！"] and done.ended
    assert done.actions == (FlowAction("end", "thanks", reason="completed"),)
    assert all(r.extra["flow"] == "k12" for r in done.replies)


def test_captured_values_carry_their_evidence_and_step() -> None:
    v = Visitor(K12)
    v.says("孩子三年级")
    (grade,) = v.out.captured
    assert (grade.key, grade.value, grade.evidence, grade.step) == ("grade", "三年级", "三年级", "grade")


def test_skip_if_known_uses_the_lead_card() -> None:
    v = Visitor(K12, {"grade": "初二", "name": "李先生"})
    assert texts(v.out) == ["您好～想先了解几个情况。", "哪科最想提升？"]
    assert texts(v.says("物理")) == ["留个手机号吧？"]


def test_two_answers_in_one_message() -> None:
    v = Visitor(K12)
    v.says("孩子三年级，电话138 0013 8000")
    assert [c.key for c in v.out.captured] == ["grade"]  # the phone is the host's capture's to record
    v.says("英语")
    assert texts(v.says("王妈妈")) == ["来免费试听吧！"]  # the phone ask was skipped
    assert v.state is not None and v.state.values["phone"] == "13800138000"


def test_start_skips_what_the_triggering_message_said() -> None:
    out = start(K12, {}, extraction=extract("想给三年级的孩子报个名", use_model=False), today=TODAY)
    assert texts(out)[-1] == "想了解哪门课？"


def test_retries_use_the_reprompt_then_the_step_fails_over() -> None:
    v = Visitor(K12)
    assert texts(v.says("还没上学")) == ["麻烦说一下孩子的年级，比如三年级～"]
    assert v.state is not None and v.state.retries == 1
    v.says("不知道")
    assert v.state is not None and v.state.retries == 2
    out = v.says("随便")  # max_retries 2 exhausted, on_fail skip → on to the subject
    assert texts(out) == ["想了解哪门课？"] and out.captured == ()


def test_bad_phone_then_good_phone_and_the_default_reprompt() -> None:
    v = Visitor(K12, {"grade": "三年级", "subject": ["数学"], "name": "王"})
    out = v.says("138001")
    assert texts(out) == [f"{TYPE_HINTS['phone']}\n留个手机号吧？"]
    out = v.says("138-0013-8000")
    assert out.captured[0].value == "13800138000" and out.captured[0].evidence == "138-0013-8000"
    assert texts(out) == ["来免费试听吧！"]


def test_exhausted_phone_hands_over() -> None:
    v = Visitor(K12, {"grade": "三年级", "subject": ["数学"], "name": "王"})
    v.says("123")
    out = v.says("456")
    assert out.ended and out.actions == (FlowAction("handover", "phone", reason="ask_failed"),)
    assert out.replies  # the visitor is told a teacher is coming


def test_a_refusal_fails_the_ask_at_once() -> None:
    flow = mini({"kind": "ask_field", "id": "phone", "field": "phone", "prompt": "手机号？", "on_fail": "end",
                 "on_fail_text": "好的，不打扰啦～"})
    out = Visitor(flow).says("不方便留电话")
    assert texts(out) == ["好的，不打扰啦～"] and out.actions == (FlowAction("end", "phone", reason="ask_failed"),)


def test_leave_to_ask_a_question_and_resume() -> None:
    v = Visitor(K12)
    out = v.says("学费多少？")
    assert out.interrupted and out.asked_question and out.replies == ()
    assert v.state is not None and v.state.step == "grade" and v.state.retries == 0 and v.state.interrupted
    assert out.resume is not None and out.resume.text == RESUME_PREFIX + "麻烦说一下孩子的年级，比如三年级～"
    # The host answered the FAQ and came back once; the visitor says thanks: the question is not put a third time.
    out = v.says("好的谢谢")
    assert out.interrupted and out.resume is None and texts(out) == []
    assert v.state is not None and v.state.retries == 0 and v.state.waiting and v.state.shelved == ("grade",)
    # An answer given later still counts.
    assert texts(v.says("三年级")) == ["想了解哪门课？"]


def test_the_faq_band_marks_a_question_the_heuristic_misses() -> None:
    v = Visitor(K12)
    assert not v.says("校区地址", faq_band="fallback").interrupted  # not understood, no question: a failed answer
    assert v.state is not None and v.state.retries == 1
    assert v.says("校区地址", faq_band="answer").interrupted  # the FAQ answered it: a side question, no retry
    assert v.state is not None and v.state.retries == 1


def test_an_answer_with_a_question_is_an_answer_flagged_for_the_faq() -> None:
    out = Visitor(K12).says("三年级，你们学费多少？")
    assert not out.interrupted and out.asked_question and texts(out) == ["想了解哪门课？"]


def test_state_is_json() -> None:
    v = Visitor(K12)
    v.says("初一")
    assert v.state is not None
    again = FlowState.from_json(json.loads(json.dumps(v.state.to_json())))
    assert again == v.state
    assert texts(advance(K12, again, "物理", {}, today=TODAY)) == ["怎么称呼您？"]


def test_branch_on_grade() -> None:
    assert texts(Visitor(K12).says("小学五年级")) == ["想了解哪门课？"]
    assert texts(Visitor(K12).says("初二")) == ["哪科最想提升？"]


def test_branch_on_a_button_and_on_the_last_answer() -> None:
    flow = mini(
        {"kind": "ask_buttons", "id": "who", "question": "您是？",
         "options": [{"label": "家长", "value": "parent"}, {"label": "学生本人", "value": "student", "goto": "stu"}]},
        {"kind": "branch", "id": "check", "cases": [{"equals": "parent", "goto": "par"}]},
        {"kind": "end", "id": "stu", "text": "同学你好"},
        {"kind": "end", "id": "par", "text": "家长您好"},
    )
    assert texts(Visitor(flow).says("学生本人")) == ["同学你好"]
    assert texts(Visitor(flow).says("1")) == ["家长您好"]
    assert texts(Visitor(flow).says("parent")) == ["家长您好"]
    out = Visitor(flow).says("都不是")
    assert out.state is not None and [b.label for b in out.replies[0].buttons] == ["家长", "学生本人"]


def test_branch_on_a_number_range_and_existence() -> None:
    flow = mini(
        {"kind": "ask_field", "id": "age", "field": "child_age", "prompt": "孩子几岁？", "min": 2, "max": 18},
        {"kind": "branch", "id": "b", "field": "child_age",
         "cases": [{"min": 3, "max": 6, "goto": "kg"}, {"field": "phone", "exists": True, "goto": "call"}]},
        {"kind": "end", "id": "other", "text": "其他"},
        {"kind": "end", "id": "kg", "text": "幼儿"},
        {"kind": "end", "id": "call", "text": "回电"},
    )
    assert texts(Visitor(flow).says("5岁了")) == ["幼儿"]
    assert texts(Visitor(flow).says("十二")) == ["其他"]
    assert texts(Visitor(flow, {"phone": "13800138000"}).says("9")) == ["回电"]
    assert Visitor(flow).says("30").state is not None  # out of range: asked again


def test_trial_outcomes() -> None:
    card = {"grade": "三年级", "subject": ["数学"], "name": "王", "phone": "13800138000"}
    state = Visitor(K12, card).state
    assert state is not None and state.step == "trial"
    assert texts(trial_outcome(K12, state, "declined", card)) == ["好的，老师稍后联系您。"]
    assert texts(trial_outcome(K12, state, "unavailable", card)) == ["好的，老师稍后联系您。"]
    v = Visitor(K12, card)
    assert texts(v.says("不用了，谢谢")) == ["好的，老师稍后联系您。"]
    v = Visitor(K12, card)
    # The FAQ could not answer the side question: no resume line after its fallback; the next message brings the
    # offer back once.
    out = v.says("试听课在哪个校区上？", faq_band="miss")
    assert out.interrupted and out.resume is None
    out = v.says("好的")
    assert out.actions == (FlowAction("offer_trial", "trial", course="数学"),)
    with pytest.raises(ValueError, match="trial offer"):
        trial_outcome(K12, FlowState("k12", 3, "grade"), "booked", {})


def test_unavailable_goes_to_its_own_step_when_set() -> None:
    flow = mini({"kind": "offer_trial", "id": "t", "text": "试听？", "unavailable": "none"},
                {"kind": "end", "id": "none", "text": "暂时约满了"})
    state = Visitor(flow).state
    assert state is not None
    assert texts(trial_outcome(flow, state, "unavailable", {})) == ["暂时约满了"]
    assert trial_outcome(flow, state, "declined", {}).actions[-1].reason == "completed"


def test_handover_step() -> None:
    flow = mini({"kind": "say", "id": "s", "text": "稍等"}, {"kind": "handover", "id": "h", "reason": "vip"})
    out = start(flow, {})
    assert out.ended and out.actions == (FlowAction("handover", "h", reason="vip"),)
    assert texts(out) == ["稍等", "好的，正在为您转接课程老师，请稍候～"]


def test_falling_off_the_end_and_an_edited_flow() -> None:
    out = start(mini({"kind": "say", "id": "s", "text": "您好"}), {})
    assert out.ended and out.actions == (FlowAction("end", None, reason="completed"),)
    gone = advance(K12, FlowState("k12", 2, "removed_step"), "三年级", {})
    assert gone.ended and gone.actions == (FlowAction("end", "removed_step", reason="flow_changed"),)


def test_field_types() -> None:
    flow = mini(
        {"kind": "ask_field", "id": "d", "field": "visit", "type": "date", "prompt": "哪天来？"},
        {"kind": "ask_field", "id": "m", "field": "hobbies", "prompt": "兴趣？"},
        {"kind": "ask_field", "id": "w", "field": "wechat", "prompt": "微信？"},
        {"kind": "ask_field", "id": "c", "field": "campus", "prompt": "校区？"},
    )
    fields = {"hobbies": FieldDef("multi", ("画画", "钢琴", "游泳")), "campus": FieldDef("single", ("东区", "西区"))}
    v = Visitor(flow, fields=fields)
    assert v.says("明天").captured[0].value == "2025-06-11"
    assert [b.label for b in v.out.replies[0].buttons] == ["画画", "钢琴", "游泳"]
    assert v.says("1、3").captured[0].value == ["画画", "游泳"]
    assert v.says("abc_1234").captured[0].value == "abc_1234"
    assert v.says("西区吧").captured[0].value == "西区"
    dates = Visitor(flow, fields=fields)
    assert dates.says("3月5日").captured[0].value == "2026-03-05"  # already past this year
    assert Visitor(flow).says("2025/7/1").captured[0].value == "2025-07-01"
    assert Visitor(flow).says("2月30日").state.retries == 1  # type: ignore[union-attr]


def test_a_phone_ask_accepts_an_alternative_field() -> None:
    flow = mini({"kind": "ask_field", "id": "c", "field": "phone", "alternatives": ["wechat"], "prompt": "联系方式？"})
    out = Visitor(flow).says("加我微信 zhang_san88")
    assert [(c.key, c.value) for c in out.captured] == [("wechat", "zhang_san88")]
    assert out.ended


def test_known_button_field_follows_its_option() -> None:
    flow = mini(
        {"kind": "ask_buttons", "id": "s", "field": "subject", "skip_if_known": True, "question": "科目？",
         "options": [{"label": "数学", "goto": "math"}, {"label": "英语"}]},
        {"kind": "end", "id": "other", "text": "其他"},
        {"kind": "end", "id": "math", "text": "数学老师"},
    )
    assert texts(start(flow, {"subject": ["数学", "英语"]})) == ["数学老师"]
    assert texts(start(flow, {})) == ["科目？"]


def test_free_text_is_not_a_question_or_a_refusal() -> None:
    flow = mini({"kind": "ask_field", "id": "n", "field": "name", "prompt": "称呼？"})
    assert Visitor(flow).says("张三").captured[0].value == "张三"
    assert Visitor(flow).says("你们是哪家机构？").interrupted
    assert Visitor(flow).says("不告诉你").actions == (FlowAction("end", None, reason="completed"),)


def test_a_one_character_option_is_not_found_inside_other_words() -> None:
    flow = mini({"kind": "ask_buttons", "id": "q", "question": "需要课表吗？",
                 "options": [{"label": "是", "goto": "yes"}, {"label": "否"}]},
                {"kind": "end", "id": "no", "text": "好的"},
                {"kind": "end", "id": "yes", "text": "发给您"})
    assert Visitor(flow).says("不是").state is not None
    assert texts(Visitor(flow).says("是")) == ["发给您"]
    assert texts(Visitor(flow).says("想报二建")) != ["发给您"]
