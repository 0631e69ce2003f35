"""Per-org bot configuration (welcome text, hand-over words, keyword rules) and running one bot turn."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.bot import flow_host, manners, scripts, timewords
from edudesk.bot.engine import BotDecision, BotTurn, Button
from edudesk.bot.faq import AnswerCard, FaqBot
from edudesk.bot.flows import variables as flow_variables
from edudesk.bot.models import BotConversationState, BotSettings, KeywordRule
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS, Rule
from edudesk.bot.runtime import VERSION_POLL_SECONDS, BotRuntime, OrgBot
from edudesk.bot.sensitive import DEFAULT_WORDS as DEFAULT_SENSITIVE_WORDS
from edudesk.bot.sensitive import MAX_WORD_LEN as MAX_SENSITIVE_WORD_LEN
from edudesk.bot.sensitive import MAX_WORDS as MAX_SENSITIVE_WORDS
from edudesk.bot.sensitive import SensitiveFilter, parse_words
from edudesk.catalog import service as catalog_service
from edudesk.contacts.models import Contact
from edudesk.db import Database, NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.events import DomainEvent, record
from edudesk.hours import service as hours_service
from edudesk.kb import service as kb_service
from edudesk.leads import service as leads_service
from edudesk.leads.models import ValueSource
from edudesk.localtime import local_today
from edudesk.nlp import tokenise
from edudesk.nlp.dictionary import release_free_memory
from edudesk.nlp.embedding import Embedder, shared_embedder
from edudesk.nlp.extract import Extraction, extract
from edudesk.nlp.extract import lexicon as subject_lexicon
from edudesk.nlp.matcher import FaqIndex, MatcherConfig
from edudesk.orgs import service as orgs_service
from edudesk.trials import service as trials_service

DEFAULT_WELCOME = "您好！我是智能助手，课程、价格、上课时间和试听都可以问我。需要老师时回复“转人工”即可～"
DEFAULT_FALLBACK = "抱歉，这个问题我还没学会。您可以换个说法问问，或者点“转人工”，由老师为您解答。"
MAX_TEXT = 2000
MAX_KEYWORDS = 50
HOT_QUESTIONS = 6
# A guess must share words with the page or be close in meaning; a page title alone is weak evidence.
GUESS_MIN_LEXICAL = 0.05
GUESS_MIN_SEMANTIC = 0.55
MAX_REMEMBERED_CATEGORIES = 5


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


def changed(session: Session, org_id: int, reason: str) -> None:
    """Tells every instance to rebuild this org's bot once the transaction commits."""
    record(session, DomainEvent("bot.changed", org_id, {"reason": reason}))
    orgs_service.bump_bot_version(session, org_id)


def _threshold(value: float | None, field: str) -> float | None:
    if value is not None and not 0.0 < value < 1.0:
        raise BotConfigError("out_of_range", "阈值须在 0 和 1 之间（不含），留空表示使用默认值", field)
    return value


