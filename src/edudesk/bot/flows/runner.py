"""Running a bot script one visitor turn at a time, as a pure function of (flow, state, message).

The host (the bot service) stores one :class:`FlowState` per conversation as JSON and calls, each turn:

- :func:`start` when a trigger picked a flow (``triggers.pick_flow``);
- :func:`advance` with the visitor's message while a state is stored;
- :func:`trial_outcome` when the visitor booked a trial session the host offered (or declined, or none was free).

Each returns a :class:`FlowOutput`: the replies to send, the new state (``None``: the flow is over, store
nothing), the field values the visitor gave (write them to the lead card as source ``flow``) and the actions for
the host (``handover``, ``offer_trial``, ``end``).

**Leaving and resuming, with manners.** A message that does not answer the pending question but looks like a
question ("学费多少？", or the host's FAQ matcher says band ``answer``) returns ``interrupted=True`` with the state
kept and no flow reply: the host answers it with the FAQ bot and appends ``output.resume`` when there is one. The
script comes back to its question **once** ("我们接着刚才的～" + the question): further side questions are only
answered. A question the visitor lets pass twice is *shelved*: never asked again in the same words; the script
waits, and at a better moment (the host passes ``moment``: a message with a buying signal such as a price or trial
question) it asks once more, rephrased ("对了，" + the first wording + why it helps now). Let pass again, the
question is dropped and the script goes on as the step's ``on_fail`` says (``skip``: the next step waits for the
next good moment — a buying signal or a message that asks nothing; ``end`` / ``handover``: as written). Only side
questions count as passes; a reply that tries and fails ("138001") costs a retry as before, and a refusal fails
the ask at once. See docs/bot-flows.md, "Manners".

A flow edited while a visitor is in it: the state names the step it waits on, so the conversation carries on
with the new version when that step still exists and ends quietly (``end``, reason ``flow_changed``) when not.

A message that answers *and* asks ("三年级，学费多少？") is taken as the answer and flagged ``asked_question`` so the
host can answer the FAQ before the flow's next question.

Values a message states for later questions ("孩子三年级，电话138…") are read from the extraction and those
questions are skipped; they are not in ``captured`` because the host's lead capture (``leads_service.capture``)
already records every extracted value — the runner only reports what it read as an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edudesk.bot.engine import BotReply, Button
from edudesk.bot.flows.answers import Rule, is_refusal, looks_like_question, match_option, parse_answer
from edudesk.bot.flows.spec import (
    MAX_BUTTONS,
    AskButtonsStep,
    AskFieldStep,
    BranchStep,
    Case,
    EndStep,
    FieldDef,
    Flow,
    HandoverStep,
    OfferTrialStep,
    SayStep,
    Step,
    resolve_field,
)
from edudesk.bot.flows.state import Captured, FlowAction, FlowOutput, FlowState, TrialOutcome
from edudesk.localtime import local_today
from edudesk.nlp.extract import Extraction, extract

__all__ = ["Captured", "FlowAction", "FlowOutput", "FlowState", "TrialOutcome", "advance", "start", "trial_outcome"]

STEP_BUDGET = 200  # steps per turn; the graph checks make this unreachable, it guards against a bug
RESUME_PREFIX = "我们接着刚才的～"
ON_FAIL_HANDOVER_TEXT = "没关系，我请课程老师直接来和您沟通，请稍候～"
ON_FAIL_END_TEXT = "好的，不打扰您了～有任何问题随时在这里问我。"
BUTTONS_HINT = "请点击下面的选项，或回复选项前的数字～"
TYPE_HINTS = {
    "phone": "这个号码好像不太对，请输入 11 位手机号码～",
    "number": "请回复一个数字就可以～",
    "date": "请告诉我具体日期，比如 2025-03-08，或者“明天”～",
    "single": BUTTONS_HINT,
    "multi": "可以选一个或多个，回复选项或数字就行～",
    "text": "抱歉，我没太明白～",
}
DECLINE_TRIAL = ("不用", "不需要", "不要", "算了", "不了", "没时间", "再说", "暂时不", "先不", "以后再")
# Lead-card key ← extraction attribute (as ``leads.service.FROM_EXTRACTION``), for skipping asks this message answers.
_FROM_EXTRACTION = (("name", "name"), ("phone", "phone"), ("wechat", "wechat"), ("child_name", "child_name"),
                    ("child_age", "age"), ("grade", "grade"), ("city", "city"), ("district", "district"))


@dataclass
class _Turn:
    """One call's working set: the flow, the values known so far and what the call will return."""

    flow: Flow
    known: Mapping[str, Any]
    values: dict[str, Any]
    answers: dict[str, Any]
    last_answer: Any
    fields: Mapping[str, FieldDef] | None
    today: dt.date
    shelved: tuple[str, ...] = ()
    rephrased: tuple[str, ...] = ()
    replies: list[BotReply] = field(default_factory=list)
    captured: list[Captured] = field(default_factory=list)
    actions: list[FlowAction] = field(default_factory=list)

    def value(self, key: str) -> Any:
        return self.values[key] if _present(self.values.get(key)) else self.known.get(key)

    def has(self, key: str) -> bool:
        return _present(self.value(key))

    def say(self, step: Step, text: str, buttons: tuple[Button, ...] = ()) -> None:
        extra = {"kind": "flow", "flow": self.flow.key, "step": step.id, "step_kind": step.kind}
        self.replies.append(BotReply(text, buttons, extra))

    def output(self, waiting: str | None, *, retries: int = 0, interrupted: bool = False,
               asked: bool = False, resume: BotReply | None = None, passes: int = 0, resumed: bool = False,
               later: bool = False, deferred: bool = False) -> FlowOutput:
        state = None if waiting is None else FlowState(
            self.flow.key, self.flow.version, waiting, retries, self.answers, self.values, self.last_answer,
            interrupted, passes, resumed, later, deferred, self.shelved, self.rephrased)
        return FlowOutput(tuple(self.replies), state, tuple(self.captured), tuple(self.actions), interrupted, asked,
                          resume)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _today(today: dt.date | None) -> dt.date:
    return today if today is not None else local_today()


