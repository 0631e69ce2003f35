"""Properties of the bot-script parser and runner for any JSON an admin (or an import) can hand them.

For any JSON value — above all valid flows mutated by deleting, retyping and renaming keys, re-pointing jumps
(cycles, dangling and unreachable steps), duplicating and dropping steps, unknown step kinds, huge and deeply nested
values, hostile text — :func:`load_flow` either returns a flow or raises :class:`FlowError` whose problems each
carry a path into the definition and a message; nothing else. The dict and the JSON-text forms agree, an accepted
flow exports and re-imports unchanged and can be stored (no text a database cannot hold), and the runner plays any
accepted flow against any visitor answers without raising, with a state that survives the host's JSON column.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edudesk.bot import scripts
from edudesk.bot.flows import runner
from edudesk.bot.flows.answers import Rule, parse_answer
from edudesk.bot.flows.errors import FlowError
from edudesk.bot.flows.spec import AskButtonsStep, AskFieldStep, Flow, OfferTrialStep, load_flow
from edudesk.bot.flows.state import FlowOutput, FlowState
from edudesk.bot.flows.templates import DEMO_FIELD_KEYS, EXAM_PREP_FLOW, K12_FLOW, OFF_HOURS_FLOW
from edudesk.bot.scripts import ScriptError
from edudesk.inputs import text_problem
from edudesk.nlp.extract import extract
from tests.hypothesis_settings import examples

TODAY = dt.date(2025, 6, 10)
LOOP_FLOW: dict[str, Any] = {
    "key": "loop", "name": "循环追问",
    "steps": [
        {"kind": "ask_buttons", "id": "want", "question": "想了解哪门课？", "field": "subject",
         "options": [{"label": "数学", "goto": "grade"}, {"label": "英语", "goto": "age"}, {"label": "再想想"}],
         "max_retries": 0, "on_fail": "handover"},
        {"kind": "branch", "id": "again", "cases": [{"equals": "再想想", "goto": "want"}], "next": "done"},
        {"kind": "ask_field", "id": "grade", "field": "grade", "prompt": "孩子几年级？", "skip_if_known": False,
         "next": "phone"},
        {"kind": "ask_field", "id": "age", "field": "child_age", "prompt": "孩子几岁？", "min": 3, "max": 18,
         "on_fail": "end"},
        {"kind": "ask_field", "id": "phone", "field": "phone", "prompt": "手机号？", "alternatives": ["wechat"],
         "pattern": "1[3-9][0-9]{9}", "reprompt": "再说一次手机号？"},
        {"kind": "offer_trial", "id": "trial", "text": "来试听吧", "booked": "done", "unavailable": "sorry"},
        {"kind": "say", "id": "sorry", "text": "暂时没有名额", "buttons": [{"label": "好的"}], "next": "done"},
        {"kind": "end", "id": "done", "text": "谢谢！"},
    ],
}
SEEDS = [K12_FLOW, EXAM_PREP_FLOW, OFF_HOURS_FLOW, LOOP_FLOW]
STEP_IDS = ["hello", "grade", "phone", "want", "again", "done", "trial", "sorry", "nowhere", "x" * 41, "1abc"]
KEYS = ["kind", "id", "next", "goto", "text", "prompt", "question", "options", "label", "value", "field", "cases",
        "equals", "in", "exists", "min", "max", "steps", "triggers", "keywords", "turns", "key", "name", "version",
        "schema_version", "enabled", "description", "booked", "declined", "unavailable", "on_fail", "max_retries",
        "pattern", "type", "alternatives", "skip_if_known", "buttons", "payload", "reason", "unknown_key"]
KINDS = ["say", "ask_field", "ask_buttons", "branch", "offer_trial", "handover", "end", "widget_opened", "keywords",
         "goto", "SAY", ""]
ANY_CHAR = st.characters(codec=None, exclude_categories=())
TEXTS = st.one_of(st.text(ANY_CHAR, max_size=8), st.sampled_from(
    ["", " ", "\x00", "\ud800", "a\x07b", "数学", "三年级", "(a+)+$", "[", "x" * 501, "😀", "1.5", "true", "null"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), TEXTS,
                    st.sampled_from(STEP_IDS), st.sampled_from(KINDS))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | TEXTS, inner,
                                                                         max_size=4),
    max_leaves=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside ``value`` a mutation can hit (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        root = root[key]
    return root


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    """A valid flow with a few mutations: the definitions an admin's typo or a half-migrated export produce."""
    spec = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(spec)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(spec, path), path[-1]
        action = draw(st.sampled_from(["delete", "retype", "rename", "jump", "duplicate", "nest", "huge", "add"]))
        if action == "delete":
            del parent[key]
        elif action == "retype":
            parent[key] = draw(json_values)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | TEXTS)] = parent.pop(key)
        elif action == "jump":
            parent[key] = draw(st.sampled_from(STEP_IDS))
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(parent[key]))
        elif action == "nest":
            nested: Any = parent[key]
            for _ in range(draw(st.integers(1, 300))):
                nested = [nested]
            parent[key] = nested
        elif action == "huge" and isinstance(parent, list):
            parent.extend(copy.deepcopy(parent[key]) for _ in range(draw(st.integers(50, 150))))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(json_values)
    return spec


