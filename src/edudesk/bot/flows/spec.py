"""A bot script (话术流程) as data: the pydantic models an admin edits and the JSON they are stored and exported as.

A flow is a list of steps referenced by id. Each step goes on to ``next`` or, when that is empty, to the step
after it in the list, so a plain questionnaire needs no ``goto`` at all and the admin only wires the forks. The
JSON itself is the export format (``flow.model_dump_json()`` / ``Flow.model_validate_json(text)``); it carries a
``schema_version`` so a later format can migrate old exports instead of misreading them.

Validation happens when a flow is built, so a flow object is always runnable: field-level rules through pydantic,
the graph rules (:mod:`.graph`: duplicate ids, dangling ``goto``, unreachable steps, silent loops) and — when the
caller passes the org's lead-card keys as validation context ``{"field_keys": [...]}`` — unknown field keys.
:func:`load_flow` wraps all of that and raises :class:`FlowError` with Chinese messages and JSON paths.

Field types mirror the lead card (``leads.models.FieldType``); they are repeated here as literals, not imported,
because this package is pure (no database models) and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final, Literal, NamedTuple

import regex
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from edudesk.bot.flows.errors import FlowError, FlowProblem
from edudesk.bot.flows.graph import Exit, check_graph
from edudesk.bot.flows.variables import problem as variable_problem
from edudesk.bot.flows.variables import unknown as unknown_variables
from edudesk.inputs import check_text

SCHEMA_VERSION: Final = 1
MAX_BUTTONS = 6  # the widget shows at most six chips under a message (as ``bot.faq.MAX_BUTTONS``)
FieldType = Literal["text", "number", "phone", "single", "multi", "date"]
GRADES = ("小班", "中班", "大班", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三",
          "高一", "高二", "高三")
# The lead card's built-in fields (``leads.service.BUILTIN_FIELDS``): their type, and options where they have some.
BUILTIN_FIELD_TYPES: dict[str, FieldType] = {
    "name": "text", "phone": "phone", "wechat": "text", "child_name": "text", "child_age": "number",
    "grade": "single", "subject": "multi", "city": "text", "district": "text", "campus": "single",
    "occupation": "text",
}
BUILTIN_FIELD_OPTIONS: dict[str, tuple[str, ...]] = {"grade": GRADES}

# Every free text is checked by the shared input rule (NUL, control characters; pydantic itself refuses lone
# surrogates): a flow is stored as JSON, and PostgreSQL cannot hold NUL in it (edudesk.inputs).
Clean = AfterValidator(check_text)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Clean]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Clean]
FreeText = Annotated[str, Clean]
# A bound of a number range: NaN and infinities are not numbers a visitor can give, and JSON cannot carry them.
Bound = Annotated[float | None, Field(allow_inf_nan=False)]
StepId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,39}$")]
FieldKey = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
FlowKey = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,39}$")]
OnFail = Literal["skip", "handover", "end"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _at_most_buttons(items: list[Any]) -> list[Any]:
    if len(items) > MAX_BUTTONS:
        raise ValueError(f"按钮最多 {MAX_BUTTONS} 个，当前 {len(items)} 个")
    return items


# ---- steps -------------------------------------------------------------------------------------------------------


class ReplyButton(_Model):
    """A quick-reply chip under a ``say`` message; clicking it sends ``payload`` (default: the label)."""

    label: Label
    payload: Label | None = None


class _Step(_Model):
    id: StepId
    # Where to go after this step; empty = the next step in the list (the flow ends after the last one).
    next: StepId | None = None

    def exits(self, following: str | None) -> list[Exit]:
        return [self._next_exit(following)]

    def always_waits(self) -> bool:
        return False

    def _next_exit(self, following: str | None, path: str = "next", goto: str | None = None) -> Exit:
        if goto is not None:
            return Exit(path, goto, True)
        return Exit("next", self.next, True) if self.next is not None else Exit("next", following, False)


class SayStep(_Step):
    """Tell the visitor something and go straight on."""

    kind: Literal["say"] = "say"
    text: Text
    buttons: list[ReplyButton] = []

    _buttons = field_validator("buttons")(_at_most_buttons)


class _AskStep(_Step):
    """What every step that waits for an answer shares: how often to re-ask and what to do when it fails."""

    reprompt: Text | None = None  # said when the answer did not fit, and when resuming after a side question
    max_retries: int = Field(2, ge=0, le=5)
    on_fail: OnFail = "skip"
    on_fail_text: Text | None = None


class AskFieldStep(_AskStep):
    """Ask for one lead-card field and validate the answer by the field's type (``type`` overrides it)."""

    kind: Literal["ask_field"] = "ask_field"
    field: FieldKey
    prompt: Text
    type: FieldType | None = None  # empty: the card's type for this field (built-in or the org's definition)
    options: list[Label] = []  # single/multi: the allowed answers (empty: the card field's options)
    pattern: FreeText | None = None  # text/phone: a regular expression the whole answer must match
    min: Bound = None  # number: smallest accepted value
    max: Bound = None  # number: largest accepted value
    max_length: int = Field(100, ge=1, le=500)  # text: longest accepted answer
    # Other fields that answer this ask too ("手机号或微信": field phone, alternatives ["wechat"]).
    alternatives: list[FieldKey] = []
    skip_if_known: bool = True

    def always_waits(self) -> bool:
        return not self.skip_if_known

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:  # compiled by the engine that runs it (bot.flows.answers.pattern_matches)
                regex.compile(value)
            except regex.error as exc:
                raise ValueError(f"正则表达式无效：{exc}") from exc
        return value

    @model_validator(mode="after")
    def _range(self) -> AskFieldStep:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("flow_graph", "最小值不能大于最大值",
                                      {"problems": [("max", "最小值不能大于最大值")]})
        return self