def update_settings(session: Session, actor: audit_service.Actor, *, welcome_text: str, fallback_text: str,
                    handoff_keywords: str, max_misses: int, sensitive_words: str | None = None,
                    answer_threshold: float | None = None, suggest_threshold: float | None = None) -> BotSettings:
    welcome = _clean_text(welcome_text, "welcome_text", "欢迎语")
    fallback = _clean_text(fallback_text, "fallback_text", "兜底回复")
    words = parse_keywords(handoff_keywords, "handoff_keywords")
    if not 1 <= max_misses <= 10:
        raise BotConfigError("out_of_range", "连续未答次数须在 1–10 之间", "max_misses")
    answer = _threshold(answer_threshold, "answer_threshold")
    suggest = _threshold(suggest_threshold, "suggest_threshold")
    if answer is not None and suggest is not None and suggest >= answer:
        raise BotConfigError("out_of_range", "“您是不是想问”阈值须低于直接回答阈值", "suggest_threshold")
    sensitive = parse_words(sensitive_words or "")
    if len(sensitive) > MAX_SENSITIVE_WORDS or any(len(w) > MAX_SENSITIVE_WORD_LEN for w in sensitive):
        message = f"敏感词最多 {MAX_SENSITIVE_WORDS} 个，每个不超过 {MAX_SENSITIVE_WORD_LEN} 个字"
        raise BotConfigError("too_many", message, "sensitive_words")
    settings = get_settings(session, actor.org_id)
    settings.welcome_text, settings.fallback_text = welcome, fallback
    settings.handoff_keywords, settings.max_misses = words, max_misses
    if sensitive_words is not None:
        settings.sensitive_words = sensitive
    settings.answer_threshold, settings.suggest_threshold = answer, suggest
    audit_service.record(session, actor, "bot.settings", "bot_settings", settings.id)
    changed(session, actor.org_id, "settings")
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
    changed(session, actor.org_id, "rule")
    return rule


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    rule = get_in_org(session, KeywordRule, rule_id, actor.org_id)
    audit_service.record(session, actor, "bot.rule.delete", "bot_rule", rule.id, keywords=rule.keywords,
                         reply=rule.reply)
    session.delete(rule)
    changed(session, actor.org_id, "rule")


def build_org_bot(session: Session, org_id: int, generation: int, today: dt.date, *,
                  embedder: Callable[[], Embedder | None]) -> OrgBot:
    """Everything one org's bot needs per turn, read from the database once: see ``bot.runtime``."""
    started = time.monotonic()
    version = orgs_service.bot_version(session, org_id)
    settings = get_settings(session, org_id)
    rules = [Rule(tuple(r.keywords), r.reply) for r in list_rules(session, org_id) if r.enabled]
    documents = kb_service.active_documents(session, org_id, today)
    contents = kb_service.answer_contents(session, org_id, [d.entry_id for d in documents], today)
    cards = {
        d.entry_id: AnswerCard(
            entry_id=d.entry_id, question=d.question, answer=c.answer, category=d.category, images=tuple(c.images),
            buttons=tuple(Button(b["label"], b["payload"]) for b in c.buttons), related=tuple(c.related))
        for d in documents if (c := contents.get(d.entry_id)) is not None
    }
    matcher: FaqIndex | None = None
    loading = time.monotonic()
    model = embedder() if documents else None
    # Loading the embedding model happens once per process: it does not make this org's bot slow to build.
    started += time.monotonic() - loading
    if documents:
        config = matcher_config(settings, embeddings=model is not None)
        matcher = FaqIndex.build(documents, model, config)
    engine = FaqBot(matcher=matcher, cards=cards, rules=rules, handoff_keywords=settings.handoff_keywords,
                    fallback_text=settings.fallback_text, max_misses=settings.max_misses,
                    sensitive=SensitiveFilter((*DEFAULT_SENSITIVE_WORDS, *(settings.sensitive_words or ()))))
    hot = tuple(kb_service.hot_questions(session, org_id, HOT_QUESTIONS, today))
    flows = scripts.enabled_flows(session, org_id)
    return OrgBot(org_id=org_id, engine=engine, welcome_text=settings.welcome_text, hot_questions=hot, flows=flows,
                  hours=hours_service.schedule_for(session, org_id),
                  lexicon=subject_lexicon(catalog_service.subject_terms(session, org_id)),
                  generation=generation, version=version, day=today, uses_embeddings=model is not None,
                  questions_indexed=sum(1 + len(d.similar) for d in documents),
                  build_seconds=time.monotonic() - started)


def matcher_defaults(*, embeddings: bool) -> dict[str, float]:
    """The calibrated thresholds an org uses unless it sets its own (with or without the embedding model)."""
    answer, suggest = MatcherConfig().thresholds(embeddings)
    return {"answer_threshold": answer, "suggest_threshold": suggest}


