"""The category tree: create, rename, move (never into its own subtree), delete (only when empty), and paths.

An org has tens of categories, not thousands, so the tree is loaded whole and walked in Python: one query,
and cycle checks and "/"-joined paths need no recursive SQL that would differ between SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, get_in_org, org_query
from edudesk.kb.changes import record_change
from edudesk.kb.models import KbCategory, KbEntry
from edudesk.kb.schemas import CategoryNode
from edudesk.kb.text import KbError, clean_category_name

MAX_DEPTH = 5
MAX_CATEGORIES = 1000


def _all(session: Session, org_id: int) -> list[KbCategory]:
    return list(session.scalars(org_query(KbCategory, org_id).order_by(KbCategory.position, KbCategory.id)))


def _paths(categories: list[KbCategory]) -> dict[int, str]:
    by_id = {c.id: c for c in categories}
    paths: dict[int, str] = {}

    def path_of(cat: KbCategory, depth: int = 0) -> str:
        if cat.id in paths:
            return paths[cat.id]
        parent = by_id.get(cat.parent_id) if cat.parent_id is not None else None
        # depth guard: a cycle cannot be created through this module, but a path must never loop forever.
        prefix = path_of(parent, depth + 1) + "/" if parent is not None and depth < MAX_DEPTH * 2 else ""
        paths[cat.id] = prefix + cat.name
        return paths[cat.id]

    for cat in categories:
        path_of(cat)
    return paths


def category_paths(session: Session, org_id: int) -> dict[int, str]:
    """Category id → "课程/价格" for every category of the org."""
    return _paths(_all(session, org_id))


def tree(session: Session, org_id: int) -> list[CategoryNode]:
    """Depth-first, siblings by position then id, with the number of live entries directly in each."""
    categories = _all(session, org_id)
    paths = _paths(categories)
    counts = dict(session.execute(
        select(KbEntry.category_id, func.count()).where(KbEntry.org_id == org_id, KbEntry.deleted_at.is_(None),
                                                        KbEntry.category_id.is_not(None))
        .group_by(KbEntry.category_id)).all())
    children: dict[int | None, list[KbCategory]] = {}
    for cat in categories:
        children.setdefault(cat.parent_id, []).append(cat)
    nodes: list[CategoryNode] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for cat in children.get(parent_id, []):
            nodes.append(CategoryNode(cat.id, cat.name, cat.parent_id, paths[cat.id], depth, cat.position,
                                      counts.get(cat.id, 0)))
            if depth < MAX_DEPTH * 2:
                walk(cat.id, depth + 1)

    walk(None, 0)
    return nodes


def descendant_ids(session: Session, org_id: int, category_id: int) -> set[int]:
    """The category and everything below it; NotFoundError when it is not a category of this org."""
    categories = _all(session, org_id)
    if category_id not in {c.id for c in categories}:
        raise NotFoundError("KbCategory", category_id)
    found = {category_id}
    grew = True
    while grew:
        grew = False
        for cat in categories:
            if cat.parent_id in found and cat.id not in found:
                found.add(cat.id)
                grew = True
    return found


def _check_parent(categories: list[KbCategory], parent_id: int | None, moving_id: int | None) -> None:
    if parent_id is None:
        return
    by_id = {c.id: c for c in categories}
    if parent_id not in by_id:
        raise NotFoundError("KbCategory", parent_id)
    depth, node = 1, by_id.get(parent_id)
    while node is not None:
        if node.id == moving_id:
            raise KbError("cycle", "不能把分类移到它自己或它的下级分类下面", "parent_id")
        depth += 1
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    if depth > MAX_DEPTH:
        raise KbError("too_deep", f"分类最多 {MAX_DEPTH} 层", "parent_id")


def _check_unique(categories: list[KbCategory], name: str, parent_id: int | None, own_id: int | None) -> None:
    for cat in categories:
        if cat.parent_id == parent_id and cat.name == name and cat.id != own_id:
            raise KbError("duplicate", f"同一级下已有分类“{name}”", "name")


def create_category(session: Session, actor: audit_service.Actor, *, name: str, parent_id: int | None = None,
                    position: int | None = None) -> KbCategory:
    name = clean_category_name(name)
    categories = _all(session, actor.org_id)
    if len(categories) >= MAX_CATEGORIES:
        raise KbError("too_many", f"分类最多 {MAX_CATEGORIES} 个", "name")
    _check_parent(categories, parent_id, None)
    _check_unique(categories, name, parent_id, None)
    if position is None:
        position = sum(1 for c in categories if c.parent_id == parent_id)
    cat = KbCategory(org_id=actor.org_id, name=name, parent_id=parent_id, position=position)
    session.add(cat)
    session.flush()
    audit_service.record(session, actor, "kb.category.create", "kb_category", cat.id, name=name, parent_id=parent_id)
    record_change(session, actor.org_id, "category")
    return cat


def update_category(session: Session, actor: audit_service.Actor, category_id: int, *, name: str,
                    parent_id: int | None, position: int | None = None) -> KbCategory:
    """Rename and/or move a category; its entries and subcategories move with it."""
    cat = get_in_org(session, KbCategory, category_id, actor.org_id)
    name = clean_category_name(name)
    categories = _all(session, actor.org_id)
    _check_parent(categories, parent_id, cat.id)
    _check_unique(categories, name, parent_id, cat.id)
    before = {"name": cat.name, "parent_id": cat.parent_id, "position": cat.position}
    cat.name, cat.parent_id = name, parent_id
    if position is not None:
        cat.position = position
    audit_service.record(session, actor, "kb.category.update", "kb_category", cat.id, before=before,
                         after={"name": cat.name, "parent_id": cat.parent_id, "position": cat.position})
    record_change(session, actor.org_id, "category")
    return cat


def delete_category(session: Session, actor: audit_service.Actor, category_id: int) -> None:
    """Only an empty category goes: deleting one with entries would silently uncategorise them."""
    cat = get_in_org(session, KbCategory, category_id, actor.org_id)
    if session.scalar(select(func.count()).select_from(KbCategory).where(
            KbCategory.org_id == actor.org_id, KbCategory.parent_id == cat.id)):
        raise KbError("not_empty", f"分类“{cat.name}”下还有子分类，请先移走或删除", "category")
    if session.scalar(select(func.count()).select_from(KbEntry).where(
            KbEntry.org_id == actor.org_id, KbEntry.category_id == cat.id, KbEntry.deleted_at.is_(None))):
        raise KbError("not_empty", f"分类“{cat.name}”下还有词条，请先移走或删除", "category")
    audit_service.record(session, actor, "kb.category.delete", "kb_category", cat.id, name=cat.name,
                         parent_id=cat.parent_id)
    session.delete(cat)
    session.flush()
    record_change(session, actor.org_id, "category")


def split_path(path: str, field: str = "category") -> list[str]:
    """"课程 / 价格" → ["课程", "价格"]; each level must be a valid category name."""
    parts = [p for p in (part.strip() for part in path.replace("／", "/").split("/")) if p]
    if len(parts) > MAX_DEPTH:
        raise KbError("too_deep", f"分类最多 {MAX_DEPTH} 层", field)
    return [clean_category_name(p, field) for p in parts]


def ensure_path(session: Session, org_id: int, parts: list[str], known: dict[tuple[str, ...], int]) -> int | None:
    """The id of the category at ``parts``, creating missing levels. ``known`` maps path tuples to ids and is
    updated, so an import of thousands of rows creates each category once and asks the database nothing."""
    parent_id: int | None = None
    for depth in range(1, len(parts) + 1):
        key = tuple(parts[:depth])
        if key not in known:
            siblings = sum(1 for k in known if len(k) == depth and k[:-1] == key[:-1])
            cat = KbCategory(org_id=org_id, name=key[-1], parent_id=parent_id, position=siblings)
            session.add(cat)
            session.flush()
            known[key] = cat.id
        parent_id = known[key]
    return parent_id


def known_paths(session: Session, org_id: int) -> dict[tuple[str, ...], int]:
    return {tuple(path.split("/")): cid for cid, path in category_paths(session, org_id).items()}