definitions = st.one_of(mutated_specs(), mutated_specs(), json_values)


def _outcome(value: Any, **kwargs: Any) -> Flow | FlowError:
    try:
        return load_flow(value, **kwargs)
    except FlowError as exc:
        return exc


def _check_error(exc: FlowError, value: Any = None) -> None:
    """Every problem has a message and a path whose first name is a flow setting or a key of the definition."""
    assert exc.problems
    keys = set(value) if isinstance(value, dict) else set()
    for problem in exc.problems:
        assert isinstance(problem.path, str) and isinstance(problem.message, str) and problem.message
        if problem.path.startswith('["'):  # a quoted key
            root = json.JSONDecoder().raw_decode(problem.path, 1)[0]
        else:
            root = problem.path.split(".")[0].split("[")[0]
        assert root == "" or root in Flow.model_fields or root in keys, problem
    assert exc.as_dict()["problems"] and str(exc)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_flow(flow: Flow) -> None:
    """An accepted flow can be stored and exported: JSON with no text a database cannot hold, read back as is."""
    text = flow.model_dump_json()
    stored = json.loads(text)
    assert all(text_problem(s) is None for s in _strings(stored))
    assert load_flow(stored) == flow
    assert load_flow(text) == flow


@settings(max_examples=examples(150))
@given(definitions)
def test_any_definition_is_a_flow_or_a_flow_error_with_paths(value: Any) -> None:
    result = _outcome(value)
    if isinstance(result, FlowError):
        _check_error(result, value)
    else:
        _check_flow(result)


@settings(max_examples=examples(60))
@given(definitions)
def test_the_json_text_and_the_parsed_dict_agree(value: Any) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        return  # NaN, infinities: not JSON
    as_dict, as_text = _outcome(value), _outcome(text.encode("utf-8", "surrogatepass"))
    if isinstance(as_text, FlowError):
        _check_error(as_text, value)
    assert isinstance(as_dict, FlowError) == isinstance(as_text, FlowError) or "\\ud" in json.dumps(value)
    if not isinstance(as_dict, FlowError) and not isinstance(as_text, FlowError):
        assert as_dict == as_text


@settings(max_examples=examples(60))
@given(mutated_specs(), st.lists(st.sampled_from(DEMO_FIELD_KEYS), max_size=5))
def test_unknown_field_keys_are_problems_with_paths(value: Any, keys: list[str]) -> None:
    result = _outcome(value, field_keys=keys)
    if isinstance(result, FlowError):
        _check_error(result, value)


# ---- the runner ---------------------------------------------------------------------------------------------------

ANSWERS = st.one_of(
    st.sampled_from(["1", "2", "3", "7", "第2个", "数学", "英语", "再想想", "三年级", "孩子初二了", "13800138000",
                     "我姓王，电话13912345678", "微信 abc_123456", "跳过", "不用了", "学费多少？", "明天", "2025-02-30",
                     "3月5日", "十二", "零零", "一百万", "1e400", "9" * 400, "", " ", "\ud800", "\x00", "😀",
                     "五岁半"]),
    st.text(ANY_CHAR, max_size=20))


def _label(flow: Flow, state: FlowState | None, index: int) -> str | None:
    step = flow.step(state.step) if state is not None and flow.has_step(state.step) else None
    if isinstance(step, AskButtonsStep):
        return str(step.options[index % len(step.options)].label)
    if isinstance(step, AskFieldStep) and step.options:
        return str(step.options[index % len(step.options)])
    return None


def _check_output(out: FlowOutput) -> None:
    assert all(isinstance(r.text, str) and r.text for r in out.replies)
    assert all(a.kind in ("handover", "offer_trial", "end") for a in out.actions)
    json.dumps([c.value for c in out.captured])
    if out.state is not None:
        json.dumps(out.state.to_json())


@st.composite
def accepted_flows(draw: st.DrawFn) -> Flow:
    result = _outcome(draw(mutated_specs()))
    if isinstance(result, FlowError):
        return load_flow(draw(st.sampled_from(SEEDS)))
    return result