def matcher_config(settings: BotSettings, *, embeddings: bool) -> MatcherConfig:
    """The matcher's calibrated defaults, with this org's own thresholds where it set them.

    An org sets one pair of thresholds for the mode it runs in; "did you mean" never starts above "answer"."""
    config = MatcherConfig()
    if settings.answer_threshold is None and settings.suggest_threshold is None:
        return config
    default_answer, default_suggest = config.thresholds(embeddings)
    answer = settings.answer_threshold if settings.answer_threshold is not None else default_answer
    suggest = min(settings.suggest_threshold if settings.suggest_threshold is not None else default_suggest, answer)
    if embeddings:
        return replace(config, answer_threshold=answer, suggest_threshold=suggest)
    return replace(config, bm25_only_answer_threshold=answer, bm25_only_suggest_threshold=suggest)


def load_org_bot(session: Session, org_id: int) -> OrgBot:
    """An org's bot built now and not kept: for callers without a ``BotRuntime`` (CLI, scripts, tests)."""
    return build_org_bot(session, org_id, 0, local_today(), embedder=shared_embedder)


def make_runtime(db: Database, *, poll_seconds: float = VERSION_POLL_SECONDS) -> BotRuntime:
    """The per-process cache of org bots (the app factory makes one; tests and scripts may make their own)."""
    return BotRuntime(db, functools.partial(build_org_bot, embedder=shared_embedder), orgs_service.bot_version,
                      poll_seconds=poll_seconds)


def warm_up(*, name_model: bool = False) -> None:
    """Loads what every turn needs (the embedding model, the jieba dictionary, the extraction rules and, when
    enabled, the name tagger) ahead of the first visitor, so nobody's question waits for a model to load."""
    shared_embedder()
    tokenise.warm_up()
    for text in ("我叫王小明，孩子三年级", "学费多少？", "电话 138 0013 8000，在杭州西湖区"):
        extract(text, use_model=name_model)
    release_free_memory()  # loading leaves tens of MB of freed transients in the C heap: back to the system


def guesses(org_bot: OrgBot, *, page_title: str | None, categories: Sequence[str], limit: int = 4) -> list[str]:
    """"猜你所想": questions chosen from the page the visitor is on and the categories they asked about."""
    matcher = org_bot.engine.matcher
    context = " ".join(filter(None, [page_title or "", *categories[-2:]]))
    if matcher is None or not context.strip():
        return []
    hot = set(org_bot.hot_questions)
    related = [c for c in matcher.suggest_for(context, limit + len(hot))
               if c.lexical >= GUESS_MIN_LEXICAL or c.semantic >= GUESS_MIN_SEMANTIC]
    return [c.question for c in related if c.question not in hot][:limit]


@dataclass(frozen=True)
class KnownState:
    """The bot state of a conversation as a caller already read it (``None``: it has none yet), so a turn need not
    read it again; ignored for any other conversation."""

    conversation_id: int
    state: BotConversationState | None


def _stored_state(session: Session, org_id: int, conversation_id: int) -> BotConversationState | None:
    return session.scalars(select(BotConversationState).where(
        BotConversationState.org_id == org_id, BotConversationState.conversation_id == conversation_id)).first()


def _state(session: Session, org_id: int, conversation_id: int, known: KnownState | None = None
           ) -> BotConversationState:
    if known is not None and known.conversation_id == conversation_id:
        state = known.state
    else:
        state = _stored_state(session, org_id, conversation_id)
    if state is None:
        state = BotConversationState(org_id=org_id, conversation_id=conversation_id, misses=0)
        session.add(state)
    return state


