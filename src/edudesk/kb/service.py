"""Knowledge-base entries: editing with validation, search, bulk actions, soft delete, and what the bot reads.

The bot calls ``active_documents`` (to build the matcher), ``entry_card`` and ``record_answer`` (when it answers),
``hot_questions`` (widget start) and ``record_miss``/``record_feedback`` (misses.py groups them for the editors).
Every change to what the matcher indexes records ``kb.changed`` (kb.changes) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.kb import categories as kb_categories
from edudesk.kb.changes import record_change
from edudesk.kb.models import AnswerFeedback, KbCategory, KbEntry, KbMiss, KbSimilarQuestion, MissReason
from edudesk.kb.schemas import EntryCard, EntryInput, EntryRow, SearchPage
from edudesk.kb.text import (
    MAX_RELATED,
    KbError,
    check_dates,
    clean_answer,
    clean_buttons,
    clean_images,
    clean_question,
    clean_similar,
    normalise,
    today_in_shanghai,
)
from edudesk.nlp.documents import FaqDocument

MAX_BULK = 1000
MAX_MISS_CHARS = 2000


# --- rules ---------------------------------------------------------------------------------------------------------

def active_clause(today: dt.date) -> ColumnElement[bool]:
    """Live, enabled and inside its validity dates on ``today`` (a day in Asia/Shanghai)."""
    return and_(KbEntry.enabled.is_(True), KbEntry.deleted_at.is_(None),
                or_(KbEntry.valid_from.is_(None), KbEntry.valid_from <= today),
                or_(KbEntry.valid_until.is_(None), KbEntry.valid_until >= today))


def is_active(entry: KbEntry, today: dt.date) -> bool:
    return (entry.enabled and entry.deleted_at is None and (entry.valid_from is None or entry.valid_from <= today)
            and (entry.valid_until is None or entry.valid_until >= today))


@dataclass(frozen=True)
class _Owner:
    entry_id: int
    question: str
    as_question: bool


def text_owners(session: Session, org_id: int, norms: Iterable[str], *,
                exclude_entry_id: int | None = None) -> dict[str, _Owner]:
    """Which live entry already uses each normalised text, as its standard or as a similar question."""
    wanted = list(set(norms))
    owners: dict[str, _Owner] = {}
    if not wanted:
        return owners
    live = [KbEntry.org_id == org_id, KbEntry.deleted_at.is_(None)]
    if exclude_entry_id is not None:
        live.append(KbEntry.id != exclude_entry_id)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for eid, question, norm in session.execute(
                select(KbEntry.id, KbEntry.question, KbEntry.question_norm).where(*live,
                                                                                  KbEntry.question_norm.in_(chunk))):
            owners[norm] = _Owner(eid, question, True)
        for eid, question, norm in session.execute(
                select(KbEntry.id, KbEntry.question, KbSimilarQuestion.text_norm)
                .join(KbEntry, KbEntry.id == KbSimilarQuestion.entry_id)
                .where(*live, KbSimilarQuestion.org_id == org_id, KbSimilarQuestion.text_norm.in_(chunk))):
            owners.setdefault(norm, _Owner(eid, question, False))
    return owners


def _check_owners(session: Session, org_id: int, entry_id: int | None, question: str, similar: list[str]) -> None:
    texts = [(question, True), *((s, False) for s in similar)]
    owners = text_owners(session, org_id, (normalise(t) for t, _ in texts), exclude_entry_id=entry_id)
    for value, is_question in texts:
        owner = owners.get(normalise(value))
        if owner is None:
            continue
        if is_question:
            message = (f"标准问“{value}”已存在（词条 #{owner.entry_id}）" if owner.as_question
                       else f"标准问“{value}”已是词条 #{owner.entry_id}“{owner.question}”的相似问")
            raise KbError("duplicate", message, "question")
        message = (f"相似问“{value}”已是词条 #{owner.entry_id} 的标准问" if owner.as_question
                   else f"相似问“{value}”已属于词条 #{owner.entry_id}“{owner.question}”")
        raise KbError("duplicate", message, "similar")


def _clean(session: Session, org_id: int, data: EntryInput, entry_id: int | None) -> EntryInput:
    question = clean_question(data.question)
    answer = clean_answer(data.answer)
    similar = clean_similar(data.similar, question)
    images = clean_images(data.images)
    buttons = clean_buttons(data.buttons)
    check_dates(data.valid_from, data.valid_until)
    if data.category_id is not None:
        get_in_org(session, KbCategory, data.category_id, org_id)
    related = list(dict.fromkeys(i for i in data.related_ids if i != entry_id))
    if len(related) > MAX_RELATED:
        raise KbError("too_many", f"关联问题最多 {MAX_RELATED} 个", "related_ids")
    if related:
        live = dict(session.execute(select(KbEntry.id, KbEntry.deleted_at.is_(None)).where(
            KbEntry.org_id == org_id, KbEntry.id.in_(related))).all())
        for ident in related:
            if ident not in live:
                raise NotFoundError("KbEntry", ident)  # not an entry of this org: as if it did not exist
            if not live[ident]:
                raise KbError("deleted", f"关联的词条 #{ident} 已删除", "related_ids")
    if not 0 <= data.hot_position <= 999:
        raise KbError("out_of_range", "热门排序须在 0–999 之间", "hot_position")
    _check_owners(session, org_id, entry_id, question, similar)
    return EntryInput(question=question, answer=answer, similar=similar, images=images, buttons=buttons,
                      category_id=data.category_id, enabled=data.enabled, valid_from=data.valid_from,
                      valid_until=data.valid_until, related_ids=related, hot_pinned=data.hot_pinned,
                      hot_position=data.hot_position)


def replace_similar(session: Session, entry: KbEntry, similar: list[str]) -> bool:
    """Makes the entry's similar questions exactly ``similar`` (already cleaned); touches only what changed."""
    existing = {s.text_norm: s for s in session.scalars(
        select(KbSimilarQuestion).where(KbSimilarQuestion.org_id == entry.org_id,
                                        KbSimilarQuestion.entry_id == entry.id))}
    wanted = {normalise(s): s for s in similar}
    changed = False
    gone = [s.id for norm, s in existing.items() if norm not in wanted]
    if gone:
        session.execute(delete(KbSimilarQuestion).where(KbSimilarQuestion.id.in_(gone)))
        changed = True
    for norm, value in wanted.items():
        row = existing.get(norm)
        if row is None:
            session.add(KbSimilarQuestion(org_id=entry.org_id, entry_id=entry.id, text=value, text_norm=norm))
            changed = True
        elif row.text != value:
            row.text = value
            changed = True
    return changed


