"""Proactive invitations (主动邀请): sending one to a visitor's widget, the visitor's reply taking it up, the
auto-invite rules an admin edits, and each rule's counts (sent, accepted, turned into leads).

An invitation reaches the widget as the ``visitor.invited`` event on the contact's topic: the hub of whichever
instance holds the visitor's socket turns it into an ``invite`` frame (docs/protocol.md). Only a visitor whose
widget socket is open can be invited — the socket is what made them a contact (docs/protocol.md, "Visitor
identity"); a visitor known only from page views has no contact yet and nothing to show the invitation in.
Nothing is stored in a conversation until the visitor replies: an invitation nobody answers leaves no empty
conversation behind (and no unanswered chat in anyone's list).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.leads import service as leads_service
from edudesk.localtime import local_midnight, local_today
from edudesk.routing import service as routing_service
from edudesk.visitors.invitation_models import Invitation, InviteRule
from edudesk.visitors.invite_rules import SOURCE_KINDS, RuleSpec

INVITED = "visitor.invited"
# A reply later than this after the invitation is an ordinary message (the invitation was forgotten).
REPLY_WINDOW = dt.timedelta(minutes=30)
MAX_TEXT = 500
MAX_RULES = 50
BOT_NAME = "智能助手"
WITH_HUMAN = ("queued", "assigned")


class InviteError(DomainError):
    pass


class AlreadyTalking(InviteError):
    status_code = 409


def clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise InviteError("empty", "请填写邀请语", "message")
    if len(text) > MAX_TEXT:
        raise InviteError("too_long", f"邀请语不能超过 {MAX_TEXT} 个字", "message")
    return text


def with_human(session: Session, org_id: int, contact_id: int) -> Any:
    """The contact's open conversation when a person has it (waiting for or with an agent), else None."""
    conv = conversations_service.current_for_contact(session, org_id, contact_id)
    return conv if conv is not None and conv.state.value in WITH_HUMAN else None


def sent_today(session: Session, org_id: int, visitor_key: str, now: dt.datetime | None = None) -> int:
    since = local_midnight(local_today(now))
    return int(session.scalar(select(func.count()).select_from(Invitation).where(
        Invitation.org_id == org_id, Invitation.visitor_key == visitor_key, Invitation.sent_at >= since)) or 0)


def send(session: Session, org_id: int, *, visitor_key: str, contact_id: int, text: str, speaker_name: str,
         view_key: str = "", page_url: str = "", agent_id: int | None = None, group_id: int | None = None,
         rule_id: int | None = None, sent_by_id: int | None = None, now: dt.datetime | None = None) -> Invitation:
    """Stores the invitation and, with the commit, shows it in the visitor's widget (every tab)."""
    contacts_service.get(session, org_id, contact_id)  # the contact is this org's
    inv = Invitation(org_id=org_id, rule_id=rule_id, visitor_key=visitor_key[:64], contact_id=contact_id,
                     view_key=view_key[:24], page_url=page_url[:1000], text=clean_text(text),
                     speaker_name=speaker_name[:60] or BOT_NAME, agent_id=agent_id, group_id=group_id,
                     sent_by_id=sent_by_id, sent_at=now or utcnow())
    session.add(inv)
    session.flush()
    events.record(session, events.DomainEvent(
        INVITED, org_id,
        {"invitation_id": inv.id, "text": inv.text, "agent": {"name": inv.speaker_name},
         "sent_at": inv.sent_at.isoformat(), "visitor_key": inv.visitor_key},
        topics=(events.contact_topic(contact_id),)))
    return inv


def invite_by_agent(session: Session, user: Any, *, visitor_key: str, contact_id: int | None, text: str,
                    view_key: str = "", page_url: str = "") -> Invitation:
    """An agent's 邀请 on the live list: the widget opens with their words under their name; the reply is theirs."""
    if contact_id is None:
        raise InviteError("not_connected", "该访客的在线咨询窗口未连接，暂时无法邀请")
    busy = with_human(session, user.org_id, contact_id)
    if busy is not None:
        raise AlreadyTalking("already_talking", "该访客已在和客服对话，无需邀请")
    inv = send(session, user.org_id, visitor_key=visitor_key, contact_id=contact_id, text=text,
               speaker_name=user.display_name, view_key=view_key, page_url=page_url, agent_id=user.id,
               sent_by_id=user.id)
    audit_service.record(session, audit_service.Actor(org_id=user.org_id, user_id=user.id), "visitor.invite",
                         "contact", contact_id, invitation_id=inv.id)
    return inv


