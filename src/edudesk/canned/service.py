"""Canned replies (快捷回复): shared ones (``owner_id`` None) managed by supervisors and admins, personal ones by
their owner; the console's ``/shortcut`` search; usage counts; and the demo institution's set.

A shortcut is unique within its scope (the org's shared set, or one person's own set). A personal shortcut may
repeat a shared one: it then *shadows* it for its owner, who gets their own text when they type it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import Role, User
from edudesk.canned.models import CannedReply
from edudesk.canned.text import CannedError, CannedForbidden, CannedInput, clean, normalise_shortcut
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow

MAX_PER_SCOPE = 500
SEARCH_LIMIT = 8
MAX_QUERY = 100


@dataclass
class Library:
    """What one person sees on the management page: the org's shared replies and their own."""

    shared: list[CannedReply] = field(default_factory=list)
    mine: list[CannedReply] = field(default_factory=list)
    shadowed: set[int] = field(default_factory=set)  # shared ids hidden behind one of the person's own shortcuts
    categories: list[str] = field(default_factory=list)


def can_manage_shared(user: User) -> bool:
    return user.role in (Role.admin, Role.supervisor)


def can_manage(user: User, reply: CannedReply) -> bool:
    return reply.owner_id == user.id if reply.owner_id is not None else can_manage_shared(user)


def _visible_to(user: User) -> ColumnElement[bool]:
    return or_(CannedReply.owner_id.is_(None), CannedReply.owner_id == user.id)


def library(session: Session, user: User) -> Library:
    rows = session.scalars(org_query(CannedReply, user.org_id).where(_visible_to(user))
                           .order_by(CannedReply.category, CannedReply.shortcut, CannedReply.id))
    lib = Library()
    for row in rows:
        (lib.shared if row.owner_id is None else lib.mine).append(row)
    own = {r.shortcut for r in lib.mine}
    lib.shadowed = {r.id for r in lib.shared if r.shortcut in own}
    lib.categories = sorted({r.category for r in lib.shared + lib.mine if r.category})
    return lib


def get(session: Session, user: User, canned_id: int, *, for_update: bool = False) -> CannedReply:
    """A reply this person can see: the org's shared ones and their own. Anyone else's is "not found"."""
    reply = get_in_org(session, CannedReply, canned_id, user.org_id, for_update=for_update)
    if reply.owner_id is not None and reply.owner_id != user.id:
        raise NotFoundError("CannedReply", canned_id)
    return reply


def _require_scope(user: User, shared: bool) -> None:
    if shared and not can_manage_shared(user):
        raise CannedForbidden("forbidden", "只有主管和管理员可以管理公共快捷回复", "shared")


def _scope(owner_id: int | None) -> ColumnElement[bool]:
    return CannedReply.owner_id.is_(None) if owner_id is None else CannedReply.owner_id == owner_id


def _check_room(session: Session, org_id: int, owner_id: int | None, shortcut: str, own_id: int | None) -> None:
    """The shortcut is free in the scope, and the scope is not full.

    Checked here rather than by a unique index (the table has none over ``owner_id``, which is NULL for shared
    rows): two simultaneous saves of the same new shortcut could both pass, which leaves two replies a search
    shows side by side, nothing worse."""
    in_scope = org_query(CannedReply, org_id).where(_scope(owner_id))
    clash = session.scalars(in_scope.where(CannedReply.shortcut == shortcut, CannedReply.id != (own_id or 0))
                            .limit(1)).first()
    if clash is not None:
        where = "公共快捷回复" if owner_id is None else "你的快捷回复"
        raise CannedError("duplicate_shortcut", f"{where}里已有 /{shortcut}（“{clash.title}”），请换一个快捷短语",
                          "shortcut")
    if own_id is None:
        count = session.scalar(select(func.count()).select_from(in_scope.subquery())) or 0
        if count >= MAX_PER_SCOPE:
            raise CannedError("too_many", f"快捷回复最多 {MAX_PER_SCOPE} 条，请先删除不用的", "shortcut")


def _actor(user: User, ip: str | None) -> audit_service.Actor:
    return audit_service.Actor(org_id=user.org_id, user_id=user.id, label=user.username, ip=ip)


def _insert(session: Session, actor: audit_service.Actor, owner_id: int | None, data: CannedInput) -> CannedReply:
    _check_room(session, actor.org_id, owner_id, data.shortcut, None)
    now = utcnow()
    reply = CannedReply(org_id=actor.org_id, owner_id=owner_id, category=data.category, shortcut=data.shortcut,
                        title=data.title, text=data.text, use_count=0, created_at=now, updated_at=now)
    session.add(reply)
    session.flush()
    audit_service.record(session, actor, "canned.create", "canned_reply", reply.id, shortcut=reply.shortcut,
                         shared=owner_id is None)
    return reply


def create(session: Session, user: User, data: CannedInput, *, ip: str | None = None) -> CannedReply:
    data = clean(data)
    _require_scope(user, data.shared)
    return _insert(session, _actor(user, ip), None if data.shared else user.id, data)