def _message_values(extraction: Extraction) -> dict[str, Any]:
    out: dict[str, Any] = {key: getattr(extraction, attr) for key, attr in _FROM_EXTRACTION}
    out["subject"] = list(extraction.subjects)
    return {k: v for k, v in out.items() if _present(v)}


def start(flow: Flow, known_fields: Mapping[str, Any], *, extraction: Extraction | None = None,
          fields: Mapping[str, FieldDef] | None = None, today: dt.date | None = None) -> FlowOutput:
    """Run ``flow`` from its first step up to its first question. ``known_fields`` is the lead card (key → value,
    after capturing the triggering message); ``extraction`` of the triggering message also counts as known."""
    values = _message_values(extraction) if extraction is not None else {}
    turn = _Turn(flow, known_fields, values, {}, None, fields, _today(today))
    return _run(turn, flow.steps[0].id)


def advance(flow: Flow, state: FlowState, visitor_text: str, known_fields: Mapping[str, Any],
            extraction: Extraction | None = None, *, faq_band: str | None = None, moment: str | None = None,
            fields: Mapping[str, FieldDef] | None = None, today: dt.date | None = None) -> FlowOutput:
    """Read the visitor's message against the step ``state`` waits on and run on to the next question.

    ``extraction`` is ``nlp.extract(visitor_text)`` (computed here, rules only, when not given); ``faq_band`` is
    how the host's FAQ bot handled the message: "answer" (counts as a question), "miss" / "suggest" (no answer:
    no resume line after it), anything else or None (answered some other way). ``moment`` names the buying signal
    the message shows ("asked_price", "asked_trial", …; None: none) — a better moment for a shelved question."""
    if state.flow_key != flow.key:
        raise ValueError(f"state of flow {state.flow_key!r} passed with flow {flow.key!r}")
    ex = extraction if extraction is not None else extract(visitor_text, use_model=False)
    values = {**state.values, **_message_values(ex)}
    turn = _Turn(flow, known_fields, values, dict(state.answers), state.last_answer, fields, _today(today),
                 state.shelved, state.rephrased)
    asked = looks_like_question(visitor_text) or faq_band == "answer"
    if state.deferred and flow.has_step(state.step):
        return _deferred(turn, state, asked, moment)
    if not flow.has_step(state.step) or not isinstance(flow.step(state.step), AskFieldStep | AskButtonsStep
                                                                                | OfferTrialStep):
        turn.actions.append(FlowAction("end", state.step, reason="flow_changed"))  # edited under the visitor
        return turn.output(None)
    step = flow.step(state.step)
    if isinstance(step, OfferTrialStep):
        return _trial_reply(turn, step, state, visitor_text, asked, faq_band, moment)
    assert isinstance(step, AskFieldStep | AskButtonsStep)
    target = _answer(turn, step, visitor_text, ex)
    if target is not _NO_ANSWER:
        out = _run(turn, target)
        return replace(out, asked_question=asked)
    if is_refusal(visitor_text):
        return _fail(turn, step)
    if asked or state.resumed or state.waiting:
        return _passed(turn, step, state, faq_band, moment)
    retries = state.retries if state.interrupted else state.retries + 1
    if retries > step.max_retries:
        return _fail(turn, step)
    if state.interrupted:  # back from a side question the FAQ could not answer: once, as a resumption
        turn.replies.append(_prompt_reply(turn, step, _resume_text(step)))
        return turn.output(step.id, retries=retries, passes=state.passes, resumed=True)
    turn.replies.append(_prompt_reply(turn, step, step.reprompt or _retry_text(turn, step)))
    return turn.output(step.id, retries=retries)