def _apply(entry: KbEntry, data: EntryInput, actor: audit_service.Actor) -> list[str]:
    values = {"question": data.question, "question_norm": normalise(data.question), "answer": data.answer,
              "images": data.images, "buttons": data.buttons, "category_id": data.category_id,
              "enabled": data.enabled, "valid_from": data.valid_from, "valid_until": data.valid_until,
              "related_ids": data.related_ids, "hot_pinned": data.hot_pinned, "hot_position": data.hot_position}
    changed = [k for k, v in values.items() if getattr(entry, k, None) != v and k != "question_norm"]
    for key, value in values.items():
        setattr(entry, key, value)
    entry.updated_at, entry.updated_by = utcnow(), actor.label
    return changed


# --- editing -------------------------------------------------------------------------------------------------------

def create_entry(session: Session, actor: audit_service.Actor, data: EntryInput) -> KbEntry:
    data = _clean(session, actor.org_id, data, None)
    entry = KbEntry(org_id=actor.org_id, ask_count=0)
    _apply(entry, data, actor)
    session.add(entry)
    session.flush()
    replace_similar(session, entry, data.similar)
    audit_service.record(session, actor, "kb.entry.create", "kb_entry", entry.id, question=entry.question)
    record_change(session, actor.org_id, "entry")
    return entry


