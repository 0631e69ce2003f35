"""Exporting the knowledge base in the import format, CSV (UTF-8 with BOM, so Excel opens it) or XLSX.

Cells that a spreadsheet would run as a formula are written with a leading "'" (the importer removes it again),
so an export opened in Excel or WPS never executes visitor-influenced text such as a similar question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import spreadsheets
from edudesk.audit import service as audit_service
from edudesk.kb import categories as kb_categories
from edudesk.kb.models import KbEntry, KbSimilarQuestion
from edudesk.kb.tabular import COLUMNS, escape_cell
from edudesk.kb.text import SIMILAR_SEPARATOR, KbError

ExportFormat = Literal["csv", "xlsx"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export_rows(session: Session, org_id: int, category_id: int | None = None) -> list[tuple[str, str, str, str]]:
    """Every live entry (enabled or not), optionally of one category and its subcategories, by category path."""
    where = [KbEntry.org_id == org_id, KbEntry.deleted_at.is_(None)]
    if category_id is not None:
        where.append(KbEntry.category_id.in_(kb_categories.descendant_ids(session, org_id, category_id)))
    entries = session.execute(select(KbEntry.id, KbEntry.question, KbEntry.answer, KbEntry.category_id)
                              .where(*where).order_by(KbEntry.id)).all()
    similar: dict[int, list[str]] = {e.id: [] for e in entries}
    for entry_id, text in session.execute(  # no join: see kb.service.active_documents
            select(KbSimilarQuestion.entry_id, KbSimilarQuestion.text)
            .where(KbSimilarQuestion.org_id == org_id).order_by(KbSimilarQuestion.id)):
        if entry_id in similar:
            similar[entry_id].append(text)
    paths = kb_categories.category_paths(session, org_id)
    rows = [(e.question, SIMILAR_SEPARATOR.join(similar.get(e.id, ())), e.answer,
             paths.get(e.category_id, "") if e.category_id else "") for e in entries]
    return sorted(rows, key=lambda r: r[3])  # stable: by category, then in creation order


def _escaped(rows: list[tuple[str, str, str, str]]) -> list[list[str]]:
    """The import format's escape (``tabular.escape_cell``), so that export → import gives every text back."""
    return [[escape_cell(cell) for cell in row] for row in rows]


def to_csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    return spreadsheets.to_csv(COLUMNS, _escaped(rows))


def to_xlsx(rows: list[tuple[str, str, str, str]]) -> bytes:
    return spreadsheets.to_xlsx(COLUMNS, _escaped(rows), "knowledge_base")


@dataclass(frozen=True)
class Export:
    data: bytes
    entries: int


def export_entries(session: Session, actor: audit_service.Actor, fmt: str = "csv",
                   category_id: int | None = None) -> Export:
    """The file's bytes; the export is audited (who took the knowledge base out, how much of it)."""
    if fmt not in FORMATS:
        raise KbError("bad_format", "导出格式只能是 csv 或 xlsx", "format")
    rows = export_rows(session, actor.org_id, category_id)
    data = to_csv(rows) if fmt == "csv" else to_xlsx(rows)
    audit_service.record(session, actor, "kb.export", "kb_entries", category_id or "all", format=fmt,
                         entries=len(rows))
    return Export(data, len(rows))
