"""Per-org bot configuration (welcome text, hand-over words, keyword rules) and running one bot turn."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.bot.engine import BotDecision, BotEngine, BotTurn
from edudesk.bot.models import BotConversationState, BotSettings, KeywordRule
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS, Rule, RulesBot
from edudesk.db import get_in_org, org_query
from edudesk.errors import DomainError

DEFAULT_WELCOME = "您好！我是智能助手，课程、价格、上课时间和试听都可以问我。需要老师时回复“转人工”即可～"
DEFAULT_FALLBACK = "抱歉，这个问题我还没学会。您可以换个说法问问，或者点“转人工”，由老师为您解答。"
MAX_TEXT = 2000
MAX_KEYWORDS = 50


class BotConfigError(DomainError):
    pass


def get_settings(session: Session, org_id: int) -> BotSettings:
    settings = session.scalars(org_query(BotSettings, org_id)).first()
    if settings is None:
        settings = BotSettings(
            org_id=org_id,
            welcome_text=DEFAULT_WELCOME,
            fallback_text=DEFAULT_FALLBACK,
            handoff_keywords=list(DEFAULT_HANDOFF_KEYWORDS),
            max_misses=3,
        )
        session.add(settings)
        session.flush()
    return settings


def _clean_text(value: str, field: str, label: str, *, allow_empty: bool = False) -> str:
    value = value.strip()
    if not value and not allow_empty:
        raise BotConfigError("empty", f"{label}不能为空", field)
    if len(value) > MAX_TEXT:
        raise BotConfigError("too_long", f"{label}不能超过 {MAX_TEXT} 个字", field)
    return value


def parse_keywords(raw: str, field: str = "keywords") -> list[str]:
    """Keywords are entered one per line or separated by commas (半角或全角)."""
    parts = [p.strip() for chunk in raw.replace("，", ",").replace("、", ",").splitlines() for p in chunk.split(",")]
    words = list(dict.fromkeys(p for p in parts if p))
    if not words:
        raise BotConfigError("empty", "至少填写一个关键词", field)
    if len(words) > MAX_KEYWORDS:
        raise BotConfigError("too_many", f"关键词最多 {MAX_KEYWORDS} 个", field)
    if any(len(w) > 50 for w in words):
        raise BotConfigError("too_long", "单个关键词不能超过 50 个字", field)
    return words


def update_settings(session: Session, actor: audit_service.Actor, *, welcome_text: str, fallback_text: str,
                    handoff_keywords: str, max_misses: int) -> BotSettings:
    welcome = _clean_text(welcome_text, "welcome_text", "欢迎语")
    fallback = _clean_text(fallback_text, "fallback_text", "兜底回复")
    words = parse_keywords(handoff_keywords, "handoff_keywords")
    if not 1 <= max_misses <= 10:
        raise BotConfigError("out_of_range", "连续未答次数须在 1–10 之间", "max_misses")
    settings = get_settings(session, actor.org_id)
    settings.welcome_text, settings.fallback_text = welcome, fallback
    settings.handoff_keywords, settings.max_misses = words, max_misses
    audit_service.record(session, actor, "bot.settings", "bot_settings", settings.id)
    return settings


def list_rules(session: Session, org_id: int) -> list[KeywordRule]:
    return list(session.scalars(org_query(KeywordRule, org_id).order_by(KeywordRule.position, KeywordRule.id)))


def save_rule(session: Session, actor: audit_service.Actor, *, keywords: str, reply: str, label: str = "",
              enabled: bool = True, rule_id: int | None = None) -> KeywordRule:
    words = parse_keywords(keywords)
    reply = _clean_text(reply, "reply", "回复内容")
    label = label.strip()[:100]
    if rule_id is None:
        position = len(list_rules(session, actor.org_id))
        rule = KeywordRule(org_id=actor.org_id, keywords=words, reply=reply, label=label, enabled=enabled,
                           position=position)
        session.add(rule)
        session.flush()
        audit_service.record(session, actor, "bot.rule.create", "bot_rule", rule.id)
    else:
        rule = get_in_org(session, KeywordRule, rule_id, actor.org_id)
        rule.keywords, rule.reply, rule.label, rule.enabled = words, reply, label, enabled
        audit_service.record(session, actor, "bot.rule.update", "bot_rule", rule.id)
    return rule


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    rule = get_in_org(session, KeywordRule, rule_id, actor.org_id)
    audit_service.record(session, actor, "bot.rule.delete", "bot_rule", rule.id, keywords=rule.keywords,
                         reply=rule.reply)
    session.delete(rule)


def engine_for(session: Session, org_id: int) -> BotEngine:
    settings = get_settings(session, org_id)
    rules = [Rule(tuple(r.keywords), r.reply) for r in list_rules(session, org_id) if r.enabled]
    return RulesBot(rules, handoff_keywords=settings.handoff_keywords, fallback_text=settings.fallback_text,
                    max_misses=settings.max_misses)


def _state(session: Session, org_id: int, conversation_id: int) -> BotConversationState:
    state = session.scalars(
        select(BotConversationState).where(
            BotConversationState.org_id == org_id, BotConversationState.conversation_id == conversation_id
        )
    ).first()
    if state is None:
        state = BotConversationState(org_id=org_id, conversation_id=conversation_id, misses=0)
        session.add(state)
    return state


def respond(session: Session, org_id: int, conversation_id: int, text: str) -> BotDecision:
    """Runs one bot turn and remembers whether it was understood."""
    state = _state(session, org_id, conversation_id)
    decision = engine_for(session, org_id).respond(
        BotTurn(org_id=org_id, conversation_id=conversation_id, text=text, misses_before=state.misses or 0)
    )
    state.misses = 0 if decision.understood else (state.misses or 0) + 1
    return decision
