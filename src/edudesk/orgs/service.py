"""Creating and finding institutions."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError
from edudesk.errors import DomainError
from edudesk.orgs.models import Org
from edudesk.security import OriginError, normalize_origin

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_WIDGET_ORIGINS = 50


class OrgError(DomainError):
    pass


def create_org(session: Session, *, slug: str, name: str) -> Org:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise OrgError("bad_slug", "机构标识只能包含小写字母、数字和连字符（2–63 个字符）", "slug")
    name = name.strip()
    if not name or len(name) > 200:
        raise OrgError("bad_name", "机构名称不能为空，且不超过 200 个字符", "name")
    if session.scalars(select(Org).where(Org.slug == slug)).first() is not None:
        raise OrgError("duplicate_slug", f"机构标识 {slug} 已存在", "slug")
    org = Org(slug=slug, name=name, public_key="pk_" + secrets.token_urlsafe(18))
    session.add(org)
    session.flush()
    return org


def get_by_slug(session: Session, slug: str) -> Org:
    org = session.scalars(select(Org).where(Org.slug == slug)).first()
    if org is None:
        raise NotFoundError("Org", slug)
    return org


def get_by_public_key(session: Session, key: str) -> Org | None:
    if not key or len(key) > 64:
        return None
    return session.scalars(select(Org).where(Org.public_key == key)).first()


def get(session: Session, org_id: int) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        raise NotFoundError("Org", org_id)
    return org


def update_widget(session: Session, org: Org, *, color: str) -> None:
    if not COLOR_RE.match(color):
        raise OrgError("bad_color", "颜色格式应为 #RRGGBB", "widget_color")
    org.widget_color = color


def set_widget_origins(session: Session, actor: audit_service.Actor, org: Org, text: str) -> list[str]:
    """Replaces the org's widget allow-list with the origins in ``text`` (one per line, or separated by commas or
    spaces), each checked and normalised; duplicates are dropped. Empty text means any origin. Audited."""
    origins: list[str] = []
    for raw in text.replace(",", "\n").replace(" ", "\n").splitlines():
        if not raw.strip():
            continue
        try:
            origin = normalize_origin(raw)
        except OriginError as exc:
            raise OrgError("bad_origin", str(exc), "widget_origins") from None
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_WIDGET_ORIGINS:
        raise OrgError("too_many_origins", f"最多填写 {MAX_WIDGET_ORIGINS} 个网址来源", "widget_origins")
    org.widget_origins = origins
    audit_service.record(session, actor, "org.widget_origins", "org", org.id, origins=origins)
    return origins


def bump_bot_version(session: Session, org_id: int) -> None:
    """Marks the org's bot as changed; one UPDATE, committed with the change itself."""
    session.execute(update(Org).where(Org.id == org_id).values(bot_version=Org.bot_version + 1)
                    .execution_options(synchronize_session=False))


def bot_version(session: Session, org_id: int) -> int:
    return int(session.scalar(select(Org.bot_version).where(Org.id == org_id)) or 0)


def all_org_ids(session: Session) -> list[int]:
    """Every org, for jobs that run per org (the daily privacy purge)."""
    return list(session.scalars(select(Org.id).order_by(Org.id)))