# ---- manners: resuming once, shelving a question let pass twice, waiting for a better moment -------------------

NO_RESUME_BANDS = frozenset({"miss", "suggest", "fallback"})
MOMENT_PREFIX = "对了，"
# Why the script asks now, by the buying signal that made it a good moment (names of leads.grading's signals).
MOMENT_REASONS = {
    "asked_price": "知道这个，我能给您说得更准确些～",
    "asked_trial": "这样我好帮您安排合适的试听课～",
    "asked_schedule": "这样我好帮您查对应的上课时间～",
    "enrol_intent": "这样我好帮您看报名安排～",
}


def _resume_text(step: AskFieldStep | AskButtonsStep | OfferTrialStep) -> str:
    if isinstance(step, OfferTrialStep):
        return RESUME_PREFIX + step.text
    return RESUME_PREFIX + (step.reprompt or _question(step))


def _rephrased_text(step: AskFieldStep | AskButtonsStep | OfferTrialStep, moment: str) -> str:
    """The shelved question once more, in other words than the prompt and the resume line: the first wording
    (the resume line used the reprompt), a lead-in and the reason it helps the visitor now."""
    question = step.text if isinstance(step, OfferTrialStep) else _question(step)
    return MOMENT_PREFIX + question + MOMENT_REASONS.get(moment, "")


def _passed(turn: _Turn, step: AskFieldStep | AskButtonsStep | OfferTrialStep, state: FlowState,
            faq_band: str | None, moment: str | None) -> FlowOutput:
    """The visitor let the pending question pass (a side question; after the resume line, any non-answer). The
    host answers the message with the FAQ bot; this decides what, if anything, the script adds after it:

    1. first pass: the question once more as a resumption (only after a real answer, not after a fallback);
    2. second pass: nothing; the question is shelved and the script waits for a better moment;
    3. while waiting, a message with a buying signal (``moment``): the shelved question once more, rephrased;
    4. a rephrased question let pass again: dropped for good; the script goes past it as the step's ``on_fail``
       says (``skip``: the next step waits for the next good moment; ``end`` / ``handover``: as written).
    """
    passes = state.passes + 1

    def side(*, resume: BotReply | None = None, later: bool = False) -> FlowOutput:
        return turn.output(step.id, retries=state.retries, interrupted=True, asked=True, resume=resume,
                           passes=passes, resumed=resume is not None, later=later)

    if state.waiting:
        if moment is not None and step.id not in turn.rephrased and faq_band not in NO_RESUME_BANDS:
            turn.rephrased = (*turn.rephrased, step.id)
            return side(resume=_prompt_reply(turn, step, _rephrased_text(step, moment)))
        return side(later=True)
    if step.id in turn.rephrased:
        return _drop(turn, step)
    if passes >= 2 or state.resumed:
        if step.id not in turn.shelved:
            turn.shelved = (*turn.shelved, step.id)
        return side(later=True)
    if faq_band in NO_RESUME_BANDS:
        return side()
    return side(resume=_prompt_reply(turn, step, _resume_text(step)))


def _drop(turn: _Turn, step: AskFieldStep | AskButtonsStep | OfferTrialStep) -> FlowOutput:
    """Past a question the visitor let pass even when asked at a good moment. The FAQ answer goes first."""
    if isinstance(step, OfferTrialStep):  # an offer let pass is a "no": the script's declined route, now
        return replace(_run(turn, _trial_target(turn, step, "declined")), asked_question=True)
    if step.on_fail != "skip":
        return replace(_fail(turn, step), asked_question=True)
    target = _next(turn, step)
    if target is None:
        return replace(_run(turn, None), asked_question=True)
    return turn.output(target, interrupted=True, asked=True, later=True, deferred=True)


def _deferred(turn: _Turn, state: FlowState, asked: bool, moment: str | None) -> FlowOutput:
    """The script waits before a step it has not run yet: it runs it at a message with a buying signal or one
    that asks nothing (a pause: "好的", "孩子三年级"); a further side question is only answered."""
    if moment is None and asked:
        return turn.output(state.step, interrupted=True, asked=True, passes=state.passes + 1, later=True,
                           deferred=True)
    return replace(_run(turn, state.step), asked_question=asked)


