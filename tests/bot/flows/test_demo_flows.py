"""The demo institution's flows: valid, exportable, and a whole visitor conversation through each."""

from __future__ import annotations

import re
from typing import Any

from edudesk.bot.flows.runner import advance, start, trial_outcome
from edudesk.bot.flows.spec import Flow, load_flow
from edudesk.bot.flows.state import FlowAction, FlowOutput, FlowState
from edudesk.bot.flows.templates import DEMO_FIELD_KEYS, EXAM_PREP_FLOW, K12_FLOW, OFF_HOURS_FLOW, demo_flows
from edudesk.bot.flows.triggers import FlowEvent, pick_flow

CJK = re.compile(r"[\u4e00-\u9fff]")


def run(flow: Flow, *messages: str) -> tuple[list[FlowOutput], dict[str, Any], FlowState | None]:
    card: dict[str, Any] = {}
    outs = [start(flow, card)]
    state = outs[0].state
    for text in messages:
        assert state is not None, f"flow ended before {text!r}"
        outs.append(advance(flow, state, text, card))
        card.update({c.key: c.value for c in outs[-1].captured})
        state = outs[-1].state
    return outs, card, state


def test_demo_flows_validate_and_round_trip() -> None:
    flows = demo_flows()
    assert [f.key for f in flows] == ["k12_trial", "exam_prep", "k12_off_hours"]
    for f, data in zip(flows, (K12_FLOW, EXAM_PREP_FLOW, OFF_HOURS_FLOW), strict=True):
        assert load_flow(f.model_dump_json(), field_keys=DEMO_FIELD_KEYS) == f
        assert load_flow(data) == f
        for step in f.steps:
            for text in (getattr(step, name, None) for name in ("text", "prompt", "question", "reprompt")):
                assert text is None or CJK.search(text), step.id


def test_k12_conversation_end_to_end() -> None:
    k12, _, _ = demo_flows()
    outs, card, state = run(k12, "孩子三年级", "学费多少？", "数学思维", "我是王妈妈", "138 0013 8000")
    assert "几年级" in outs[0].replies[-1].text
    assert outs[2].interrupted and outs[2].resume is not None
    assert "怎么称呼" in outs[3].replies[-1].text
    assert outs[-1].actions == (FlowAction("offer_trial", "trial"),)
    assert card == {"grade": "三年级", "subject": ["数学"], "name": "王妈妈", "phone": "13800138000"}
    assert state is not None
    booked = trial_outcome(k12, state, "booked", card)
    assert booked.ended and "预约成功" in booked.replies[-1].text


def test_k12_secondary_school_branch_and_refused_phone() -> None:
    k12, _, _ = demo_flows()
    outs, card, state = run(k12, "初二", "物理", "李先生", "不方便留电话")
    assert [b.label for b in outs[1].replies[-1].buttons] == ["数学", "英语", "语文", "物理", "化学"]
    assert card["subject"] == ["物理"]
    assert state is None and outs[-1].actions == (FlowAction("end", "phone", reason="ask_failed"),)


def test_exam_prep_conversation_end_to_end() -> None:
    _, exam, _ = demo_flows()
    outs, card, state = run(exam, "会计", "2", "本科", "加我微信 zhang_san88", "免费试听课", "不用了，先看资料")
    assert card == {"subject": ["中级会计"], "education": "本科", "wechat": "zhang_san88"}
    assert outs[-2].actions == (FlowAction("offer_trial", "trial"),)
    assert state is None and "资料包" in outs[-1].replies[-1].text


def test_exam_prep_without_contact_details_ends_politely() -> None:
    _, exam, _ = demo_flows()
    outs, card, state = run(exam, "一级建造师", "大专", "算了")
    assert card == {"subject": ["一建"], "education": "大专"}
    assert state is None and outs[-1].actions == (FlowAction("end", "no_contact", reason="completed"),)


def test_demo_triggers() -> None:
    flows = demo_flows()
    k12, exam, off_hours = flows
    assert pick_flow(flows, FlowEvent("message", text="想给孩子报名试听")) is k12
    assert pick_flow(flows, FlowEvent("message", text="二建怎么报考")) is exam
    assert pick_flow(flows, FlowEvent("message", text="你好", turns=3)) is k12
    assert pick_flow(flows, FlowEvent("widget_opened", off_hours=True)) is exam
    # The demo school runs the K12 scripts; its off-hours script wins over every other trigger after hours.
    k12_school = [k12, off_hours]
    assert pick_flow(k12_school, FlowEvent("message", text="价格多少", off_hours=True)) is off_hours
    assert pick_flow(k12_school, FlowEvent("message", text="价格多少")) is k12