def _trial_callbacks(session: Session, org_id: int, contact: Contact, known: dict[str, Any]
                     ) -> tuple[flow_host.TrialOffer, flow_host.TrialBook]:
    """What a script's offer_trial step needs from the trials area: sessions as buttons, and booking a click."""
    subject = known.get("subject")
    guess = "、".join(subject) if isinstance(subject, list) else (str(subject) if subject else None)

    def offer(course: str | None) -> tuple[Button, ...]:
        if leads_service.lead_for_contact(session, org_id, contact.id) is None:
            return ()  # a booking needs a lead: the scripts ask for the phone first
        return tuple(Button(b.label, b.payload) for b in trials_service.offer_buttons(
            session, org_id, course_text=course or guess, fallback_to_all=course is None))

    def book(text: str) -> flow_host.TrialPick | None:
        if trials_service.picked_session(text) is None:
            return None
        lead = leads_service.lead_for_contact(session, org_id, contact.id)
        if lead is None:
            return flow_host.TrialPick(False, "请先留下联系电话，我们再为您预约试听～")
        try:
            booking = trials_service.book_from_payload(session, org_id, text, lead.id)
        except NotFoundError:
            return flow_host.TrialPick(False, "这个时间已失效，请重新选择～")
        except DomainError as exc:
            if exc.code == "already_booked":
                return flow_host.TrialPick(True, "您已经预约过这节试听课啦～")
            return flow_host.TrialPick(False, exc.message)
        return flow_host.TrialPick(True, trials_service.booked_text(session, org_id, booking))

    return offer, book


def opens_with_script(org_bot: OrgBot) -> bool:
    """Whether opening the chat window may start a script (so the widget's "opened" costs nothing otherwise)."""
    return any(t.kind in ("widget_opened", "off_hours") for f in org_bot.flows if f.enabled for t in f.triggers)


def on_widget_opened(session: Session, org_bot: OrgBot, conversation_id: int, contact: Contact, *,
                     channel: str = "") -> BotDecision | None:
    """Starts the org's greeting script when the visitor opens the chat window (see flow_host.on_widget_opened)."""
    org_id = org_bot.org_id
    state = _state(session, org_id, conversation_id)
    known = leads_service.known_values(session, org_id, contact.id)
    offer_trial, _ = _trial_callbacks(session, org_id, contact, known)
    hosted = flow_host.on_widget_opened(
        org_bot.flows, state=state.flow_state, done=state.flows_done or [], known=known,
        has_contact=bool(known.get("phone") or known.get("wechat")), off_hours=not org_bot.hours.is_open(utcnow()),
        offer_trial=offer_trial)
    if hosted is None:
        return None
    state.flow_state = hosted.state
    state.flows_done = hosted.done
    return _said(state, _rendered(hosted.decision, org_bot, utcnow()))


def _rendered(decision: BotDecision, org_bot: OrgBot, now: dt.datetime) -> BotDecision:
    """A script's lines with their variables filled in from the org's business hours at ``now``
    (``bot.flows.variables``: "老师{reply_time}联系您" → "老师明天上午 8:00上班后联系您")."""
    if not any(r.extra.get("flow") is not None and "{" in r.text for r in decision.replies):
        return decision
    values = timewords.variables(org_bot.hours, now)
    replies = tuple(replace(r, text=flow_variables.render(r.text, values)) if r.extra.get("flow") is not None
                    else r for r in decision.replies)
    return replace(decision, replies=replies)


def _said(state: BotConversationState, decision: BotDecision) -> BotDecision:
    """The decision without a sentence the bot said in its previous turn (``bot.manners``), remembered for the
    next turn."""
    replies, said = manners.vary(decision.replies, state.said or [])
    if said != (state.said or []):
        state.said = said
    return replace(decision, replies=replies) if replies != decision.replies else decision


def conversation_categories(session: Session, org_id: int, conversation_id: int) -> list[str]:
    state = _stored_state(session, org_id, conversation_id)
    return list(state.categories or []) if state else []


