"""The ticket list: filters, sorting, pages, saved views (personal or shared) and 提到我的.

A filter arrives as query parameters (the page's form, a saved view, the API) and is cleaned here once; values that
make no sense are dropped rather than answered with an error page, so an old bookmark still opens the list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, false, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, get_in_org, org_query
from edudesk.localtime import local_midnight
from edudesk.tickets.core import Editor, TicketError, TicketForbidden
from edudesk.tickets.models import (
    CommentKind,
    Ticket,
    TicketComment,
    TicketPriority,
    TicketSource,
    TicketStatus,
    TicketView,
)
from edudesk.tickets.states import FIRST_RESPONSE_RUNS, PRIORITY_RANK, RESOLUTION_RUNS

# The parameters a filter (and so a saved view) may carry.
FILTER_KEYS = ("status", "priority", "group", "assignee", "source", "sla", "since", "until", "q", "mentioned",
               "sort")
SORTS: dict[str, str] = {"-updated": "最近更新", "-created": "最新创建", "created": "最早创建",
                         "due": "解决时限最近", "priority": "优先级最高"}
SLA_FILTERS: dict[str, str] = {"breached": "已超时", "at_risk": "即将超时"}
VIEW_NAME_MAX = 100
MAX_VIEWS_PER_OWNER = 50
# "open" in a filter means every status that still needs work.
UNRESOLVED = (TicketStatus.new, TicketStatus.open, TicketStatus.pending)


@dataclass(frozen=True)
class TicketFilters:
    statuses: tuple[TicketStatus, ...] = ()
    priority: TicketPriority | None = None
    group_id: int | None = None
    assignee: str = ""  # "", "me", "unassigned" or a user id
    source: TicketSource | None = None
    sla: str = ""  # "", "breached", "at_risk"
    since: dt.date | None = None
    until: dt.date | None = None
    q: str = ""
    mentioned: bool = False
    sort: str = "-updated"
    raw: dict[str, str] = field(default_factory=dict)  # the cleaned parameters, for links and saved views


def _date(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw.strip()) if raw.strip() else None
    except ValueError:
        return None


def parse(params: Mapping[str, Any]) -> TicketFilters:
    """Cleans query parameters into filters; unknown or malformed values are ignored."""
    raw = {k: str(params.get(k) or "").strip()[:200] for k in FILTER_KEYS}
    statuses: list[TicketStatus] = []
    for part in raw["status"].split(","):
        part = part.strip()
        if part == "unresolved":
            statuses.extend(UNRESOLVED)
        elif part in TicketStatus.__members__:
            statuses.append(TicketStatus(part))
    priority = TicketPriority(raw["priority"]) if raw["priority"] in TicketPriority.__members__ else None
    source = TicketSource(raw["source"]) if raw["source"] in TicketSource.__members__ else None
    assignee = raw["assignee"] if raw["assignee"] in ("me", "unassigned") or raw["assignee"].isdigit() else ""
    cleaned = {
        "status": raw["status"] if statuses else "",
        "priority": priority.value if priority else "",
        "group": raw["group"] if raw["group"].isdigit() else "",
        "assignee": assignee,
        "source": source.value if source else "",
        "sla": raw["sla"] if raw["sla"] in SLA_FILTERS else "",
        "since": raw["since"] if _date(raw["since"]) else "",
        "until": raw["until"] if _date(raw["until"]) else "",
        "q": raw["q"],
        "mentioned": "me" if raw["mentioned"] in ("me", "1", "true") else "",
        "sort": raw["sort"] if raw["sort"] in SORTS else "",
    }
    return TicketFilters(
        statuses=tuple(dict.fromkeys(statuses)), priority=priority,
        group_id=int(raw["group"]) if cleaned["group"] else None, assignee=assignee, source=source,
        sla=cleaned["sla"], since=_date(cleaned["since"]), until=_date(cleaned["until"]), q=cleaned["q"],
        mentioned=bool(cleaned["mentioned"]), sort=cleaned["sort"] or "-updated",
        raw={k: v for k, v in cleaned.items() if v},
    )


def _mentions(session: Session, user_id: int) -> ColumnElement[bool]:
    """Tickets with a note that mentions ``user_id``. ``mentions`` is a JSON list: containment on PostgreSQL,
    ``json_each`` on SQLite (both exact on the number, unlike a text match)."""
    if session.get_bind().dialect.name == "postgresql":
        term = TicketComment.mentions.cast(JSONB).contains([user_id])
    else:
        each = func.json_each(TicketComment.mentions).table_valued("value")
        term = exists(select(1).select_from(each).where(each.c.value == user_id))
    return exists(select(TicketComment.id).where(
        TicketComment.org_id == Ticket.org_id, TicketComment.ticket_id == Ticket.id,
        TicketComment.kind == CommentKind.note, term))


def _sla_term(kind: str) -> ColumnElement[bool]:
    if kind == "breached":
        return or_(Ticket.first_response_breached_at.is_not(None), Ticket.resolution_breached_at.is_not(None))
    return and_(
        Ticket.first_response_breached_at.is_(None), Ticket.resolution_breached_at.is_(None),
        or_(and_(Ticket.first_response_warned.is_(True), Ticket.first_responded_at.is_(None),
                 Ticket.status.in_(FIRST_RESPONSE_RUNS)),
            and_(Ticket.resolution_warned.is_(True), Ticket.status.in_(RESOLUTION_RUNS))))


def statement(session: Session, org_id: int, filters: TicketFilters, *, me: int | None) -> Select[Ticket]:
    stmt = org_query(Ticket, org_id)
    if filters.statuses:
        stmt = stmt.where(Ticket.status.in_(filters.statuses))
    if filters.priority is not None:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.group_id is not None:
        stmt = stmt.where(Ticket.group_id == filters.group_id)
    if filters.assignee == "unassigned":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif filters.assignee == "me":
        stmt = stmt.where(Ticket.assignee_id == me) if me is not None else stmt.where(false())
    elif filters.assignee.isdigit():
        stmt = stmt.where(Ticket.assignee_id == int(filters.assignee))
    if filters.source is not None:
        stmt = stmt.where(Ticket.source == filters.source)
    if filters.sla:
        stmt = stmt.where(_sla_term(filters.sla))
    if filters.since is not None:
        stmt = stmt.where(Ticket.created_at >= local_midnight(filters.since))
    if filters.until is not None:
        stmt = stmt.where(Ticket.created_at < local_midnight(filters.until + dt.timedelta(days=1)))
    if filters.q:
        text = filters.q.lstrip("#")
        term = func.lower(Ticket.subject).contains(filters.q.lower(), autoescape=True)
        stmt = stmt.where(or_(term, Ticket.id == int(text)) if text.isdigit() and len(text) < 10 else term)
    if filters.mentioned:
        stmt = stmt.where(_mentions(session, me)) if me is not None else stmt.where(false())
    rank = case(PRIORITY_RANK, value=Ticket.priority, else_=9)
    order = {
        "-updated": (Ticket.updated_at.desc(), Ticket.id.desc()),
        "-created": (Ticket.id.desc(),),
        "created": (Ticket.id.asc(),),
        "due": (Ticket.resolution_due_at.is_(None), Ticket.resolution_due_at.asc(), Ticket.id.asc()),
        "priority": (rank, Ticket.updated_at.desc(), Ticket.id.desc()),
    }[filters.sort]
    return stmt.order_by(*order)


@dataclass(frozen=True)
class TicketPage:
    rows: list[Ticket]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search(session: Session, org_id: int, filters: TicketFilters, *, me: int | None, page: int = 1,
           per_page: int = 50) -> TicketPage:
    stmt = statement(session, org_id, filters, me=me)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)))
    return TicketPage(rows, int(total), page, per_page)


# --- saved views -------------------------------------------------------------------------------------------------

def views_for(session: Session, org_id: int, user_id: int | None) -> list[TicketView]:
    """The org's shared views, then the user's own."""
    stmt = org_query(TicketView, org_id).where(
        or_(TicketView.owner_id.is_(None), TicketView.owner_id == user_id) if user_id is not None
        else TicketView.owner_id.is_(None))
    return list(session.scalars(stmt.order_by(TicketView.owner_id.is_not(None), TicketView.position,
                                              TicketView.id)))


def get_view(session: Session, org_id: int, user_id: int | None, view_id: int) -> TicketView:
    """A shared view or one of the user's own; someone else's personal view is "not found"."""
    view = get_in_org(session, TicketView, view_id, org_id)
    if view.owner_id is not None and view.owner_id != user_id:
        raise NotFoundError("TicketView", view_id)
    return view


def save_view(session: Session, editor: Editor, name: str, params: Mapping[str, Any], *, shared: bool
              ) -> TicketView:
    """Saves the current filters under a name: for the editor alone, or shared with the org (supervisors and
    admins only, since everyone sees them)."""
    name = " ".join((name or "").split())
    if not name or len(name) > VIEW_NAME_MAX:
        raise TicketError("bad_name", f"视图名称不能为空，且不超过 {VIEW_NAME_MAX} 个字", "name")
    if shared and not editor.supervises:
        raise TicketForbidden("shared_views", "只有主管和管理员可以创建共享视图", "shared")
    if not shared and editor.user_id is None:
        raise TicketError("no_user", "个人视图需要员工账号", "shared")
    owner = None if shared else editor.user_id
    filters = parse(params).raw
    existing = list(session.scalars(org_query(TicketView, editor.org_id).where(
        TicketView.owner_id.is_(None) if owner is None else TicketView.owner_id == owner)))
    if any(v.name == name for v in existing):
        raise TicketError("duplicate_name", f"已有名为“{name}”的视图", "name")
    if len(existing) >= MAX_VIEWS_PER_OWNER:
        raise TicketError("too_many_views", f"最多保存 {MAX_VIEWS_PER_OWNER} 个视图", "name")
    view = TicketView(org_id=editor.org_id, owner_id=owner, name=name, filters=filters,
                      position=max((v.position for v in existing), default=0) + 1)
    session.add(view)
    session.flush()
    audit_service.record(session, editor.actor, "ticket_view.create", "ticket_view", view.id, name=name,
                         shared=shared, filters=filters)
    return view


def delete_view(session: Session, editor: Editor, view_id: int) -> None:
    view = get_view(session, editor.org_id, editor.user_id, view_id)
    if view.owner_id is None and not editor.supervises:
        raise TicketForbidden("shared_views", "只有主管和管理员可以删除共享视图")
    audit_service.record(session, editor.actor, "ticket_view.delete", "ticket_view", view.id, name=view.name,
                         shared=view.owner_id is None)
    session.delete(view)
    session.flush()