@settings(max_examples=examples(80))
@given(accepted_flows(), st.data())
def test_the_runner_plays_any_accepted_flow_against_any_answers(flow: Flow, data: st.DataObject) -> None:
    card: dict[str, Any] = data.draw(st.sampled_from([{}, {"grade": "三年级"}, {"phone": "13800138000"},
                                                      {"subject": ["数学"], "child_age": 7}]))
    out = runner.start(flow, card, today=TODAY)
    _check_output(out)
    for _ in range(data.draw(st.integers(1, 8))):
        if out.state is None:
            return
        state = FlowState.from_json(json.loads(json.dumps(out.state.to_json())))  # as the host stores it
        waiting = flow.step(state.step)
        if isinstance(waiting, OfferTrialStep) and data.draw(st.booleans()):
            out = runner.trial_outcome(flow, state, data.draw(st.sampled_from(["booked", "declined", "unavailable"])),
                                       card, today=TODAY)
        else:
            label = _label(flow, state, data.draw(st.integers(0, 5)))
            text = data.draw(ANSWERS if label is None else st.one_of(ANSWERS, st.just(label)))
            out = runner.advance(flow, state, text, card, faq_band=data.draw(st.sampled_from([None, "answer"])),
                                 today=TODAY)
        _check_output(out)
        for captured in out.captured:
            card[captured.key] = captured.value


rules = st.builds(
    Rule, key=st.sampled_from(["name", "phone", "wechat", "child_age", "grade", "subject", "city", "education"]),
    type=st.sampled_from(["text", "number", "phone", "single", "multi", "date"]),
    options=st.sampled_from([(), ("数学", "英语"), ("是", "否"), tuple(f"选项{i}" for i in range(10))]),
    pattern=st.sampled_from([None, "1[3-9][0-9]{9}", ".*", "[a-z]+"]),
    min=st.sampled_from([None, 0.0, 3.0]), max=st.sampled_from([None, 18.0, 1e9]), max_length=st.integers(1, 500))
NUMERAL_ANSWERS = st.text("零〇一二两三四五六七八九十百千万亿点负0123456789.-岁个", min_size=1, max_size=8)


@settings(max_examples=examples(200))
@given(rules, st.one_of(ANSWERS, NUMERAL_ANSWERS))
def test_any_answer_to_any_field_is_read_or_refused(rule: Rule, text: str) -> None:
    answer = parse_answer(rule, text, extract(text, use_model=False), today=TODAY)
    if answer is not None:
        assert answer.key == rule.key
        json.dumps(answer.value)
        assert len(answer.evidence) <= 200


# ---- regressions found by the properties --------------------------------------------------------------------------


def _say(text: Any) -> dict[str, Any]:
    return {"key": "k", "name": "n", "steps": [{"kind": "say", "id": "a", "text": text}]}


@pytest.mark.parametrize(("text", "problem"), [("你好\x00", "空字符"), ("\ud800", "代理项"), ("a\x1bb", "控制字符")])
def test_text_a_database_cannot_hold_is_refused_with_its_path(text: str, problem: str) -> None:
    with pytest.raises(FlowError) as caught:
        load_flow(_say(text))
    assert caught.value.path == "steps[0].text" and problem in caught.value.message


@pytest.mark.parametrize("text", ["零十零", "零十零岁", "九百零十"])
def test_a_chinese_numeral_cn2an_cannot_read_is_no_number(text: str) -> None:
    """cn2an raised KeyError (not ValueError) on "零十零": the runner crashed on a visitor's answer."""
    rule = Rule("lessons", "number")
    assert parse_answer(rule, text, extract(text, use_model=False), today=TODAY) is None


def test_deeply_nested_json_is_a_clear_error() -> None:
    """The admin's JSON text went through ``json.loads``, which raised RecursionError (a 500) on "[[[[…"."""
    deep = '{"key": "k", "name": "n", "steps": ' + "[" * 50_000 + "]" * 50_000 + "}"
    with pytest.raises(FlowError) as caught:
        load_flow(deep)
    assert caught.value.message.startswith("不是有效的 JSON")
    with pytest.raises(ScriptError) as script_error:
        scripts.parse(deep, set())
    assert script_error.value.code == "bad_json"


def test_a_key_that_is_not_a_name_is_quoted_in_the_path() -> None:
    with pytest.raises(FlowError) as caught:
        load_flow({"key": "k", "name": "n", "steps": [{"kind": "end", "id": "a", "0.": 1}]})
    assert caught.value.path == 'steps[0]["0."]'


def test_not_a_number_is_not_a_range() -> None:
    spec = {"key": "k", "name": "n", "steps": [
        {"kind": "ask_field", "id": "a", "field": "child_age", "prompt": "几岁？", "min": float("nan")}]}
    with pytest.raises(FlowError) as caught:
        load_flow(spec)
    assert caught.value.path == "steps[0].min"