def respond(session: Session, org_bot: OrgBot, conversation_id: int, text: str, *, message_id: int | None = None,
            page_title: str | None = None, facts: tuple[tuple[str, str, str], ...] = (),
            contact: Contact | None = None, extraction: Extraction | None = None, channel: str = "",
            known_state: KnownState | None = None) -> BotDecision:
    """Runs one bot turn — a bot script when one runs or its trigger fires, else the FAQ — remembers whether it
    was understood, writes script answers onto the lead card and logs what the knowledge base lacked."""
    org_id = org_bot.org_id
    state = _state(session, org_id, conversation_id, known_state)
    turn = BotTurn(org_id=org_id, conversation_id=conversation_id, text=text, misses_before=state.misses or 0,
                   page_title=page_title, facts=facts)
    now = utcnow()
    if org_bot.flows and contact is not None:
        state.turns = (state.turns or 0) + 1  # counted only where a script may trigger on it: one write less
        known = leads_service.known_values(session, org_id, contact.id)
        offer_trial, book_trial = _trial_callbacks(session, org_id, contact, known)
        hosted = flow_host.run_turn(org_bot.engine, org_bot.flows, turn, state=state.flow_state,
                                    done=state.flows_done or [], known=known, extraction=extraction,
                                    turns=state.turns, has_contact=bool(known.get("phone") or known.get("wechat")),
                                    off_hours=not org_bot.hours.is_open(now),
                                    offer_trial=offer_trial, book_trial=book_trial,
                                    signals=leads_service.message_signals)
        decision = _rendered(hosted.decision, org_bot, now)
        state.flow_state = None if decision.handoff else hosted.state
        state.flows_done = hosted.done
        if hosted.captured:
            leads_service.record_values(session, contact, hosted.captured, source=ValueSource.flow,
                                        channel=channel,
                                        conversation_id=conversation_id, message_id=message_id)
    elif (flow_key := flow_host.flow_key_of(text)) is not None:
        decision = flow_host.unavailable(flow_key)  # no enabled script at all: none of that key
    else:
        decision = org_bot.engine.respond(turn)
    decision = _said(state, decision)
    state.misses = 0 if decision.understood else (state.misses or 0) + 1
    answered = ((decision.entry_id, decision.category), *decision.more_answers) \
        if decision.entry_id is not None else ()
    for entry_id, category in answered:  # several for a message of several questions (``bot.multi``)
        kb_service.record_answer(session, org_id, entry_id)
        if category:
            asked = [c for c in (state.categories or []) if c != category]
            state.categories = [*asked, category][-MAX_REMEMBERED_CATEGORIES:]
    if decision.miss_reason is not None:
        kb_service.record_miss(session, org_id, query=text, reason=decision.miss_reason,
                               conversation_id=conversation_id, message_id=message_id)
    for part, reason in decision.part_misses:  # the questions of such a message left unanswered, each on its own
        kb_service.record_miss(session, org_id, query=part, reason=reason, conversation_id=conversation_id,
                               message_id=message_id)
    return decision


def understood(session: Session, org_id: int, conversation_id: int) -> None:
    """The orchestrator answered a question the bot could not (a grounded answer from the org's documents,
    docs/llm.md): the turn no longer counts towards the misses that hand the conversation over."""
    state = _stored_state(session, org_id, conversation_id)
    if state is not None and state.misses:
        state.misses = max(state.misses - 1, 0)


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------

def states_of_conversations(session: Session, org_id: int, conversation_ids: list[int]) -> list[dict[str, Any]]:
    """What the bot remembers per conversation: the running script's answers so far, the scripts done and what the
    bot said last (it may quote the visitor's facts: "已为您记下（年级：三年级）")."""
    rows = session.scalars(select(BotConversationState).where(
        BotConversationState.org_id == org_id, BotConversationState.conversation_id.in_(conversation_ids or [-1])))
    return [{"conversation_id": r.conversation_id, "flow_state": r.flow_state, "flows_done": r.flows_done,
             "turns": r.turns, "said": r.said or []} for r in rows]


def forget_conversations(session: Session, org_id: int, conversation_ids: list[int]) -> int:
    if not conversation_ids:
        return 0
    gone = session.execute(delete(BotConversationState).where(
        BotConversationState.org_id == org_id, BotConversationState.conversation_id.in_(conversation_ids)))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def categories_of_conversations(session: Session, org_id: int, conversation_ids: list[int]) -> list[str]:
    """The FAQ categories the bot answered from in these conversations, each once (the visitor profile)."""
    rows = session.scalars(select(BotConversationState.categories).where(
        BotConversationState.org_id == org_id, BotConversationState.conversation_id.in_(conversation_ids or [-1])))
    return list(dict.fromkeys(c for cats in rows for c in (cats or []) if c))