def update_entry(session: Session, actor: audit_service.Actor, entry_id: int, data: EntryInput) -> KbEntry:
    entry = get_in_org(session, KbEntry, entry_id, actor.org_id)
    if entry.deleted_at is not None:
        raise KbError("deleted", "词条已删除，请先恢复再编辑", "question")
    data = _clean(session, actor.org_id, data, entry.id)
    changed = _apply(entry, data, actor)
    if replace_similar(session, entry, data.similar):
        changed.append("similar")
    audit_service.record(session, actor, "kb.entry.update", "kb_entry", entry.id, question=entry.question,
                         changed=changed)
    record_change(session, actor.org_id, "entry")
    return entry


def get_entry(session: Session, org_id: int, entry_id: int) -> KbEntry:
    """Any entry of the org, deleted ones included (the edit page offers to restore them)."""
    return get_in_org(session, KbEntry, entry_id, org_id)


def similar_of(session: Session, org_id: int, entry_id: int) -> list[str]:
    return list(session.scalars(select(KbSimilarQuestion.text).where(
        KbSimilarQuestion.org_id == org_id, KbSimilarQuestion.entry_id == entry_id).order_by(KbSimilarQuestion.id)))


def entry_input(session: Session, entry: KbEntry) -> EntryInput:
    """An existing entry as editable input, e.g. to change one field and save the rest unchanged."""
    return EntryInput(question=entry.question, answer=entry.answer, similar=similar_of(session, entry.org_id, entry.id),
                      images=list(entry.images), buttons=list(entry.buttons), category_id=entry.category_id,
                      enabled=entry.enabled, valid_from=entry.valid_from, valid_until=entry.valid_until,
                      related_ids=list(entry.related_ids), hot_pinned=entry.hot_pinned,
                      hot_position=entry.hot_position)


def entry_choices(session: Session, org_id: int, limit: int = 2000) -> list[tuple[int, str]]:
    """Live entries as (id, standard question) for pickers (related questions, "加为相似问")."""
    return [(i, q) for i, q in session.execute(
        select(KbEntry.id, KbEntry.question).where(KbEntry.org_id == org_id, KbEntry.deleted_at.is_(None))
        .order_by(KbEntry.question, KbEntry.id).limit(limit))]


def search(session: Session, org_id: int, *, text: str = "", category_id: int | None = None,
           enabled: bool | None = None, deleted: bool = False, page: int = 1, per_page: int = 20,
           today: dt.date | None = None) -> SearchPage:
    """Text in the standard question, a similar question or the answer; a category includes its subcategories."""
    today = today or today_in_shanghai()
    page, per_page = max(1, page), min(max(1, per_page), 200)
    where: list[ColumnElement[bool]] = [KbEntry.org_id == org_id,
                                        KbEntry.deleted_at.is_not(None) if deleted else KbEntry.deleted_at.is_(None)]
    if text.strip():
        norm, lowered = normalise(text), text.strip().lower()
        in_similar = select(KbSimilarQuestion.entry_id).where(
            KbSimilarQuestion.org_id == org_id, KbSimilarQuestion.text_norm.contains(norm, autoescape=True))
        where.append(or_(KbEntry.question_norm.contains(norm, autoescape=True),
                         func.lower(KbEntry.answer).contains(lowered, autoescape=True),
                         KbEntry.id.in_(in_similar)))
    if category_id is not None:
        where.append(KbEntry.category_id.in_(kb_categories.descendant_ids(session, org_id, category_id)))
    if enabled is not None:
        where.append(KbEntry.enabled.is_(enabled))
    total = session.scalar(select(func.count()).select_from(KbEntry).where(*where)) or 0
    entries = list(session.scalars(select(KbEntry).where(*where).order_by(KbEntry.id.desc())
                                   .offset((page - 1) * per_page).limit(per_page)))
    counts = dict(session.execute(
        select(KbSimilarQuestion.entry_id, func.count()).where(
            KbSimilarQuestion.org_id == org_id, KbSimilarQuestion.entry_id.in_([e.id for e in entries]))
        .group_by(KbSimilarQuestion.entry_id)).all()) if entries else {}
    paths = kb_categories.category_paths(session, org_id) if entries else {}
    items = [EntryRow(id=e.id, question=e.question, answer=e.answer,
                      category=paths.get(e.category_id, "") if e.category_id else "",
                      similar_count=counts.get(e.id, 0), enabled=e.enabled, active=is_active(e, today),
                      hot_pinned=e.hot_pinned, ask_count=e.ask_count, deleted=e.deleted_at is not None,
                      updated_at=e.updated_at, updated_by=e.updated_by) for e in entries]
    return SearchPage(items, total, page, per_page)