def take_up(session: Session, org_id: int, contact_id: int, invitation_id: int, now: dt.datetime | None = None
            ) -> Invitation | None:
    """The visitor is about to send a message written under the invitation ``invitation_id``: if it is theirs,
    not answered yet and within ``REPLY_WINDOW``, it is accepted, its words become the conversation's first message,
    and the conversation goes to whom it spoke for (the agent at once; a group's queue; or the bot). Call before
    storing the message, in its transaction, so the bot never answers a reply meant for an agent. Anything else
    (another visitor's id, an old or answered invitation) is ignored: the message is stored as usual."""
    now = now or utcnow()
    inv = session.scalars(
        org_query(Invitation, org_id).where(Invitation.id == invitation_id, Invitation.contact_id == contact_id,
                                            Invitation.accepted_at.is_(None),
                                            Invitation.sent_at >= now - REPLY_WINDOW)).first()
    if inv is None:
        return None
    inv.accepted_at = now
    conv = conversations_service.current_for_contact(session, org_id, contact_id)
    if conv is not None and conv.state.value in WITH_HUMAN:
        inv.conversation_id = conv.id  # a colleague got there first: theirs it stays
        return inv
    if conv is None:
        inv.first_conversation = not conversations_service.history_for_contact(session, org_id, contact_id, 1)
        contact = contacts_service.get(session, org_id, contact_id)
        conv = conversations_service.open_conversation(session, contact, "web", page_url=inv.page_url or None)
    inv.conversation_id = conv.id
    agent = _active_agent(session, org_id, inv.agent_id)
    if agent is not None:
        try:
            with session.begin_nested():
                conversations_service.send_agent_message(session, agent, conv.id, inv.text, max_chars=MAX_TEXT)
            return inv
        except DomainError:
            # The agent is at their maximum now: the visitor's message must still be stored, so the invitation
            # is posted under the agent's name and the conversation waits in the queue for whoever is free.
            pass
    conversations_service.post_message(session, conv, conversations_service.SenderKind.bot, inv.text,
                                       sender_name=inv.speaker_name, extra={"kind": "invitation"})
    if inv.group_id is not None or agent is not None:
        conversations_service.requeue(session, conv, group_id=inv.group_id, text="正在为您接通老师，请稍候～")
    return inv


def _active_agent(session: Session, org_id: int, agent_id: int | None) -> Any:
    if agent_id is None:
        return None
    try:
        user = auth_service.get_user(session, org_id, agent_id)
    except NotFoundError:
        return None
    return user if user.is_active else None


# --- rules ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleForm:
    """A rule as the admin typed it (strings), checked by ``save_rule``."""

    name: str = ""
    enabled: bool = True
    url_pattern: str = ""
    min_seconds: str = "0"
    source_kind: str = ""
    campaign: str = ""
    keyword: str = ""
    business_hours_only: bool = False
    max_per_day: str = "1"
    message: str = ""
    speaker: str = "bot"  # "agent:<id>", "group:<id>" or "bot"
    bot_name: str = ""


def _int(raw: str, field: str, low: int, high: int, label: str) -> int:
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InviteError("bad_number", f"{label}须为 {low}–{high} 的整数", field)
    return int(raw)


def _speaker(session: Session, org_id: int, raw: str) -> tuple[int | None, int | None]:
    """``agent:<id>`` / ``group:<id>`` / ``bot``. Another org's id is a 404 (``NotFoundError``), as everywhere."""
    kind, _, ident = raw.partition(":")
    if kind == "bot":
        return None, None
    if kind in ("agent", "group") and ident.isascii() and ident.isdigit() and len(ident) < 10:
        if kind == "agent":
            return auth_service.get_user(session, org_id, int(ident)).id, None
        if not any(g.id == int(ident) for g in routing_service.list_groups(session, org_id)):
            raise NotFoundError("skill group", int(ident))
        return None, int(ident)
    raise InviteError("bad_speaker", "请选择以谁的名义邀请", "speaker")