def trial_outcome(flow: Flow, state: FlowState, outcome: TrialOutcome, known_fields: Mapping[str, Any], *,
                  fields: Mapping[str, FieldDef] | None = None, today: dt.date | None = None) -> FlowOutput:
    """Continue after an ``offer_trial``: the host booked a session (``booked``), the visitor said no
    (``declined``) or there was no session to offer (``unavailable``)."""
    step = flow.step(state.step) if flow.has_step(state.step) else None
    if not isinstance(step, OfferTrialStep):
        raise ValueError(f"flow {flow.key!r} is not waiting on a trial offer (step {state.step!r})")
    turn = _Turn(flow, known_fields, dict(state.values), dict(state.answers), state.last_answer, fields,
                 _today(today))
    return _run(turn, _trial_target(turn, step, outcome))


# ---- answering -------------------------------------------------------------------------------------------------

_NO_ANSWER = object()


def _answer(turn: _Turn, step: AskFieldStep | AskButtonsStep, text: str, ex: Extraction) -> Any:
    """Record the answer and return the step id to continue from (None: the flow ends), or ``_NO_ANSWER``."""
    if isinstance(step, AskButtonsStep):
        index = match_option(text, [o.label for o in step.options])
        if index is None:
            index = match_option(text, [o.stored for o in step.options])
        if index is None:
            return _NO_ANSWER
        option = step.options[index]
        _record(turn, step, step.field, option.stored, text.strip())
        return option.goto or _next(turn, step)
    for key in (step.field, *step.alternatives):
        spec = resolve_field(key, turn.fields, type=step.type if key == step.field else None,
                             options=step.options if key == step.field else ())
        rule = Rule(key, spec.type, spec.options, step.pattern if key == step.field else None, step.min, step.max,
                    step.max_length)
        answer = parse_answer(rule, text, ex, today=turn.today)
        if answer is not None:
            turn.captured.append(Captured(answer.key, answer.value, answer.evidence, step.id))
            turn.values[answer.key] = answer.value
            turn.answers[step.id] = answer.value
            turn.last_answer = answer.value
            return _next(turn, step)
    return _NO_ANSWER


def _record(turn: _Turn, step: AskButtonsStep, key: str | None, value: str, evidence: str) -> None:
    turn.answers[step.id] = value
    turn.last_answer = value
    if key is not None:
        stored: Any = [value] if resolve_field(key, turn.fields).type == "multi" else value
        turn.values[key] = stored
        turn.captured.append(Captured(key, stored, evidence[:200], step.id))


def _fail(turn: _Turn, step: AskFieldStep | AskButtonsStep) -> FlowOutput:
    if step.on_fail == "skip":
        if step.on_fail_text:
            turn.say(step, step.on_fail_text)
        return _run(turn, _next(turn, step))
    if step.on_fail == "handover":
        turn.say(step, step.on_fail_text or ON_FAIL_HANDOVER_TEXT)
        turn.actions.append(FlowAction("handover", step.id, reason="ask_failed"))
    else:
        turn.say(step, step.on_fail_text or ON_FAIL_END_TEXT)
        turn.actions.append(FlowAction("end", step.id, reason="ask_failed"))
    return turn.output(None)


def _trial_reply(turn: _Turn, step: OfferTrialStep, state: FlowState, text: str, asked: bool,
                 faq_band: str | None, moment: str | None) -> FlowOutput:
    """The visitor wrote instead of picking a session: a no, a question, or anything else (offer again)."""
    if any(word in text for word in DECLINE_TRIAL):
        return _run(turn, _trial_target(turn, step, "declined"))
    if asked or state.resumed or state.waiting:
        return _passed(turn, step, state, faq_band, moment)
    retries = state.retries if state.interrupted else state.retries + 1
    if retries > step.max_retries:
        return _run(turn, _trial_target(turn, step, "declined"))
    turn.say(step, step.text)
    turn.actions.append(FlowAction("offer_trial", step.id, course=step.course))
    return turn.output(step.id, retries=retries, passes=state.passes, resumed=state.interrupted)


def _trial_target(turn: _Turn, step: OfferTrialStep, outcome: TrialOutcome) -> str | None:
    turn.answers[step.id] = outcome
    turn.last_answer = outcome
    if outcome == "booked":
        return step.booked or _next(turn, step)
    if outcome == "unavailable" and step.unavailable:
        return step.unavailable
    return step.declined or _next(turn, step)


