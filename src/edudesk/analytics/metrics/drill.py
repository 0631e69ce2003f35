"""Drill-down lists: the conversations, leads, tickets or agents behind a figure, selected by the very conditions the
figure counted (``common.*_conditions``), so a list's total is the figure's count. Rows link to the existing
pages (the console's conversation, the contact page, the ticket); phone numbers are masked unless the caller may
see them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.analytics.metrics import common as m
from edudesk.analytics.metrics import people
from edudesk.analytics.models import ConversationFact, LeadFact, TicketFact
from edudesk.analytics.shapes import N_, Column, DrillKind, DrillPage, FilterError, Filters, Row
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.conversations.states import STATE_LABELS, ConversationState
from edudesk.leads.models import Lead
from edudesk.localtime import local_text
from edudesk.tickets.models import Ticket

MAX_PER_PAGE = 200
TITLES = {"conversations": N_("会话明细"), "leads": N_("线索明细"), "tickets": N_("工单明细"), "agents": N_("客服明细")}
TICKET_STATUS = {"new": "新建", "open": "处理中", "pending": "等待回复", "solved": "已解决", "closed": "已关闭"}

CONVERSATION_COLUMNS = (
    Column("id", "会话"), Column("started", "开始时间"), Column("contact", "访客"), Column("phone", "手机号"),
    Column("channel", "渠道"), Column("source", "来源"), Column("agent", "客服"), Column("state", "状态"),
    Column("visitor_messages", "访客消息", "count"), Column("first_response", "首次响应", "seconds"),
    Column("handling", "处理时长", "seconds"), Column("csat", "评分", "score"),
)
LEAD_COLUMNS = (
    Column("id", "线索"), Column("created", "创建时间"), Column("contact", "姓名"), Column("phone", "手机号"),
    Column("channel", "渠道"), Column("source", "来源"), Column("campaign", "推广活动"), Column("level", "等级"),
    Column("has_contact", "已留资"), Column("booked", "已约试听"), Column("attended", "已到课"),
    Column("enrolled", "已报名"),
)
TICKET_COLUMNS = (
    Column("id", "工单"), Column("created", "创建时间"), Column("subject", "主题"), Column("status", "状态"),
    Column("channel", "渠道"), Column("group", "技能组"), Column("agent", "处理人"),
    Column("first_response", "首次响应 SLA"), Column("resolution", "解决 SLA"),
)


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _sla(met: bool, missed: bool) -> str:
    return N_("超时") if missed else (N_("达标") if met else "—")


def _phones(session: Session, org_id: int, contact_ids: set[int], mask: bool) -> dict[int, str]:
    found: dict[int, str] = {}
    if not contact_ids:
        return found
    for contact_id, phone in session.execute(select(Contact.id, Contact.phone).where(
            Contact.org_id == org_id, Contact.id.in_(contact_ids))):
        if phone:
            found[contact_id] = phone
    for contact_id, phone in session.execute(select(Lead.contact_id, Lead.phone_e164).where(
            Lead.org_id == org_id, Lead.contact_id.in_(contact_ids))):
        if phone and contact_id not in found:
            found[contact_id] = phone
    if mask:
        return {k: contacts_service.mask_phone(v) or "" for k, v in found.items()}
    return found


def _page(session: Session, model: Any, conds: list[Any], order: list[Any], page: int, per_page: int
          ) -> tuple[int, list[Any]]:
    total = int(session.scalar(select(func.count()).select_from(model).where(*conds)) or 0)
    rows = list(session.scalars(select(model).where(*conds).order_by(*order)
                                .offset((page - 1) * per_page).limit(per_page)))
    return total, rows


def _conversations(session: Session, org_id: int, filters: Filters, params: Mapping[str, str], page: int,
                   per_page: int, mask: bool) -> tuple[int, list[Row]]:
    f = ConversationFact
    total, facts = _page(session, f, m.conversation_conditions(org_id, filters, params),
                         [f.started_at.desc(), f.conversation_id.desc()], page, per_page)
    contacts = {x.contact_id for x in facts}
    names = contacts_service.display_names(session, org_id, contacts)
    phones = _phones(session, org_id, contacts, mask)
    users = m.user_names(session, org_id) if facts else {}
    rows = []
    for x in facts:
        state = ConversationState(x.state) if x.state in ConversationState.__members__ else None
        rows.append(Row({
            "id": x.conversation_id, "started": local_text(x.started_at), "contact": names.get(x.contact_id, ""),
            "phone": phones.get(x.contact_id, ""), "channel": m.label(m.CHANNEL_LABELS, x.channel, ""),
            "source": m.label(m.SOURCE_LABELS, x.source, ""), "agent": m.label(users, x.agent_id, "—"),
            "state": STATE_LABELS[state] if state else x.state, "visitor_messages": x.visitor_messages,
            "first_response": x.first_response_seconds, "handling": x.handling_seconds,
            "csat": round(1 + 4 * x.csat_value, 2) if x.csat_value is not None else None,
        }, href=f"/console/c/{x.conversation_id}"))
    return total, rows


def _leads(session: Session, org_id: int, filters: Filters, params: Mapping[str, str], page: int, per_page: int,
           mask: bool) -> tuple[int, list[Row]]:
    f = LeadFact
    total, facts = _page(session, f, m.lead_conditions(org_id, filters, params),
                         [f.created_at.desc(), f.lead_id.desc()], page, per_page)
    contacts = {x.contact_id for x in facts}
    names = contacts_service.display_names(session, org_id, contacts)
    phones = _phones(session, org_id, contacts, mask)
    campaigns = m.campaign_names(session, org_id) if facts else {}
    rows = [Row({
        "id": x.lead_id, "created": local_text(x.created_at), "contact": names.get(x.contact_id, ""),
        "phone": phones.get(x.contact_id, ""), "channel": m.label(m.CHANNEL_LABELS, x.channel, ""),
        "source": m.label(m.SOURCE_LABELS, x.source, ""), "campaign": m.label(campaigns, x.campaign_id, "—"),
        "level": x.level, "has_contact": _yes(x.has_contact), "booked": _yes(x.booked),
        "attended": _yes(x.attended), "enrolled": _yes(x.enrolled),
    }, href=f"/contacts/{x.contact_id}") for x in facts]
    return total, rows


def _tickets(session: Session, org_id: int, filters: Filters, params: Mapping[str, str], page: int,
             per_page: int) -> tuple[int, list[Row]]:
    f = TicketFact
    total, facts = _page(session, f, m.ticket_conditions(org_id, filters, params), [f.ticket_id.desc()], page,
                         per_page)
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(
        Ticket.org_id == org_id, Ticket.id.in_([x.ticket_id for x in facts])))} if facts else {}
    users = m.user_names(session, org_id) if facts else {}
    groups = m.group_names(session, org_id) if facts else {}
    rows = []
    for x in facts:
        t = tickets.get(x.ticket_id)
        status = str(getattr(t.status, "value", t.status)) if t is not None else ""
        rows.append(Row({
            "id": x.ticket_id, "created": local_text(t.created_at) if t is not None else "",
            "subject": t.subject if t is not None else "", "status": TICKET_STATUS.get(status, status),
            "channel": m.label(m.CHANNEL_LABELS, x.channel, ""), "group": m.label(groups, x.group_id, "未分组"),
            "agent": m.label(users, x.agent_id, "—"),
            "first_response": _sla(x.first_response_met, x.first_response_missed),
            "resolution": _sla(x.resolution_met, x.resolution_missed),
        }, href=f"/tickets/{x.ticket_id}"))
    return total, rows


def _agents(session: Session, org_id: int, filters: Filters, params: Mapping[str, str], page: int,
            per_page: int) -> tuple[int, list[Row]]:
    narrowed, _ = m.narrowed(filters, params)
    m.subset("agents", params)
    rows = list(people.build(session, org_id, narrowed)[1][0].rows)
    return len(rows), rows[(page - 1) * per_page:page * per_page]


def drill_page(session: Session, org_id: int, kind: str, params: Mapping[str, str], filters: Filters, page: int,
               per_page: int, *, mask_phones: bool) -> DrillPage:
    if kind not in TITLES:
        raise FilterError("kind", "未知的明细类型")
    allowed = set(m.FILTER_KEYS) | set(m.EXTRA_KEYS[kind])
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise FilterError(unknown[0], "未知的参数")
    if not isinstance(page, int) or page < 1:
        raise FilterError("page", "页码应为正整数")
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    drill_kind: DrillKind = kind  # type: ignore[assignment]
    columns: tuple[Column, ...]
    if drill_kind == "conversations":
        total, rows = _conversations(session, org_id, filters, params, page, per_page, mask_phones)
        columns = CONVERSATION_COLUMNS
    elif drill_kind == "leads":
        total, rows = _leads(session, org_id, filters, params, page, per_page, mask_phones)
        columns = LEAD_COLUMNS
    elif drill_kind == "tickets":
        total, rows = _tickets(session, org_id, filters, params, page, per_page)
        columns = TICKET_COLUMNS
    else:
        total, rows = _agents(session, org_id, filters, params, page, per_page)
        columns = people.AGENT_COLUMNS
    return DrillPage(TITLES[kind], columns, tuple(rows), total, page, per_page)