def save_rule(session: Session, actor: audit_service.Actor, form: RuleForm, rule_id: int | None = None
              ) -> InviteRule:
    org_id = actor.org_id
    name = form.name.strip()
    if not name:
        raise InviteError("empty", "请填写规则名称", "name")
    if len(name) > 60:
        raise InviteError("too_long", "规则名称不能超过 60 个字", "name")
    pattern = form.url_pattern.strip()
    if len(pattern) > 300:
        raise InviteError("too_long", "页面地址规则不能超过 300 个字符", "url_pattern")
    if form.source_kind not in ("", *SOURCE_KINDS):
        raise InviteError("bad_source", "来源类型不正确", "source_kind")
    if len(form.campaign.strip()) > 100:
        raise InviteError("too_long", "推广活动不能超过 100 个字符", "campaign")
    if len(form.keyword.strip()) > 100:
        raise InviteError("too_long", "搜索关键词不能超过 100 个字符", "keyword")
    bot_name = form.bot_name.strip()
    if len(bot_name) > 40:
        raise InviteError("too_long", "机器人名称不能超过 40 个字", "bot_name")
    values = dict(
        name=name, enabled=form.enabled, url_pattern=pattern,
        min_seconds=_int(form.min_seconds, "min_seconds", 0, 3600, "停留秒数"),
        source_kind=form.source_kind, campaign=form.campaign.strip(), keyword=form.keyword.strip(),
        business_hours_only=form.business_hours_only,
        max_per_day=_int(form.max_per_day, "max_per_day", 1, 20, "每天最多邀请次数"),
        message=clean_text(form.message), bot_name=bot_name,
    )
    agent_id, group_id = _speaker(session, org_id, form.speaker)
    if rule_id is None:
        taken = session.scalar(select(func.count()).select_from(InviteRule).where(InviteRule.org_id == org_id))
        if (taken or 0) >= MAX_RULES:
            raise InviteError("too_many", f"最多 {MAX_RULES} 条自动邀请规则", "form")
        last = session.scalar(select(func.max(InviteRule.position)).where(InviteRule.org_id == org_id))
        rule = InviteRule(org_id=org_id, position=(last or 0) + 1, **values)
        session.add(rule)
    else:
        rule = get_in_org(session, InviteRule, rule_id, org_id)
        for key, value in values.items():
            setattr(rule, key, value)
    rule.agent_id, rule.group_id = agent_id, group_id
    session.flush()
    audit_service.record(session, actor, "visitor.invite_rule.save", "invite_rule", rule.id, name=name)
    return rule


def delete_rule(session: Session, actor: audit_service.Actor, rule_id: int) -> None:
    rule = get_in_org(session, InviteRule, rule_id, actor.org_id)
    session.delete(rule)
    audit_service.record(session, actor, "visitor.invite_rule.delete", "invite_rule", rule_id, name=rule.name)


def list_rules(session: Session, org_id: int) -> list[InviteRule]:
    return list(session.scalars(org_query(InviteRule, org_id).order_by(InviteRule.position, InviteRule.id)))


def get_rule(session: Session, org_id: int, rule_id: int) -> InviteRule:
    return get_in_org(session, InviteRule, rule_id, org_id)


def spec(rule: InviteRule) -> RuleSpec:
    return RuleSpec(rule.id, rule.url_pattern, rule.min_seconds, rule.source_kind, rule.campaign, rule.keyword,
                    rule.business_hours_only, rule.max_per_day)


def speaker_name(session: Session, rule: InviteRule) -> str:
    agent = _active_agent(session, rule.org_id, rule.agent_id)
    return agent.display_name if agent is not None else (rule.bot_name or BOT_NAME)


# --- counts -----------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    sent: int = 0
    accepted: int = 0
    leads: int = 0

    @property
    def accept_rate(self) -> str:
        return f"{self.accepted / self.sent:.0%}" if self.sent else "—"


def counts(session: Session, org_id: int) -> dict[int | None, Counts]:
    """Per rule id (None: manual invitations): sent, accepted (the visitor replied), and leads (a lead exists for
    a contact whose first conversation the invitation started)."""
    out: dict[int | None, Counts] = {}
    rows = session.execute(
        select(Invitation.rule_id, func.count(), func.count(Invitation.accepted_at))
        .where(Invitation.org_id == org_id).group_by(Invitation.rule_id))
    for rule_id, sent, accepted in rows:
        out[rule_id] = Counts(int(sent), int(accepted))
    firsts = session.execute(
        select(Invitation.rule_id, Invitation.contact_id)
        .where(Invitation.org_id == org_id, Invitation.first_conversation.is_(True))).all()
    with_lead = set(leads_service.leads_for_contacts(session, org_id, [c for _, c in firsts]))
    for rule_id, contact_id in firsts:
        if contact_id in with_lead:
            out.setdefault(rule_id, Counts()).leads += 1
    return out


# --- a person's data (registered with the privacy area's registry) ----------------------------------------------

def export_invitations(session: Session, org_id: int, contact_id: int) -> list[dict[str, Any]]:
    """The invitations shown to the person, oldest first: the page they were on, the text, whether they replied."""
    rows = session.scalars(org_query(Invitation, org_id).where(Invitation.contact_id == contact_id)
                           .order_by(Invitation.sent_at, Invitation.id))
    return [{"sent_at": r.sent_at.isoformat(), "page_url": r.page_url, "text": r.text, "speaker": r.speaker_name,
             "accepted_at": r.accepted_at.isoformat() if r.accepted_at else None} for r in rows]


def erase_invitations(session: Session, org_id: int, contact_id: int) -> int:
    """Empties the person's invitations (their page, visitor key, the text that may name them) and keeps the rows,
    so each rule's sent / accepted / lead counts stay true. Never commits."""
    result = session.execute(update(Invitation).where(Invitation.org_id == org_id,
                                                      Invitation.contact_id == contact_id)
                             .values(visitor_key="", view_key="", page_url="", text="", speaker_name="")
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