def update(session: Session, user: User, canned_id: int, data: CannedInput, *, ip: str | None = None
           ) -> CannedReply:
    """Edits a reply; its scope may change too (a supervisor sharing their own reply with the team)."""
    reply = get(session, user, canned_id, for_update=True)
    if not can_manage(user, reply):
        _require_scope(user, True)
    data = clean(data)
    _require_scope(user, data.shared)
    owner_id = None if data.shared else user.id
    _check_room(session, user.org_id, owner_id, data.shortcut, reply.id)
    before = {"shortcut": reply.shortcut, "shared": reply.owner_id is None}
    reply.owner_id, reply.shortcut, reply.title = owner_id, data.shortcut, data.title
    reply.text, reply.category, reply.updated_at = data.text, data.category, utcnow()
    audit_service.record(session, _actor(user, ip), "canned.update", "canned_reply", reply.id, before=before,
                         shortcut=reply.shortcut, shared=owner_id is None)
    return reply


def delete(session: Session, user: User, canned_id: int, *, ip: str | None = None) -> None:
    reply = get(session, user, canned_id, for_update=True)
    if not can_manage(user, reply):
        _require_scope(user, True)
    audit_service.record(session, _actor(user, ip), "canned.delete", "canned_reply", reply.id, shortcut=reply.shortcut,
                         title=reply.title, text=reply.text[:200], shared=reply.owner_id is None)
    session.delete(reply)
    session.flush()


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_statement(user: User, query: str, limit: int) -> Select[CannedReply]:
    own_shortcuts = select(CannedReply.shortcut).where(CannedReply.org_id == user.org_id,
                                                       CannedReply.owner_id == user.id)
    visible = or_(CannedReply.owner_id == user.id,
                  CannedReply.owner_id.is_(None) & CannedReply.shortcut.not_in(own_shortcuts.scalar_subquery()))
    stmt = org_query(CannedReply, user.org_id).where(visible)
    words = query.strip()[:MAX_QUERY]
    shortcut = normalise_shortcut(words)
    if not words or not shortcut:
        return stmt.order_by(CannedReply.use_count.desc(), CannedReply.shortcut, CannedReply.id).limit(limit)
    prefix = CannedReply.shortcut.like(_like_escape(shortcut) + "%", escape="\\")
    pattern = "%" + _like_escape(words.lstrip("/").strip()) + "%"
    rank = case((CannedReply.shortcut == shortcut, 0), (prefix, 1), else_=2)
    return (stmt.where(or_(prefix, CannedReply.title.ilike(pattern, escape="\\"),
                           CannedReply.text.ilike(pattern, escape="\\")))
            .order_by(rank, CannedReply.use_count.desc(), CannedReply.shortcut, CannedReply.id).limit(limit))


def search(session: Session, user: User, query: str, limit: int = SEARCH_LIMIT) -> list[CannedReply]:
    """The picker's matches for what follows "/": shortcuts starting with it first (an exact one before the rest),
    then replies whose title or text contains it; each group by use count. Shared replies a personal shortcut
    shadows are left out. An empty query lists the most used."""
    return list(session.scalars(_search_statement(user, query, max(1, min(limit, 50)))))


def record_use(session: Session, user: User, canned_id: int) -> None:
    """One more use (inserted into a reply): an atomic increment, so concurrent agents never lose a count."""
    stmt = (sql_update(CannedReply)
            .where(CannedReply.id == canned_id, CannedReply.org_id == user.org_id, _visible_to(user))
            .values(use_count=CannedReply.use_count + 1)
            .execution_options(synchronize_session=False))
    if session.execute(stmt).rowcount == 0:  # type: ignore[attr-defined]
        raise NotFoundError("CannedReply", canned_id)


DEMO_REPLIES: tuple[tuple[str, str, str, str], ...] = (
    # (category, shortcut, title, text)
    ("问候", "nh", "开场问候", "{visitor_name}您好，我是课程顾问{agent_name}，很高兴为您服务～请问孩子现在读几年级？"),
    ("问候", "zj", "结束语", "感谢您的咨询，{visitor_name}有任何问题随时来问我，祝孩子学习进步！"),
    ("课程", "xf", "学费说明", "我们按课时收费：小学一对一 200 元/课时，初中 240 元/课时，高中 280 元/课时；"
     "班课更优惠，报名前可以先免费试听一节。"),
    ("课程", "st", "预约试听", "可以先带孩子来免费试听一节 45 分钟的体验课～方便留一下孩子的年级和您的手机号吗？"
     "我帮您约周末的时间。"),
    ("课程", "sj", "上课时间", "周六、周日 9:00–12:00 和 14:00–17:00 各有班次，工作日晚上 18:30 也有一对一，"
     "寒暑假另行排课。"),
    ("校区", "dz", "校区地址", "我们有两个校区：海淀中关村校区（中关村大街 27 号 3 层）和朝阳望京校区"
     "（望京 SOHO T2 5 层），您看哪个离家近？"),
    ("售后", "tf", "退费政策", "开课前可以全额退款；已经上课的按实际课时扣除后退还剩余学费，7 个工作日内原路退回。"),
    ("留资", "dh", "请留电话", "为了把课表和试听安排发给您，方便留一个手机号或微信吗？老师会在今天内联系您。"),
)


def seed_demo(session: Session, org_id: int) -> int:
    """The demo institution's shared canned replies; shortcuts already there are left alone, so it can run again.
    Returns how many were added."""
    existing = set(session.scalars(select(CannedReply.shortcut).where(CannedReply.org_id == org_id,
                                                                      CannedReply.owner_id.is_(None))))
    actor = audit_service.Actor(org_id, label="demo")
    added = 0
    for category, shortcut, title, text in DEMO_REPLIES:
        if shortcut in existing:
            continue
        _insert(session, actor, None, clean(CannedInput(shortcut=shortcut, text=text, title=title,
                                                        category=category, shared=True)))
        added += 1
    return added
