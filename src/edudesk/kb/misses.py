"""Unanswered and down-voted questions for the editors: grouped, then resolved in one click.

A group becomes similar questions of an existing entry, or a new entry (its most frequent wording as the standard
question, the other wordings as similar questions), or is dismissed. Resolving also closes later misses with
exactly the same wording, which arrived after the editor opened the page and are answered by the same change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.kb import service as kb_service
from edudesk.kb.miss_groups import Grouper, MissGroup, MissItem, group_indices, match_key, summarise
from edudesk.kb.models import KbEntry, KbMiss
from edudesk.kb.schemas import EntryInput
from edudesk.kb.text import KbError

# The page groups the most recent misses; older ones surface as these are resolved.
MAX_GROUPED = 2000
MAX_PER_ACTION = 5000
MAX_NOTE = 500


def _items(rows: Iterable[KbMiss]) -> list[MissItem]:
    return [MissItem(id=m.id, text=m.query, created_at=m.created_at, reason=m.reason.value, entry_id=m.entry_id)
            for m in rows]


def miss_groups(session: Session, org_id: int, *, include_resolved: bool = False, grouper: Grouper | None = None,
                limit: int = MAX_GROUPED) -> list[MissGroup]:
    """Groups of similar misses with their counts, representative text and latest time, biggest first."""
    stmt = org_query(KbMiss, org_id)
    if not include_resolved:
        stmt = stmt.where(KbMiss.resolved_at.is_(None))
    items = _items(session.scalars(stmt.order_by(KbMiss.created_at.desc(), KbMiss.id.desc()).limit(limit)))
    return summarise(items, group_indices([i.text for i in items], grouper))


def unresolved_count(session: Session, org_id: int) -> int:
    return session.scalar(select(func.count()).select_from(KbMiss).where(
        KbMiss.org_id == org_id, KbMiss.resolved_at.is_(None))) or 0


def _load(session: Session, org_id: int, miss_ids: Iterable[int]) -> list[KbMiss]:
    wanted = list(dict.fromkeys(miss_ids))
    if not wanted:
        raise KbError("empty", "没有选中任何问题", "miss_ids")
    if len(wanted) > MAX_PER_ACTION:
        raise KbError("too_many", f"一次最多处理 {MAX_PER_ACTION} 条", "miss_ids")
    rows = list(session.scalars(org_query(KbMiss, org_id).where(KbMiss.id.in_(wanted)).order_by(KbMiss.id)))
    found = {m.id for m in rows}
    for ident in wanted:
        if ident not in found:
            raise NotFoundError("KbMiss", ident)
    if all(m.resolved_at is not None for m in rows):
        raise KbError("resolved", "这些问题已经被处理过了", "miss_ids")
    return [m for m in rows if m.resolved_at is None]


def _new_wordings(texts: Iterable[str], existing: Iterable[str]) -> list[str]:
    """Wordings not yet known, one per spelling that differs only in punctuation or spaces ("能停车吗"/"能停车吗？"):
    the matcher ignores those differences, so the entry need not carry both."""
    seen = {match_key(t) for t in existing}
    result = []
    for text in texts:
        key = match_key(text)
        if key not in seen:
            seen.add(key)
            result.append(text)
    return result


def _resolve(session: Session, actor: audit_service.Actor, misses: list[KbMiss], resolution: str) -> int:
    norms = list({m.query_norm for m in misses})
    ids = [m.id for m in misses]
    result = session.execute(
        update(KbMiss).where(KbMiss.org_id == actor.org_id, KbMiss.resolved_at.is_(None),
                             or_(KbMiss.id.in_(ids), KbMiss.query_norm.in_(norms)))
        .values(resolved_at=utcnow(), resolved_by=actor.label, resolution=resolution[:MAX_NOTE])
        .execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


def resolve_misses_as_similar(session: Session, actor: audit_service.Actor, miss_ids: Iterable[int],
                              entry_id: int) -> KbEntry:
    """Adds the misses' wordings as similar questions of ``entry_id`` and marks them resolved."""
    misses = _load(session, actor.org_id, miss_ids)
    entry = get_in_org(session, KbEntry, entry_id, actor.org_id)
    if entry.deleted_at is not None:
        raise KbError("deleted", f"词条 #{entry.id} 已删除", "entry_id")
    current = kb_service.entry_input(session, entry)
    added = _new_wordings((m.query for m in misses), [current.question, *current.similar])
    wanted = dataclasses.replace(current, similar=[*current.similar, *added])
    kb_service.update_entry(session, actor, entry.id, wanted)
    resolved = _resolve(session, actor, misses, f"加为词条 #{entry.id} 的相似问")
    audit_service.record(session, actor, "kb.misses.similar", "kb_entry", entry.id, resolved=resolved,
                         texts=sorted({m.query for m in misses})[:50])
    return entry


def create_entry_from_misses(session: Session, actor: audit_service.Actor, miss_ids: Iterable[int], answer: str,
                             category_id: int | None = None) -> KbEntry:
    """A new entry: the group's most frequent wording as standard question, the others as similar questions."""
    misses = _load(session, actor.org_id, miss_ids)
    items = _items(misses)
    group = summarise(items, [list(range(len(items)))])[0]
    others = _new_wordings((m.query for m in misses), [group.representative])
    entry = kb_service.create_entry(session, actor, EntryInput(question=group.representative, answer=answer,
                                                               similar=others, category_id=category_id))
    resolved = _resolve(session, actor, misses, f"新建词条 #{entry.id}")
    audit_service.record(session, actor, "kb.misses.new_entry", "kb_entry", entry.id, resolved=resolved)
    return entry


def dismiss_misses(session: Session, actor: audit_service.Actor, miss_ids: Iterable[int], note: str = "") -> int:
    """Marks misses as not worth an answer (chit-chat, spam, questions outside the institution's business)."""
    misses = _load(session, actor.org_id, miss_ids)
    resolved = _resolve(session, actor, misses, note.strip() or "忽略")
    audit_service.record(session, actor, "kb.misses.dismiss", "kb_miss", misses[0].id, resolved=resolved,
                         texts=sorted({m.query for m in misses})[:50])
    return resolved
