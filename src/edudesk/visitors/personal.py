"""千人千面 rules (admin → 访客 → 千人千面): the welcome text, hot questions and 猜你所想 a visitor sees, chosen by
page, source and profile, and each rule's counters (sessions it was shown in, clicks on its suggestions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.contacts import service as contacts_service
from edudesk.db import get_in_org, org_query
from edudesk.errors import DomainError
from edudesk.visitors import patterns, personalise, trail
from edudesk.visitors.classify import SOURCE_KINDS
from edudesk.visitors.personalise import Audience, PersonalSpec
from edudesk.visitors.profile_models import PersonalRule

MAX_RULES = 50
MAX_NAME = 60
MAX_WELCOME = 500
MAX_QUESTIONS = 8
MAX_QUESTION = 100
MAX_MATCH_VALUE = 100


class PersonalError(DomainError):
    pass


@dataclass(frozen=True)
class PersonalInput:
    name: str
    priority: str | int = 100
    enabled: bool = True
    url_pattern: str = ""
    campaign: str = ""
    source_kind: str = ""
    utm_source: str = ""
    tag: str = ""
    welcome: str = ""
    hot: str = ""
    guess: str = ""


@dataclass(frozen=True)
class Personalised:
    """What the widget shows for the rule that matched: an empty welcome or list means "the org's own"."""

    rule_id: int
    welcome: str
    hot: list[str]
    guess: list[str]


def _plain(value: str, field: str, limit: int, label: str) -> str:
    text = value.strip()
    if len(text) > limit:
        raise PersonalError("too_long", f"{label}不超过 {limit} 个字符", field)
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise PersonalError("bad_text", f"{label}含有无法保存的字符", field)
    return text


def _questions(raw: str, field: str) -> list[str]:
    lines = list(dict.fromkeys(line.strip() for line in raw.splitlines() if line.strip()))
    if len(lines) > MAX_QUESTIONS:
        raise PersonalError("too_many", f"最多 {MAX_QUESTIONS} 个问题", field)
    for line in lines:
        _plain(line, field, MAX_QUESTION, "每个问题")
    return lines


def _match(data: PersonalInput) -> dict[str, str]:
    match: dict[str, str] = {}
    if data.url_pattern.strip():
        match["url_pattern"] = patterns.clean_pattern(data.url_pattern, "url_pattern")
    for key, label in (("campaign", "推广活动"), ("utm_source", "utm_source"), ("tag", "标签")):
        value = _plain(getattr(data, key), key, MAX_MATCH_VALUE, label)
        if value:
            match[key] = value
    kind = data.source_kind.strip().lower()
    if kind:
        if kind not in SOURCE_KINDS:
            raise PersonalError("bad_source", f"来源类型应为 {'、'.join(SOURCE_KINDS)} 之一", "source_kind")
        match["source_kind"] = kind
    return match


def list_rules(session: Session, org_id: int) -> list[PersonalRule]:
    return list(session.scalars(org_query(PersonalRule, org_id).order_by(PersonalRule.priority, PersonalRule.id)))


def save_rule(session: Session, actor: audit_service.Actor, rule_id: int | None, data: PersonalInput
              ) -> PersonalRule:
    org_id = actor.org_id
    name = _plain(data.name, "name", MAX_NAME, "名称")
    if not name:
        raise PersonalError("empty_name", "请填写规则名称", "name")
    try:
        priority = int(str(data.priority).strip() or "100")
    except ValueError:
        raise PersonalError("bad_priority", "优先级须为整数", "priority") from None
    if not 0 <= priority <= 10_000:
        raise PersonalError("bad_priority", "优先级在 0 到 10000 之间（越小越优先）", "priority")
    match = _match(data)
    welcome = _plain(data.welcome, "welcome", MAX_WELCOME, "欢迎语")
    hot, guess = _questions(data.hot, "hot"), _questions(data.guess, "guess")
    if not (welcome or hot or guess):
        raise PersonalError("empty_rule", "欢迎语、热门问题、猜你所想至少填写一项", "welcome")
    rows = list_rules(session, org_id)
    if any(r.name == name and r.id != rule_id for r in rows):
        raise PersonalError("duplicate", f"规则「{name}」已存在", "name")
    if rule_id is None:
        if len(rows) >= MAX_RULES:
            raise PersonalError("too_many", f"千人千面规则不超过 {MAX_RULES} 条", "name")
        row = PersonalRule(org_id=org_id, shown=0, clicked=0)
        session.add(row)
    else:
        row = get_in_org(session, PersonalRule, rule_id, org_id)
    row.name, row.priority, row.enabled, row.match = name, priority, data.enabled, match
    row.welcome, row.hot, row.guess = welcome, hot, guess
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise PersonalError("duplicate", f"规则「{name}」已存在", "name") from None
    audit_service.record(session, actor, "visitors.personal.save", "personal_rule", row.id, name=name,
                         match=match)
    return row


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    row = get_in_org(session, PersonalRule, rule_id, actor.org_id)
    audit_service.record(session, actor, "visitors.personal.delete", "personal_rule", row.id, name=row.name)
    session.delete(row)
    session.flush()


def get_rule(session: Session, org_id: int, rule_id: int) -> PersonalRule:
    return get_in_org(session, PersonalRule, rule_id, org_id)


def audience(session: Session, org_id: int, contact_id: int | None, page_url: str, referrer: str,
             visitor_key: str | None = None) -> Audience:
    """Who the visitor is for 千人千面: this page's source (the trail's classifier); when the page says nothing of it
    (a direct hit, a move inside the site), the source of their latest visit — the contact's, or before they are one
    their browser's — and the contact's tags."""
    campaign, kind, utm_source = personalise.source_of_page(page_url, referrer)
    tags: list[str] = []
    if contact_id is not None:
        tags = list(contacts_service.get(session, org_id, contact_id).tags or [])
    if kind == "direct":
        last = trail.latest_visit(session, org_id, contact_id=contact_id, visitor_key=visitor_key)
        if last is not None:
            source = last.source or {}
            campaign = last.campaign or str(source.get("utm_campaign", ""))
            kind, utm_source = last.source_kind, str(source.get("utm_source", ""))
    return Audience(page_url=page_url, campaign=campaign, source_kind=kind, utm_source=utm_source, tags=tags)


def for_session(session: Session, org_id: int, contact_id: int | None, *, page_url: str, referrer: str,
                visitor_key: str | None = None) -> Personalised | None:
    """The rule that speaks to this visitor now, counted as shown; None when no enabled rule matches."""
    rows = [r for r in list_rules(session, org_id) if r.enabled]
    if not rows:
        return None
    who = audience(session, org_id, contact_id, page_url, referrer, visitor_key)
    chosen = personalise.choose([PersonalSpec(r.id, r.priority, r.match or {}) for r in rows], who)
    if chosen is None:
        return None
    rule = next(r for r in rows if r.id == chosen.id)
    session.execute(update(PersonalRule).where(PersonalRule.org_id == org_id, PersonalRule.id == rule.id)
                    .values(shown=PersonalRule.shown + 1).execution_options(synchronize_session=False))
    return Personalised(rule.id, rule.welcome, list(rule.hot or []), list(rule.guess or []))


def count_click(session: Session, org_id: int, rule_id: int, text: str) -> bool:
    """A visitor sent one of the rule's suggestions (its id named in the message frame): counted once per message
    when ``text`` is one of the rule's hot questions or 猜你所想; anything else is ignored (old widgets, forged
    ids, another org's rule). Returns whether it was counted."""
    rule = session.scalars(org_query(PersonalRule, org_id).where(PersonalRule.id == rule_id)).first()
    if rule is None or text.strip() not in {*(rule.hot or []), *(rule.guess or [])}:
        return False
    session.execute(update(PersonalRule).where(PersonalRule.org_id == org_id, PersonalRule.id == rule_id)
                    .values(clicked=PersonalRule.clicked + 1).execution_options(synchronize_session=False))
    return True


def report(session: Session, org_id: int) -> list[dict[str, Any]]:
    """Each rule's shown / clicked / click-through rate (clicks per session shown), highest priority first."""
    out = []
    for r in list_rules(session, org_id):
        rate = (r.clicked / r.shown) if r.shown else None
        out.append({"id": r.id, "name": r.name, "enabled": r.enabled, "shown": r.shown, "clicked": r.clicked,
                    "rate": rate})
    return out
