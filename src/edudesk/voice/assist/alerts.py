"""Alert rules: which words on which side of a call raise a chip for the agent, and the intent of an utterance.

Matching is pure (``match``, ``intent_of``) and runs on every final recognition of an agent's call, so it works on
a snapshot of the org's rules (``Rule``) loaded when the call starts. The words are compared after the same fold
the extractors use (full-width to half-width, case), so "ＶＩＰ" and "vip" are one word. The intent comes from the
lead grader's buying signals (asked_price, asked_trial…): one set of patterns for chats and calls alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, org_query
from edudesk.inputs import text_problem
from edudesk.leads import service as leads_service
from edudesk.nlp.extract.common import fold
from edudesk.voice.assist.models import AlertSeverity, AlertSide, CallAlertRule
from edudesk.voice.models import Speaker
from edudesk.voice.service import VoiceError

MAX_RULES = 50
MAX_WORDS = 30
MAX_WORD = 20
MAX_NAME = 16
MAX_SUGGESTION = 300

SIDE_LABELS = {"customer": "客户说", "agent": "坐席说", "either": "任一方说"}
SEVERITY_LABELS = {"info": "提示", "warning": "注意", "critical": "严重"}
INTENT_LABELS = {
    "asked_price": "问价格",
    "asked_schedule": "问上课时间",
    "enrol_intent": "想报名",
    "asked_trial": "想试听",
}


@dataclass(frozen=True)
class Default:
    name: str
    words: tuple[str, ...]
    severity: AlertSeverity
    suggestion: str
    intent: str | None = None
    side: AlertSide = AlertSide.customer


DEFAULTS = (
    Default(
        "价格",
        ("价格", "多少钱", "学费", "收费", "费用"),
        AlertSeverity.info,
        "先了解孩子的情况再报价：“我先帮您看看适合孩子的班型，再给您准确的价格。”",
        "asked_price",
    ),
    Default(
        "优惠", ("优惠", "折扣", "便宜", "活动", "打折"), AlertSeverity.info, "说明本期优惠及截止时间，邀请先来试听。"
    ),
    Default(
        "试听",
        ("试听", "体验课", "试课", "免费课"),
        AlertSeverity.info,
        "马上约试听：“这周六上午和周日下午都有试听，您看哪个时间方便？”",
        "asked_trial",
    ),
    Default(
        "投诉",
        ("投诉", "举报", "12315", "骗子", "太差"),
        AlertSeverity.critical,
        "先道歉并倾听，记下问题，承诺回复时间；需要时请班长介入。",
    ),
    Default(
        "退费",
        ("退费", "退款", "退钱", "退课"),
        AlertSeverity.critical,
        "不要当场承诺：说明退费政策，记录原因，转交班长处理。",
    ),
    Default(
        "竞品",
        ("学而思", "新东方", "猿辅导", "作业帮", "高途"),
        AlertSeverity.warning,
        "不贬低对方：讲清我们的班型、师资和试听，请家长对比。",
    ),
)


@dataclass(frozen=True)
class Rule:
    """A snapshot of one enabled rule, with its words folded for matching."""

    id: int
    name: str
    words: tuple[str, ...]
    intent: str | None
    side: AlertSide
    severity: AlertSeverity
    suggestion: str


@dataclass(frozen=True)
class Fired:
    rule: Rule
    # The word (as the admin wrote it) or the intent that fired the rule.
    because: str


def _side_of(speaker: Speaker) -> AlertSide | None:
    if speaker == Speaker.customer:
        return AlertSide.customer
    if speaker in (Speaker.agent, Speaker.supervisor):
        return AlertSide.agent
    return None  # the bot and the system prompts raise nothing


def intent_of(text: str) -> str | None:
    """The first buying signal the utterance shows (the lead grader's patterns), or None."""
    signals = leads_service.message_signals(fold(text))
    return signals[0] if signals else None


def match(rules: Iterable[Rule], speaker: Speaker, text: str, intent: str | None = None) -> list[Fired]:
    """The rules an utterance fires, each once, in the rules' order."""
    side = _side_of(speaker)
    if side is None or not text.strip():
        return []
    folded = fold(text).lower()
    fired: list[Fired] = []
    for rule in rules:
        if rule.side not in (AlertSide.either, side):
            continue
        word = next((w for w in rule.words if fold(w).lower() in folded), None)
        if word is not None:
            fired.append(Fired(rule, word))
        elif intent is not None and rule.intent == intent:
            fired.append(Fired(rule, INTENT_LABELS.get(intent, intent)))
    return fired


def _snapshot(row: CallAlertRule) -> Rule:
    return Rule(row.id, row.name, tuple(w for w in row.words if w), row.intent, row.side, row.severity, row.suggestion)


def ensure_defaults(session: Session, org_id: int) -> None:
    """An org with no rules gets the defaults (the admin page turns rules off rather than deleting the last).
    Two first calls at once may both seed: the unique name makes the second flush fail, and it retries reading."""
    if session.scalar(select(CallAlertRule.id).where(CallAlertRule.org_id == org_id).limit(1)) is not None:
        return
    try:
        with session.begin_nested():
            for position, d in enumerate(DEFAULTS):
                session.add(
                    CallAlertRule(
                        org_id=org_id,
                        name=d.name,
                        words=list(d.words),
                        intent=d.intent,
                        side=d.side,
                        severity=d.severity,
                        suggestion=d.suggestion,
                        enabled=True,
                        position=position,
                    )
                )
    except IntegrityError:
        pass


def rules_of(session: Session, org_id: int) -> list[CallAlertRule]:
    return list(session.scalars(org_query(CallAlertRule, org_id).order_by(CallAlertRule.position, CallAlertRule.id)))


def active_rules(session: Session, org_id: int) -> list[Rule]:
    """The org's enabled rules for one call (the defaults are seeded on first use)."""
    ensure_defaults(session, org_id)
    return [_snapshot(r) for r in rules_of(session, org_id) if r.enabled]


@dataclass(frozen=True)
class RuleInput:
    name: str
    words: str  # one per line, or separated by commas / 、
    side: str
    severity: str
    suggestion: str
    intent: str = ""
    enabled: bool = True


def parse_words(raw: str) -> list[str]:
    """The rule's words: split on new lines, commas (half and full width) and 、; blanks and repeats dropped."""
    for sep in (",", "，", "、", ";", "；"):
        raw = raw.replace(sep, "\n")
    out: list[str] = []
    for word in (w.strip() for w in raw.splitlines()):
        if word and word not in out:
            out.append(word)
    return out


def _clean(data: RuleInput) -> tuple[str, list[str], AlertSide, AlertSeverity, str, str | None]:
    name = data.name.strip()
    if not name:
        raise VoiceError("empty", "请填写提醒名称", "name")
    if len(name) > MAX_NAME:
        raise VoiceError("too_long", f"提醒名称不能超过 {MAX_NAME} 个字", "name")
    if text_problem(name) is not None or any(c in name for c in "<>"):
        raise VoiceError("bad_text", "提醒名称含有不允许的字符", "name")
    if len(data.words) > MAX_WORDS * (MAX_WORD + 2):
        raise VoiceError("too_long", "关键词太长", "words")
    words = parse_words(data.words)
    intent = data.intent.strip() or None
    if intent is not None and intent not in INTENT_LABELS:
        raise VoiceError("bad_intent", "未知的意图", "intent")
    if not words and intent is None:
        raise VoiceError("empty", "请至少填写一个关键词（或选择一个意图）", "words")
    if len(words) > MAX_WORDS:
        raise VoiceError("too_many", f"关键词不能超过 {MAX_WORDS} 个", "words")
    for word in words:
        if len(word) > MAX_WORD:
            raise VoiceError("too_long", f"关键词“{word[:MAX_WORD]}…”太长（不超过 {MAX_WORD} 个字）", "words")
        if text_problem(word) is not None:
            raise VoiceError("bad_text", "关键词含有不允许的字符", "words")
    try:
        side, severity = AlertSide(data.side), AlertSeverity(data.severity)
    except ValueError:
        raise VoiceError("bad_choice", "请选择说话方和严重程度", "side") from None
    suggestion = data.suggestion.strip()
    if len(suggestion) > MAX_SUGGESTION:
        raise VoiceError("too_long", f"建议话术不能超过 {MAX_SUGGESTION} 个字", "suggestion")
    if suggestion and text_problem(suggestion) is not None:
        raise VoiceError("bad_text", "建议话术含有不允许的字符", "suggestion")
    return name, words, side, severity, suggestion, intent


def _name_free(session: Session, org_id: int, name: str, except_id: int | None) -> None:
    clash = session.scalar(select(CallAlertRule.id).where(CallAlertRule.org_id == org_id, CallAlertRule.name == name))
    if clash is not None and clash != except_id:
        raise VoiceError("duplicate", "已有同名的提醒", "name")


def get_rule(session: Session, org_id: int, rule_id: int) -> CallAlertRule:
    row = session.get(CallAlertRule, rule_id)
    if row is None or row.org_id != org_id:
        raise NotFoundError("call_alert_rule", rule_id)
    return row


def create_rule(session: Session, actor: audit_service.Actor, data: RuleInput) -> CallAlertRule:
    ensure_defaults(session, actor.org_id)
    name, words, side, severity, suggestion, intent = _clean(data)
    existing = rules_of(session, actor.org_id)
    if len(existing) >= MAX_RULES:
        raise VoiceError("too_many", f"最多 {MAX_RULES} 条提醒", "name")
    _name_free(session, actor.org_id, name, None)
    row = CallAlertRule(
        org_id=actor.org_id,
        name=name,
        words=words,
        side=side,
        severity=severity,
        suggestion=suggestion,
        intent=intent,
        enabled=data.enabled,
        position=max((r.position for r in existing), default=-1) + 1,
    )
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "voice.alert_rule.create", "call_alert_rule", row.id, name=name, words=words)
    return row