def _load_many(session: Session, org_id: int, ids: Iterable[int]) -> list[KbEntry]:
    """All of ``ids`` in this org, or NotFoundError: a bulk action never half-applies to a foreign id."""
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > MAX_BULK:
        raise KbError("too_many", f"一次最多操作 {MAX_BULK} 个词条", "ids")
    rows = list(session.scalars(org_query(KbEntry, org_id).where(KbEntry.id.in_(wanted)))) if wanted else []
    found = {r.id for r in rows}
    for ident in wanted:
        if ident not in found:
            raise NotFoundError("KbEntry", ident)
    return rows


def set_enabled(session: Session, actor: audit_service.Actor, ids: Iterable[int], enabled: bool) -> int:
    entries = [e for e in _load_many(session, actor.org_id, ids) if e.deleted_at is None and e.enabled != enabled]
    now = utcnow()
    for entry in entries:
        entry.enabled, entry.updated_at, entry.updated_by = enabled, now, actor.label
    if entries:
        audit_service.record(session, actor, "kb.entry.enable" if enabled else "kb.entry.disable", "kb_entry",
                             entries[0].id if len(entries) == 1 else "bulk", ids=[e.id for e in entries])
        record_change(session, actor.org_id, "entry")
    return len(entries)


def delete_entries(session: Session, actor: audit_service.Actor, ids: Iterable[int]) -> int:
    """Soft delete; each entry's audit line keeps what was deleted so it can be restored or re-typed."""
    entries = [e for e in _load_many(session, actor.org_id, ids) if e.deleted_at is None]
    now = utcnow()
    paths = kb_categories.category_paths(session, actor.org_id) if entries else {}
    for entry in entries:
        entry.deleted_at, entry.updated_at, entry.updated_by = now, now, actor.label
        audit_service.record(session, actor, "kb.entry.delete", "kb_entry", entry.id, question=entry.question,
                             answer=entry.answer, similar=similar_of(session, actor.org_id, entry.id),
                             category=paths.get(entry.category_id, "") if entry.category_id else "")
    if entries:
        record_change(session, actor.org_id, "entry")
    return len(entries)


def delete_entry(session: Session, actor: audit_service.Actor, entry_id: int) -> None:
    delete_entries(session, actor, [entry_id])


def restore_entries(session: Session, actor: audit_service.Actor, ids: Iterable[int]) -> int:
    """Undeletes; refused when a live entry took over its question or a similar question meanwhile."""
    entries = [e for e in _load_many(session, actor.org_id, ids) if e.deleted_at is not None]
    for entry in entries:
        _check_owners(session, actor.org_id, entry.id, entry.question, similar_of(session, actor.org_id, entry.id))
        entry.deleted_at, entry.updated_at, entry.updated_by = None, utcnow(), actor.label
        session.flush()  # the next entry's check must see this one as live
        audit_service.record(session, actor, "kb.entry.restore", "kb_entry", entry.id, question=entry.question)
    if entries:
        record_change(session, actor.org_id, "entry")
    return len(entries)


# --- what the bot reads ---------------------------------------------------------------------------------------------

