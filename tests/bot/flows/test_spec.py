"""Flow definitions: every invalid definition names its problem in Chinese, at the JSON path the admin form uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from edudesk.bot.flows.errors import FlowError, FlowProblem
from edudesk.bot.flows.spec import (
    BUILTIN_FIELD_OPTIONS,
    BUILTIN_FIELD_TYPES,
    SCHEMA_VERSION,
    AskFieldStep,
    Flow,
    load_flow,
)
from edudesk.leads import service as leads_service


def flow(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"key": "t", "name": "测试流程", "steps": list(steps), **extra}


def ask(step_id: str, field: str = "grade", **extra: Any) -> dict[str, Any]:
    return {"kind": "ask_field", "id": step_id, "field": field, "prompt": "请问？", **extra}


def problems(data: Any, **kwargs: Any) -> list[FlowProblem]:
    with pytest.raises(FlowError) as caught:
        load_flow(data, **kwargs)
    return list(caught.value.problems)


def only(data: Any, **kwargs: Any) -> FlowProblem:
    found = problems(data, **kwargs)
    assert len(found) == 1, found
    return found[0]


def test_a_minimal_flow_loads_with_sensible_defaults() -> None:
    f = load_flow(flow({"kind": "say", "id": "hi", "text": "您好"}, ask("grade")))
    assert f.schema_version == SCHEMA_VERSION == 1
    assert f.version == 1 and f.enabled
    step = f.step("grade")
    assert isinstance(step, AskFieldStep)
    assert step.skip_if_known and step.on_fail == "skip" and step.max_retries == 2
    assert f.following("hi") == "grade" and f.following("grade") is None


def test_dangling_goto_names_the_option() -> None:
    p = only(flow({"kind": "ask_buttons", "id": "q", "question": "选哪个？",
                   "options": [{"label": "A", "goto": "nowhere"}, {"label": "B"}]}))
    assert p == FlowProblem("steps[0].options[0].goto", "跳转目标「nowhere」不存在")


def test_dangling_next_and_branch_targets() -> None:
    found = problems(flow({"kind": "say", "id": "a", "text": "hi", "next": "zz"},
                          {"kind": "branch", "id": "b", "cases": [{"exists": True, "goto": "yy"}]}))
    paths = [p.path for p in found]
    assert "steps[0].next" in paths and "steps[1].cases[0].goto" in paths


def test_unreachable_step() -> None:
    p = only(flow({"kind": "end", "id": "bye", "text": "再见"}, {"kind": "say", "id": "lost", "text": "x"}))
    assert p.path == "steps[1]"
    assert "lost" in p.message and "永远不会执行到" in p.message


def test_loop_without_an_ask_in_between() -> None:
    p = only(flow({"kind": "say", "id": "a", "text": "hi"},
                  {"kind": "branch", "id": "b", "field": "grade", "cases": [{"exists": True, "goto": "a"}]}))
    assert p.path == "steps[1]"
    assert "a → b → a" in p.message and "循环" in p.message


def test_a_skippable_ask_does_not_break_a_loop_but_a_waiting_one_does() -> None:
    looping = flow(ask("g"), {"kind": "say", "id": "s", "text": "x", "next": "g"})
    assert "循环" in only(looping).message
    load_flow(flow(ask("g", skip_if_known=False), {"kind": "say", "id": "s", "text": "x", "next": "g"}))
    load_flow(flow({"kind": "ask_buttons", "id": "more", "question": "还想了解？",
                    "options": [{"label": "是", "goto": "more"}, {"label": "否"}]},
                   {"kind": "end", "id": "bye"}))


def test_unknown_field_key_only_when_keys_are_given() -> None:
    data = flow(ask("q", field="hobby", alternatives=["wechat", "qq"]))
    load_flow(data)  # no list of keys: nothing to check against
    found = problems(data, field_keys=["grade", "wechat"])
    assert found == [FlowProblem("steps[0].field", "未知的名片字段「hobby」"),
                     FlowProblem("steps[0].alternatives[1]", "未知的名片字段「qq」")]


def test_empty_and_missing_prompt() -> None:
    assert only(flow(ask("q", prompt="   "))) == FlowProblem("steps[0].prompt", "不能为空")
    step = ask("q")
    del step["prompt"]
    assert only(flow(step)) == FlowProblem("steps[0].prompt", "必填项")


def test_too_many_buttons() -> None:
    options = [{"label": f"选项{i}"} for i in range(7)]
    p = only(flow({"kind": "ask_buttons", "id": "q", "question": "选？", "options": options}))
    assert p == FlowProblem("steps[0].options", "按钮最多 6 个，当前 7 个")
    say = {"kind": "say", "id": "s", "text": "看看", "buttons": options}
    assert only(flow(say)).path == "steps[0].buttons"


def test_unknown_step_kind_and_duplicate_ids() -> None:
    p = only(flow({"kind": "ask", "id": "q"}))
    assert p.path == "steps[0]" and "未知的类型「ask」" in p.message
    p = only(flow(ask("q"), ask("q", field="phone")))
    assert p.path == "steps[1].id" and "重复" in p.message


def test_branch_case_needs_exactly_one_condition() -> None:
    two = flow({"kind": "branch", "id": "b", "cases": [{"equals": "1", "in": ["2"], "goto": "b2"}]},
               {"kind": "end", "id": "b2"})
    assert only(two).path == "steps[0].cases[0]"
    none = flow({"kind": "branch", "id": "b", "cases": [{"goto": "b2"}]}, {"kind": "end", "id": "b2"})
    assert "只能设置一种" in only(none).message


def test_bad_regex_and_inverted_range() -> None:
    p = only(flow(ask("q", field="occupation", pattern="([a-z")))
    assert p.path == "steps[0].pattern" and p.message.startswith("正则表达式无效")
    assert only(flow(ask("q", field="child_age", min=18, max=3))) == FlowProblem("steps[0].max", "最小值不能大于最大值")


def test_flow_level_problems() -> None:
    assert only(flow(ask("q"), schema_version=2)).path == "schema_version"
    assert only({"key": "t", "name": "x", "steps": []}).path == "steps"
    assert only({"key": "9bad key", "name": "x", "steps": [ask("q")]}).path == "key"
    p = only("{not json")
    assert p.path == "" and "不是有效的 JSON" in p.message


def test_every_problem_is_reported_at_once() -> None:
    found = problems(flow({"kind": "say", "id": "a", "text": "hi", "next": "nope"},
                          {"kind": "end", "id": "b"}))
    assert [p.path for p in found] == ["steps[0].next", "steps[1]"]


def test_error_shape_for_the_api() -> None:
    with pytest.raises(FlowError) as caught:
        load_flow(flow(ask("q", prompt="")))
    err = caught.value
    assert err.path == "steps[0].prompt" and err.message == "不能为空"
    assert err.as_dict() == {"message": "不能为空", "field": "steps[0].prompt",
                             "problems": [{"path": "steps[0].prompt", "message": "不能为空"}]}
    assert "steps[0].prompt：不能为空" in str(err)


def test_export_import_round_trip() -> None:
    original = load_flow(flow(
        ask("grade"),
        {"kind": "branch", "id": "stage", "field": "grade",
         "cases": [{"in": ["初一", "初二"], "goto": "bye"}, {"field": "child_age", "min": 3, "max": 6, "goto": "bye"}]},
        {"kind": "offer_trial", "id": "trial", "text": "来试听吧", "course": "数学"},
        {"kind": "end", "id": "bye", "text": "再见"},
        triggers=[{"kind": "keywords", "keywords": ["试听"]}, {"kind": "turns_without_contact", "turns": 3}],
        version=4,
    ))
    exported = original.model_dump_json()
    data = json.loads(exported)
    assert data["schema_version"] == 1 and data["version"] == 4
    assert data["steps"][1]["cases"][0]["in"] == ["初一", "初二"]  # the alias, not the Python name
    assert Flow.model_validate_json(exported) == original
    assert load_flow(exported) == original


def test_importing_an_unsound_flow_fails_even_through_pydantic() -> None:
    text = json.dumps(flow({"kind": "say", "id": "a", "text": "x", "next": "nope"}))
    with pytest.raises(ValidationError):
        Flow.model_validate_json(text)


def test_builtin_field_types_mirror_the_lead_card() -> None:
    card = {key: kind.value for key, _, kind, _ in leads_service.BUILTIN_FIELDS}
    assert card == BUILTIN_FIELD_TYPES
    options = {key: opts for key, _, _, opts in leads_service.BUILTIN_FIELDS if opts}
    assert options == BUILTIN_FIELD_OPTIONS