def update_rule(session: Session, actor: audit_service.Actor, rule_id: int, data: RuleInput) -> CallAlertRule:
    row = get_rule(session, actor.org_id, rule_id)
    name, words, side, severity, suggestion, intent = _clean(data)
    _name_free(session, actor.org_id, name, row.id)
    row.name, row.words, row.side, row.severity = name, words, side, severity
    row.suggestion, row.intent, row.enabled = suggestion, intent, data.enabled
    session.flush()
    audit_service.record(
        session,
        actor,
        "voice.alert_rule.update",
        "call_alert_rule",
        row.id,
        name=name,
        words=words,
        enabled=data.enabled,
    )
    return row


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    row = get_rule(session, actor.org_id, rule_id)
    if len(rules_of(session, actor.org_id)) <= 1:
        raise VoiceError("last_rule", "至少保留一条提醒（不需要时可停用）", "form")
    audit_service.record(session, actor, "voice.alert_rule.delete", "call_alert_rule", row.id, name=row.name)
    session.delete(row)
    session.flush()


def as_payload(fired: Sequence[Fired]) -> list[dict[str, str]]:
    """What the console shows of each fired rule (the ``call_alert`` frame, docs/protocol.md)."""
    return [
        {"name": f.rule.name, "severity": f.rule.severity.value, "because": f.because, "suggestion": f.rule.suggestion}
        for f in fired
    ]