class ButtonOption(_Model):
    label: Label
    value: Label | None = None  # what is stored and branched on; empty = the label
    goto: StepId | None = None  # empty = the step's ``next``

    @property
    def stored(self) -> str:
        return self.value if self.value is not None else self.label


class AskButtonsStep(_AskStep):
    """Ask a question with buttons; the visitor may also type an option's label or its number (1, 2…)."""

    kind: Literal["ask_buttons"] = "ask_buttons"
    question: Text
    options: list[ButtonOption] = Field(min_length=1)
    field: FieldKey | None = None  # store the chosen value on this lead-card field
    # With ``field``: when the card already has it, go on as if the visitor had chosen it (its option's goto).
    skip_if_known: bool = False

    _options = field_validator("options")(_at_most_buttons)

    def exits(self, following: str | None) -> list[Exit]:
        out = [self._next_exit(following, f"options[{i}].goto", o.goto) for i, o in enumerate(self.options)]
        return [*out, self._next_exit(following)]

    def always_waits(self) -> bool:
        return not (self.skip_if_known and self.field is not None)


class Case(_Model):
    """One condition of a branch; exactly one of ``equals`` / ``in`` / ``exists`` / ``min``–``max`` (inclusive)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    field: FieldKey | None = None  # empty: the branch's field (or the last answer)
    equals: FreeText | None = None
    in_: list[FreeText] | None = Field(None, alias="in")
    exists: bool | None = None
    min: Bound = None
    max: Bound = None
    goto: StepId

    @model_validator(mode="after")
    def _one_condition(self) -> Case:
        given = [self.equals is not None, self.in_ is not None, self.exists is not None,
                 self.min is not None or self.max is not None]
        if sum(given) != 1:
            raise ValueError("每个条件只能设置一种：equals、in、exists 或 min/max（数值范围）")
        return self


class BranchStep(_Step):
    """Go to the first case that matches; ``next`` when none does."""

    kind: Literal["branch"] = "branch"
    field: FieldKey | None = None  # empty: branch on the visitor's last answer in this flow
    cases: list[Case] = Field(min_length=1)

    def exits(self, following: str | None) -> list[Exit]:
        cases = [Exit(f"cases[{i}].goto", c.goto, True) for i, c in enumerate(self.cases)]
        return [*cases, self._next_exit(following)]


class OfferTrialStep(_Step):
    """Offer trial-class sessions: the host shows the sessions and reports the outcome (see the runner)."""

    kind: Literal["offer_trial"] = "offer_trial"
    text: Text
    course: Label | None = None  # which course's sessions to offer; empty = the host decides (subject, grade)
    booked: StepId | None = None
    declined: StepId | None = None
    unavailable: StepId | None = None  # no session to offer; empty = as declined
    max_retries: int = Field(1, ge=0, le=5)

    def exits(self, following: str | None) -> list[Exit]:
        declined = self._next_exit(following, "declined", self.declined)
        unavailable = (Exit("unavailable", self.unavailable, True) if self.unavailable is not None
                       else Exit("declined", declined.target, False))
        return [self._next_exit(following, "booked", self.booked), declined, unavailable]

    def always_waits(self) -> bool:
        return True


class HandoverStep(_Step):
    """Hand the conversation to a human (the host routes it, or opens a ticket off hours); the flow ends."""

    kind: Literal["handover"] = "handover"
    reason: Label = "flow"
    text: Text | None = "好的，正在为您转接课程老师，请稍候～"

    def exits(self, following: str | None) -> list[Exit]:
        return []


class EndStep(_Step):
    kind: Literal["end"] = "end"
    text: Text | None = None

    def exits(self, following: str | None) -> list[Exit]:
        return []


Step = Annotated[SayStep | AskFieldStep | AskButtonsStep | BranchStep | OfferTrialStep | HandoverStep | EndStep,
                 Field(discriminator="kind")]
AskStep = AskFieldStep | AskButtonsStep

# ---- triggers ----------------------------------------------------------------------------------------------------


class WidgetOpenedTrigger(_Model):
    kind: Literal["widget_opened"] = "widget_opened"


class FaqCategoryTrigger(_Model):
    """After the bot answers an FAQ entry in this category or below it (``课程`` matches ``课程/价格``)."""

    kind: Literal["faq_category"] = "faq_category"
    category: Text


class KeywordsTrigger(_Model):
    kind: Literal["keywords"] = "keywords"
    keywords: list[Label] = Field(min_length=1, max_length=50)


class TurnsWithoutContactTrigger(_Model):
    """When the visitor has sent this many messages and still left no phone or WeChat."""

    kind: Literal["turns_without_contact"] = "turns_without_contact"
    turns: int = Field(3, ge=1, le=50)


class OffHoursTrigger(_Model):
    kind: Literal["off_hours"] = "off_hours"


Trigger = Annotated[WidgetOpenedTrigger | FaqCategoryTrigger | KeywordsTrigger | TurnsWithoutContactTrigger
                    | OffHoursTrigger, Field(discriminator="kind")]

# ---- the flow ----------------------------------------------------------------------------------------------------


class Flow(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    key: FlowKey
    name: Label
    version: int = Field(1, ge=1)
    enabled: bool = True
    description: FreeText = ""
    triggers: list[Trigger] = []
    steps: list[Step] = Field(min_length=1, max_length=100)

    _index: dict[str, int] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._index = {s.id: i for i, s in enumerate(self.steps)}

    @model_validator(mode="after")
    def _sound(self, info: ValidationInfo) -> Flow:
        problems = check_graph(self.steps)
        problems.extend(_unknown_variables(self.steps))
        keys = (info.context or {}).get("field_keys") if isinstance(info.context, Mapping) else None
        if keys is not None:
            problems.extend(_unknown_fields(self.steps, set(keys)))
        if problems:
            raise PydanticCustomError("flow_graph", "{summary}", {
                "summary": "；".join(f"{p.path}：{p.message}" for p in problems),
                "problems": [(p.path, p.message) for p in problems],
            })
        return self

    def step(self, step_id: str) -> Step:
        return self.steps[self._index[step_id]]

    def has_step(self, step_id: str) -> bool:
        return step_id in self._index

    def following(self, step_id: str) -> str | None:
        """The id of the step listed after ``step_id`` (where a step without ``next`` goes), or None."""
        i = self._index[step_id] + 1
        return self.steps[i].id if i < len(self.steps) else None


def _unknown_fields(steps: Iterable[Step], keys: set[str]) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    for i, step in enumerate(steps):
        named: list[tuple[str, str | None]] = []
        if isinstance(step, AskFieldStep):
            named = [("field", step.field), *((f"alternatives[{j}]", k) for j, k in enumerate(step.alternatives))]
        elif isinstance(step, AskButtonsStep):
            named = [("field", step.field)]
        elif isinstance(step, BranchStep):
            named = [("field", step.field), *((f"cases[{j}].field", c.field) for j, c in enumerate(step.cases))]
        problems.extend(FlowProblem(f"steps[{i}].{path}", f"未知的名片字段「{key}」")
                        for path, key in named if key is not None and key not in keys)
    return problems


# The texts of a step that are said to the visitor, and so may use variables (``bot.flows.variables``).
_SAID = ("text", "prompt", "reprompt", "question", "on_fail_text")


def _unknown_variables(steps: Iterable[Step]) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    for i, step in enumerate(steps):
        for name in _SAID:
            text = getattr(step, name, None)
            names = unknown_variables(text) if isinstance(text, str) else []
            if names:
                problems.append(FlowProblem(f"steps[{i}].{name}", variable_problem(names)))
    return problems


def load_flow(data: Mapping[str, Any] | str | bytes, *, field_keys: Iterable[str] | None = None) -> Flow:
    """A flow from its JSON text or parsed dict; ``field_keys`` (the org's lead-card keys) also rejects asks for
    fields the card does not have. Raises :class:`FlowError` listing every problem with its path."""
    context = {"field_keys": list(field_keys)} if field_keys is not None else None
    try:
        if isinstance(data, str | bytes):
            return Flow.model_validate_json(data, context=context)
        return Flow.model_validate(data, context=context)
    except ValidationError as exc:
        raise FlowError.from_validation_error(exc) from exc


class FieldDef(NamedTuple):
    """An org's lead-card field as the runner needs it; the host builds these from ``leads`` field definitions."""

    type: FieldType
    options: tuple[str, ...] = ()


def resolve_field(key: str, fields: Mapping[str, FieldDef] | None = None, *, type: FieldType | None = None,
                  options: Iterable[str] = ()) -> FieldDef:
    """The type and options an answer for ``key`` is read with: the step's own (``type``, ``options``), else the
    org's field definition, else the built-in card field's, else free text."""
    org = (fields or {}).get(key)
    kind = type or (org.type if org else None) or BUILTIN_FIELD_TYPES.get(key, "text")
    opts = tuple(options) or (org.options if org else ()) or BUILTIN_FIELD_OPTIONS.get(key, ())
    return FieldDef(kind, opts)