def active_documents(session: Session, org_id: int, today: dt.date | None = None) -> list[FaqDocument]:
    """Every entry active today, with its similar questions, category path and answer (the matcher reads which
    subjects an answer names): the matcher's whole input. Three queries whatever the size of the knowledge base."""
    today = today or today_in_shanghai()
    rows = session.execute(select(KbEntry.id, KbEntry.question, KbEntry.category_id, KbEntry.answer)
                           .where(KbEntry.org_id == org_id, active_clause(today)).order_by(KbEntry.id)).all()
    # All the org's similar questions, filtered here rather than joined in SQL: right after a bulk import the
    # planner has no statistics and a join with the date conditions became a nested loop (20 s for 20,000 entries).
    similar: dict[int, list[str]] = {r.id: [] for r in rows}
    for entry_id, value in session.execute(
            select(KbSimilarQuestion.entry_id, KbSimilarQuestion.text)
            .where(KbSimilarQuestion.org_id == org_id).order_by(KbSimilarQuestion.id)):
        if entry_id in similar:
            similar[entry_id].append(value)
    paths = kb_categories.category_paths(session, org_id) if any(r.category_id for r in rows) else {}
    return [FaqDocument(entry_id=r.id, question=r.question, similar=tuple(similar.get(r.id, ())),
                        category=paths.get(r.category_id, "") if r.category_id else "", answer=r.answer or "")
            for r in rows]


def answer_contents(session: Session, org_id: int, entry_ids: Iterable[int],
                    today: dt.date | None = None) -> dict[int, EntryCard]:
    """``entry_card`` for many entries at once (the bot builds all its cards when it builds the matcher): entries
    not active today or not of this org are left out. Two queries plus one per 1,000 entries."""
    today = today or today_in_shanghai()
    wanted = list(dict.fromkeys(entry_ids))
    entries: list[KbEntry] = []
    for start in range(0, len(wanted), 1000):
        entries.extend(session.scalars(org_query(KbEntry, org_id).where(
            KbEntry.id.in_(wanted[start:start + 1000]), active_clause(today))))
    related_ids = list({i for e in entries for i in (e.related_ids or ())})
    questions: dict[int, str] = {}
    for start in range(0, len(related_ids), 1000):
        questions.update((i, q) for i, q in session.execute(select(KbEntry.id, KbEntry.question).where(
            KbEntry.org_id == org_id, KbEntry.id.in_(related_ids[start:start + 1000]), active_clause(today))))
    paths = kb_categories.category_paths(session, org_id) if any(e.category_id for e in entries) else {}
    return {e.id: EntryCard(
        entry_id=e.id, question=e.question, answer=e.answer, images=tuple(e.images or ()),
        buttons=tuple({"label": str(b.get("label", "")), "payload": str(b.get("payload", ""))}
                      for b in e.buttons or ()),
        related=tuple(questions[i] for i in e.related_ids or () if i in questions),
        category=paths.get(e.category_id, "") if e.category_id else "") for e in entries}


def entry_card(session: Session, org_id: int, entry_id: int, today: dt.date | None = None) -> EntryCard | None:
    """What the bot shows for an entry, or None when it is not active today (deleted or disabled since the
    matcher was built, or outside its dates) or not an entry of this org."""
    return answer_contents(session, org_id, [entry_id], today).get(entry_id)


def hot_questions(session: Session, org_id: int, limit: int = 6, today: dt.date | None = None) -> list[str]:
    """Standard questions for the widget's 热门问题: pinned ones first (by position), then the most asked active
    entries. A click sends the standard question itself, so the text is all the widget needs."""
    today = today or today_in_shanghai()
    result = list(session.scalars(select(KbEntry.question).where(
        KbEntry.org_id == org_id, active_clause(today), KbEntry.hot_pinned.is_(True))
        .order_by(KbEntry.hot_position, KbEntry.id).limit(limit)))
    if len(result) < limit:
        result.extend(session.scalars(select(KbEntry.question).where(
            KbEntry.org_id == org_id, active_clause(today), KbEntry.hot_pinned.is_(False), KbEntry.ask_count > 0)
            .order_by(KbEntry.ask_count.desc(), KbEntry.id).limit(limit - len(result))))
    return result


def record_answer(session: Session, org_id: int, entry_id: int) -> None:
    """Counts one answer: a single UPDATE, no read, no updated_at change (hot path of every bot answer)."""
    session.execute(update(KbEntry).where(KbEntry.org_id == org_id, KbEntry.id == entry_id)
                    .values(ask_count=KbEntry.ask_count + 1).execution_options(synchronize_session=False))


