"""Importing a knowledge-base file: upsert by standard question, with a report of every rejected row.

Decision (docs/decisions.md, "Knowledge-base import"): valid rows are imported and rejected rows are reported with
their row number and reason; a file-level problem (unreadable, wrong header, too many rows) imports nothing.
Everything happens in the caller's one transaction, so an exception leaves the stored entries as they were.

A row's texts (standard question and similar questions) may not belong to another entry afterwards. Texts of
entries that the file itself rewrites are released first, so a file can move a similar question from one entry
to another; if the row of such an entry is rejected, its entry keeps its texts and the check runs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.db import utcnow
from edudesk.inputs import text_problem
from edudesk.kb import categories as kb_categories
from edudesk.kb.changes import record_change
from edudesk.kb.models import KbEntry, KbSimilarQuestion
from edudesk.kb.tabular import ImportFileError, RawRow, read_table
from edudesk.kb.text import SIMILAR_SEPARATOR, KbError, clean_answer, clean_question, clean_similar, normalise
from edudesk.spreadsheets import XlsxLimits

__all__ = ["ImportFileError", "ImportReport", "Rejected", "import_entries"]

CHUNK = 500


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str
    question: str = ""


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    categories_created: list[str] = field(default_factory=list)
    dry_run: bool = False
    format: str = ""

    @property
    def all_rejected(self) -> bool:
        return self.rows > 0 and len(self.rejected) == self.rows


@dataclass
class _Row:
    line: int
    question: str
    norm: str
    answer: str
    similar: list[str]
    # None: the file has no category column, so an update keeps the entry's category.
    category: list[str] | None
    target: int | None = None

    def texts(self) -> list[tuple[str, str, bool]]:
        return [(self.norm, self.question, True), *((normalise(s), s, False) for s in self.similar)]


@dataclass
class _Stored:
    id: int
    question: str
    answer: str
    category_id: int | None
    similar: dict[str, tuple[int, str]]  # norm → (row id, text)


# The cells a row is made of, with the name the import report gives them.
_CELL_LABELS = (("question", "标准问"), ("similar_questions", "相似问"), ("answer", "答案"), ("category", "分类"))


def _parse(raw: RawRow, has_category: bool) -> _Row:
    if raw.bad_encoding:
        raise KbError("encoding", "编码错误：这一行有无法识别的字符（请用 UTF-8 或 GBK 编码保存）")
    # NUL, lone surrogates and control characters: PostgreSQL refuses the first, no database can hold the second
    # as text, and none belongs in an answer a parent reads (edudesk.inputs), so the row is rejected, not stored.
    for name, label in _CELL_LABELS:
        problem = text_problem(raw.cells.get(name, ""))
        if problem:
            raise KbError("bad_text", f"{label}{problem}", name)
    question = clean_question(raw.cells.get("question", ""))
    answer = clean_answer(raw.cells.get("answer", ""))
    similar = clean_similar(raw.cells.get("similar_questions", "").split(SIMILAR_SEPARATOR), question)
    category = kb_categories.split_path(raw.cells.get("category", "")) if has_category else None
    return _Row(raw.line, question, normalise(question), answer, similar, category)


def _load_stored(session: Session, org_id: int) -> dict[str, _Stored]:
    stored: dict[str, _Stored] = {}
    by_id: dict[int, _Stored] = {}
    for eid, question, norm, answer, category_id in session.execute(
            select(KbEntry.id, KbEntry.question, KbEntry.question_norm, KbEntry.answer, KbEntry.category_id)
            .where(KbEntry.org_id == org_id, KbEntry.deleted_at.is_(None))):
        stored[norm] = by_id[eid] = _Stored(eid, question, answer, category_id, {})
    for sid, eid, text, norm in session.execute(  # no join: see kb.service.active_documents
            select(KbSimilarQuestion.id, KbSimilarQuestion.entry_id, KbSimilarQuestion.text,
                   KbSimilarQuestion.text_norm).where(KbSimilarQuestion.org_id == org_id)):
        if eid in by_id:
            by_id[eid].similar[norm] = (sid, text)
    return stored


def _conflicts(rows: list[_Row], stored: dict[str, _Stored]) -> dict[int, str]:
    """Row line → reason for rows whose texts would belong to two entries (see the module docstring)."""
    owner: dict[str, _Stored] = {}
    for entry in stored.values():
        owner[normalise(entry.question)] = entry
        for norm in entry.similar:
            owner.setdefault(norm, entry)
    kept: set[int] = set()  # entries whose row is rejected: they keep their texts
    while True:
        released = {r.target for r in rows if r.target is not None} - kept
        claimed: dict[str, _Row] = {}
        rejected: dict[int, str] = {}
        for row in rows:
            reason = None
            for norm, text, is_question in row.texts():
                what = "标准问" if is_question else "相似问"
                other = claimed.get(norm)
                if other is not None:
                    reason = f"{what}“{text}”与第 {other.line} 行重复"
                    break
                holder = owner.get(norm)
                if holder is not None and holder.id != row.target and holder.id not in released:
                    reason = f"{what}“{text}”已属于词条 #{holder.id}“{holder.question}”"
                    break
            if reason:
                rejected[row.line] = reason
            else:
                claimed.update((norm, row) for norm, _, _ in row.texts())
        newly_kept = {r.target for r in rows if r.line in rejected and r.target is not None} - kept
        if not newly_kept:
            return rejected
        kept |= newly_kept


def import_entries(session: Session, actor: audit_service.Actor, data: bytes, filename: str = "", *,
                   dry_run: bool = False, xlsx_limits: XlsxLimits | None = None) -> ImportReport:
    """Reads ``data`` (CSV or XLSX) and upserts its rows into the actor's org; raises ImportFileError when the
    file as a whole cannot be used (an XLSX over ``xlsx_limits`` is refused before it is parsed). With
    ``dry_run`` nothing is written: the report says what would happen."""
    table = read_table(data, filename, xlsx_limits)
    has_category = "category" in table.columns
    report = ImportReport(rows=len(table.rows), dry_run=dry_run, format=table.format)
    rejected: dict[int, str] = {}
    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    stored = _load_stored(session, actor.org_id)
    for raw in table.rows:
        try:
            row = _parse(raw, has_category)
        except KbError as exc:
            rejected[raw.line] = exc.message
            continue
        if row.norm in first_line:
            rejected[raw.line] = f"标准问“{row.question}”与第 {first_line[row.norm]} 行重复"
            continue
        first_line[row.norm] = row.line
        target = stored.get(row.norm)
        row.target = target.id if target else None
        rows.append(row)
    conflicts = _conflicts(rows, stored)
    rejected.update(conflicts)
    rows = [r for r in rows if r.line not in conflicts]
    questions = {raw.line: raw.cells.get("question", "") for raw in table.rows}
    report.rejected = [Rejected(line, reason, questions.get(line, "")[:50])
                       for line, reason in sorted(rejected.items())]

    known = kb_categories.known_paths(session, actor.org_id)
    for row in rows:
        path = "/".join(row.category or ())
        if path and tuple(row.category or ()) not in known and path not in report.categories_created:
            report.categories_created.append(path)
    by_id = {s.id: s for s in stored.values()}
    creates = [r for r in rows if r.target is None]
    updates = [r for r in rows if r.target is not None and _differs(r, by_id[r.target], known)]
    report.created, report.updated = len(creates), len(updates)
    report.unchanged = len(rows) - len(creates) - len(updates)
    if dry_run:
        return report

    for row in rows:
        if row.category:
            kb_categories.ensure_path(session, actor.org_id, row.category, known)
    _write(session, actor, creates, updates, by_id, known)
    audit_service.record(session, actor, "kb.import", "kb_entries", filename[:64] or "upload", format=table.format,
                         rows=report.rows, created=report.created, updated=report.updated,
                         unchanged=report.unchanged, rejected=len(report.rejected),
                         categories_created=report.categories_created[:50])
    if creates or updates or report.categories_created:
        record_change(session, actor.org_id, "import")
    return report


def _category_id(row: _Row, known: dict[tuple[str, ...], int], current: int | None) -> int | None:
    if row.category is None:
        return current
    return known.get(tuple(row.category)) if row.category else None


def _differs(row: _Row, entry: _Stored, known: dict[tuple[str, ...], int]) -> bool:
    if row.category and tuple(row.category) not in known:
        return True  # its category does not exist yet
    return (row.question != entry.question or row.answer != entry.answer
            or _category_id(row, known, entry.category_id) != entry.category_id
            or {normalise(s): s for s in row.similar} != {n: t for n, (_, t) in entry.similar.items()})


def _write(session: Session, actor: audit_service.Actor, creates: list[_Row], updates: list[_Row],
           by_id: dict[int, _Stored], known: dict[tuple[str, ...], int]) -> None:
    """Bulk statements: a 20,000-row file costs a few dozen round trips, not a hundred thousand."""
    now, org_id = utcnow(), actor.org_id
    similar_rows: list[dict[str, object]] = []
    for start in range(0, len(creates), CHUNK):
        chunk = creates[start:start + CHUNK]
        ids = session.scalars(insert(KbEntry).returning(KbEntry.id, sort_by_parameter_order=True), [
            {"org_id": org_id, "question": r.question, "question_norm": r.norm, "answer": r.answer,
             "category_id": _category_id(r, known, None), "images": [], "buttons": [], "related_ids": [],
             "enabled": True, "hot_pinned": False, "hot_position": 0, "ask_count": 0, "created_at": now,
             "updated_at": now, "updated_by": actor.label} for r in chunk]).all()
        for row, entry_id in zip(chunk, ids, strict=True):
            similar_rows.extend({"org_id": org_id, "entry_id": entry_id, "text": s, "text_norm": normalise(s)}
                                for s in row.similar)
    gone: list[int] = []
    changes: list[dict[str, object]] = []
    for row in updates:
        entry = by_id[row.target or 0]
        changes.append({"id": entry.id, "question": row.question, "answer": row.answer,
                        "category_id": _category_id(row, known, entry.category_id), "updated_at": now,
                        "updated_by": actor.label})
        wanted = {normalise(s): s for s in row.similar}
        gone.extend(sid for norm, (sid, _) in entry.similar.items() if norm not in wanted)
        for norm, text in wanted.items():
            if norm not in entry.similar:
                similar_rows.append({"org_id": org_id, "entry_id": entry.id, "text": text, "text_norm": norm})
            elif entry.similar[norm][1] != text:
                gone.append(entry.similar[norm][0])
                similar_rows.append({"org_id": org_id, "entry_id": entry.id, "text": text, "text_norm": norm})
    for start in range(0, len(changes), CHUNK):
        session.execute(update(KbEntry), changes[start:start + CHUNK])
    for start in range(0, len(gone), CHUNK):
        session.execute(delete(KbSimilarQuestion).where(KbSimilarQuestion.org_id == org_id,
                                                        KbSimilarQuestion.id.in_(gone[start:start + CHUNK])))
    for start in range(0, len(similar_rows), CHUNK * 4):
        session.execute(insert(KbSimilarQuestion), similar_rows[start:start + CHUNK * 4])