# ---- running ---------------------------------------------------------------------------------------------------


def _next(turn: _Turn, step: Step) -> str | None:
    return step.next if step.next is not None else turn.flow.following(step.id)


def _run(turn: _Turn, step_id: str | None) -> FlowOutput:
    """Execute steps from ``step_id`` until one waits for the visitor or the flow ends."""
    for _ in range(STEP_BUDGET):
        if step_id is None:
            turn.actions.append(FlowAction("end", None, reason="completed"))
            return turn.output(None)
        step = turn.flow.step(step_id)
        if isinstance(step, SayStep):
            turn.say(step, step.text, tuple(Button(b.label, b.payload or b.label) for b in step.buttons))
            step_id = _next(turn, step)
        elif isinstance(step, BranchStep):
            step_id = _branch(turn, step)
        elif isinstance(step, AskFieldStep):
            if step.skip_if_known and any(turn.has(k) for k in (step.field, *step.alternatives)):
                step_id = _next(turn, step)
                continue
            turn.replies.append(_prompt_reply(turn, step, step.prompt))
            return turn.output(step.id)
        elif isinstance(step, AskButtonsStep):
            if step.skip_if_known and step.field is not None and turn.has(step.field):
                step_id = _known_choice(turn, step)
                continue
            turn.replies.append(_prompt_reply(turn, step, step.question))
            return turn.output(step.id)
        elif isinstance(step, OfferTrialStep):
            turn.say(step, step.text)
            turn.actions.append(FlowAction("offer_trial", step.id, course=step.course))
            return turn.output(step.id)
        elif isinstance(step, HandoverStep):
            if step.text:
                turn.say(step, step.text)
            turn.actions.append(FlowAction("handover", step.id, reason=step.reason))
            return turn.output(None)
        else:
            assert isinstance(step, EndStep)
            if step.text:
                turn.say(step, step.text)
            turn.actions.append(FlowAction("end", step.id, reason="completed"))
            return turn.output(None)
    turn.actions.append(FlowAction("end", step_id, reason="step_budget"))
    return turn.output(None)


def _known_choice(turn: _Turn, step: AskButtonsStep) -> str | None:
    """An ask_buttons skipped because its field is known: follow the option the known value names, if any."""
    known = turn.value(step.field or "")
    items = [str(v) for v in known] if isinstance(known, list) else [str(known)]
    turn.last_answer = known
    option = next((o for o in step.options if o.stored in items or o.label in items), None)
    return (option.goto if option and option.goto else None) or _next(turn, step)


def _branch(turn: _Turn, step: BranchStep) -> str | None:
    for case in step.cases:
        key = case.field or step.field
        value = turn.value(key) if key is not None else turn.last_answer
        if _matches(case, value):
            return case.goto
    return _next(turn, step)


def _matches(case: Case, value: Any) -> bool:
    if case.exists is not None:
        return _present(value) == case.exists
    items = [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])
    if case.equals is not None:
        return case.equals in items
    if case.in_ is not None:
        return any(item in case.in_ for item in items)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return (case.min is None or number >= case.min) and (case.max is None or number <= case.max)


def _question(step: AskFieldStep | AskButtonsStep | OfferTrialStep) -> str:
    if isinstance(step, AskFieldStep):
        return step.prompt
    return step.question if isinstance(step, AskButtonsStep) else step.text


def _retry_text(turn: _Turn, step: AskFieldStep | AskButtonsStep) -> str:
    if isinstance(step, AskButtonsStep):
        return f"{BUTTONS_HINT}\n{step.question}"
    kind = resolve_field(step.field, turn.fields, type=step.type, options=step.options).type
    return f"{TYPE_HINTS[kind]}\n{step.prompt}"


def _prompt_reply(turn: _Turn, step: AskFieldStep | AskButtonsStep | OfferTrialStep, text: str) -> BotReply:
    """A question with its buttons: the options of ask_buttons, or of a single/multi field when they fit."""
    buttons: tuple[Button, ...] = ()
    if isinstance(step, AskButtonsStep):
        buttons = tuple(Button(o.label, o.label) for o in step.options)
    elif isinstance(step, AskFieldStep):
        spec = resolve_field(step.field, turn.fields, type=step.type, options=step.options)
        if spec.type in ("single", "multi") and 0 < len(spec.options) <= MAX_BUTTONS:
            buttons = tuple(Button(o, o) for o in spec.options)
    return BotReply(text, buttons, {"kind": "flow", "flow": turn.flow.key, "step": step.id, "step_kind": step.kind})