def record_miss(session: Session, org_id: int, query: str, reason: MissReason | str, *,
                conversation_id: int | None = None, message_id: int | None = None,
                entry_id: int | None = None) -> KbMiss | None:
    """Logs a visitor question the bot could not answer (one INSERT at the next flush); blank text logs nothing."""
    query = query.strip()[:MAX_MISS_CHARS]
    if not query:
        return None
    miss = KbMiss(org_id=org_id, query=query, query_norm=normalise(query), reason=MissReason(reason),
                  conversation_id=conversation_id, message_id=message_id, entry_id=entry_id, resolution="")
    session.add(miss)
    return miss


def record_feedback(session: Session, org_id: int, message_id: int, entry_id: int | None, helpful: bool, *,
                    query: str = "", conversation_id: int | None = None) -> AnswerFeedback:
    """The visitor's 👍/👎 on the bot answer ``message_id``. Idempotent per message: a second vote replaces the
    first. A down-vote also logs a ``downvoted`` miss (once per message and entry) with ``query`` — the visitor's
    question, which only the caller knows; without it the answered standard question stands in. Taking a down-vote
    back removes its still-unresolved miss."""
    entry = get_in_org(session, KbEntry, entry_id, org_id) if entry_id is not None else None
    feedback = session.scalars(org_query(AnswerFeedback, org_id).where(AnswerFeedback.message_id == message_id)).first()
    if feedback is None:
        feedback = AnswerFeedback(org_id=org_id, message_id=message_id, entry_id=entry_id, helpful=helpful)
        session.add(feedback)
    else:
        feedback.helpful, feedback.entry_id = helpful, entry_id
    if not helpful:
        record_downvote(session, org_id, message_id=message_id, entry_id=entry_id,
                        query=query or (entry.question if entry else ""), conversation_id=conversation_id)
    else:
        session.execute(delete(KbMiss).where(KbMiss.org_id == org_id, KbMiss.message_id == message_id,
                                             KbMiss.reason == MissReason.downvoted, KbMiss.resolved_at.is_(None)))
    return feedback


def record_downvote(session: Session, org_id: int, *, message_id: int, entry_id: int | None, query: str,
                    conversation_id: int | None = None) -> None:
    """Logs the ``downvoted`` miss of one answer in message ``message_id``, once (a resolved one is not logged
    again). A reply answering several questions has one per answered entry (see ``inbound.service.feedback``)."""
    downvotes = org_query(KbMiss, org_id).where(KbMiss.message_id == message_id,
                                                KbMiss.reason == MissReason.downvoted)
    if entry_id is not None:
        downvotes = downvotes.where(KbMiss.entry_id == entry_id)
    if session.scalars(downvotes.limit(1)).first() is None:
        record_miss(session, org_id, query, MissReason.downvoted, conversation_id=conversation_id,
                    message_id=message_id, entry_id=entry_id)


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------

def misses_of_conversations(session: Session, org_id: int, conversation_ids: list[int]) -> list[dict[str, Any]]:
    """The visitor's questions the knowledge base kept as unanswered (their own words)."""
    rows = session.scalars(select(KbMiss).where(KbMiss.org_id == org_id,
                                                KbMiss.conversation_id.in_(conversation_ids or [-1]))
                           .order_by(KbMiss.id))
    return [{"query": m.query, "reason": m.reason.value, "conversation_id": m.conversation_id,
             "created_at": m.created_at.isoformat()} for m in rows]


def forget_conversations(session: Session, org_id: int, conversation_ids: list[int]) -> int:
    """Deletes the unanswered questions asked in these conversations (free text from the visitor; the miss
    statistics lose them). Answer votes stay: a yes/no on a bot answer holds nothing about the person."""
    if not conversation_ids:
        return 0
    gone = session.execute(delete(KbMiss).where(KbMiss.org_id == org_id, KbMiss.conversation_id.in_(conversation_ids)))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
