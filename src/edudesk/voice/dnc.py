"""The do-not-call list (免打扰名单) as staff and integrators manage it: list, add, import, export, remove.

Adding goes through ``voice.service.add_do_not_call`` (the one place that also cancels queued calls to the
number). An import is all or nothing: every row is checked first, and one bad number leaves the list as it was,
with the line named in the error. Exports and removals are audited (a removal makes a number callable again).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from edudesk import spreadsheets
from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.db import NotFoundError
from edudesk.inputs import text_problem
from edudesk.voice import service as voice_service
from edudesk.voice.models import DoNotCall
from edudesk.voice.service import VoiceError

REASON_MAX = 200
MAX_IMPORT_ROWS = 50_000
EXPORT_LIMIT = 200_000
EXPORT_COLUMNS = ("号码", "原因", "来源", "添加时间", "添加人")
SOURCE_LABELS = {"manual": "手动添加", "asked": "通话中要求", "import": "导入", "api": "API"}
PHONE_HEADERS = {"号码", "电话", "手机号", "手机", "phone", "phone_e164", "number", "mobile"}
REASON_HEADERS = {"原因", "备注", "reason", "note"}


@dataclass(frozen=True)
class DncPage:
    rows: list[DoNotCall]
    total: int
    page: int
    per_page: int


def _reason(raw: str, field: str = "reason") -> str:
    reason = raw.strip()
    if len(reason) > REASON_MAX:
        raise VoiceError("reason_too_long", f"原因不能超过 {REASON_MAX} 个字", field)
    problem = text_problem(reason)
    if problem:
        raise VoiceError("bad_reason", f"原因{problem}", field)
    return reason


def normalise(raw: str) -> str:
    """``voice.service.normalise_phone`` (which takes the E.164 form this list stores and exports) after an
    exported cell's formula escape (``'+86…``): an exported file imports again."""
    raw = raw.strip()
    if raw.startswith("'") and raw[1:2] in spreadsheets.FORMULA_PREFIXES:
        raw = raw[1:]
    return voice_service.normalise_phone(raw)


def search(session: Session, org_id: int, *, phone: str = "", page: int = 1, per_page: int = 50) -> DncPage:
    """Newest first; ``phone`` filters on digits the number contains (``138`` or ``0013``)."""
    stmt = select(DoNotCall).where(DoNotCall.org_id == org_id)
    digits = "".join(c for c in phone if c.isdigit())[:20]
    if digits:
        stmt = stmt.where(DoNotCall.phone_e164.contains(digits, autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(DoNotCall.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return DncPage(list(rows), int(total), page, per_page)


def count(session: Session, org_id: int) -> int:
    return int(session.scalar(select(func.count(DoNotCall.id)).where(DoNotCall.org_id == org_id)) or 0)


def add(session: Session, actor: Actor, raw_phone: str, *, reason: str = "", source: str = "manual") -> DoNotCall:
    """One number; an invalid one is a VoiceError on the field ``phone``. Already listed: the first entry stays."""
    phone = normalise(raw_phone)
    row = voice_service.add_do_not_call(
        session, actor.org_id, phone, reason=_reason(reason), source=source, created_by=actor.label
    )
    audit_service.record(session, actor, "voice_dnc.add", "do_not_call", row.id, source=source)
    return row


def remove(session: Session, actor: Actor, raw_phone: str) -> None:
    """Takes a number off the list (audited with the number: who made it callable again must be answerable)."""
    try:
        phone = normalise(raw_phone)
    except VoiceError:
        raise NotFoundError("do_not_call", raw_phone[:40]) from None
    row = session.scalar(select(DoNotCall).where(DoNotCall.org_id == actor.org_id, DoNotCall.phone_e164 == phone))
    if row is None:
        raise NotFoundError("do_not_call", phone)
    audit_service.record(
        session, actor, "voice_dnc.remove", "do_not_call", row.id, phone=phone, reason=row.reason, source=row.source
    )
    session.execute(delete(DoNotCall).where(DoNotCall.id == row.id))


# --- import -----------------------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise VoiceError("bad_encoding", "无法识别文件编码，请另存为 UTF-8 的 CSV", "file") from None


def _csv_rows(data: bytes) -> list[list[str]]:
    text = _decode(data)
    if "\x00" in text:
        raise VoiceError("bad_file", "文件不是 CSV 文本（含空字符）", "file")
    try:
        return [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise VoiceError("bad_csv", f"CSV 格式有误：{exc}", "file") from None


def _xlsx_rows(data: bytes, limits: spreadsheets.XlsxLimits) -> list[list[str]]:
    try:
        spreadsheets.check_xlsx(data, limits)
    except spreadsheets.SpreadsheetRejected as exc:
        raise VoiceError(exc.code, exc.message, "file") from None
    try:
        book = spreadsheets.load_workbook(data)
    except Exception as exc:  # a broken zip or XML: openpyxl has many ways to say "broken"
        raise VoiceError("bad_xlsx", f"XLSX 文件已损坏或不完整，无法读取（{type(exc).__name__}）", "file") from None
    try:
        rows: list[list[str]] = []
        for values in book.worksheets[0].iter_rows(values_only=True) if book.worksheets else []:
            cells = [
                "" if v is None else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values
            ]
            if any(c.strip() for c in cells):
                rows.append(cells)
            if len(rows) > MAX_IMPORT_ROWS + 1:
                break
        return rows
    except Exception as exc:
        raise VoiceError("bad_xlsx", f"XLSX 文件已损坏或不完整，无法读取（{type(exc).__name__}）", "file") from None
    finally:
        book.close()


@dataclass(frozen=True)
class ImportResult:
    added: int
    already: int


def parse_file(data: bytes, filename: str, limits: spreadsheets.XlsxLimits) -> list[tuple[str, str]]:
    """(E.164, reason) per row; the first row is a header when its first cell is not a number. Any bad row: the
    whole file is refused, naming the line."""
    if not data:
        raise VoiceError("empty", "文件是空的", "file")
    is_xlsx = filename.lower().endswith(".xlsx") or data[:2] == b"PK"
    rows = _xlsx_rows(data, limits) if is_xlsx else _csv_rows(data)
    if not rows:
        raise VoiceError("empty", "文件是空的", "file")
    phone_col, reason_col, start = 0, 1, 0
    header = [c.strip().lower() for c in rows[0]]
    if any(h in PHONE_HEADERS for h in header):
        phone_col = next(i for i, h in enumerate(header) if h in PHONE_HEADERS)
        reason_col = next((i for i, h in enumerate(header) if h in REASON_HEADERS), -1)
        start = 1
    if len(rows) - start > MAX_IMPORT_ROWS:
        raise VoiceError("too_many_rows", f"一次最多导入 {MAX_IMPORT_ROWS} 个号码", "file")
    if len(rows) - start == 0:
        raise VoiceError("no_rows", "文件里只有表头，没有号码", "file")
    out: list[tuple[str, str]] = []
    for index, row in enumerate(rows[start:], start=start + 1):
        raw = row[phone_col] if phone_col < len(row) else ""
        try:
            phone = normalise(raw)
        except VoiceError:
            raise VoiceError("bad_row", f"第 {index} 行的号码无效：{raw[:40]}（文件未导入）", "file") from None
        reason = row[reason_col] if 0 <= reason_col < len(row) else ""
        try:
            out.append((phone, _reason(reason, "file")))
        except VoiceError as exc:
            raise VoiceError("bad_row", f"第 {index} 行：{exc.message}（文件未导入）", "file") from None
    return out


def import_file(
    session: Session, actor: Actor, data: bytes, filename: str, limits: spreadsheets.XlsxLimits
) -> ImportResult:
    entries = parse_file(data, filename, limits)
    phones = {p for p, _ in entries}
    listed = select(DoNotCall.phone_e164).where(DoNotCall.org_id == actor.org_id)
    # Past a thousand numbers an IN list is slower than reading the org's list once.
    known = set(session.scalars(listed if len(phones) > 1000 else listed.where(DoNotCall.phone_e164.in_(phones))))
    added = 0
    seen: set[str] = set()
    for phone, reason in entries:
        if phone in seen or phone in known:
            continue
        seen.add(phone)
        voice_service.add_do_not_call(
            session, actor.org_id, phone, reason=reason, source="import", created_by=actor.label
        )
        added += 1
    audit_service.record(
        session, actor, "voice_dnc.import", "do_not_call", None, filename=filename[:100], rows=len(entries), added=added
    )
    return ImportResult(added=added, already=len(entries) - added)


def export_rows(session: Session, actor: Actor, fmt: str) -> list[list[object]]:
    """Every number of the org's list (audited: the file carries full numbers)."""
    rows = session.scalars(
        select(DoNotCall).where(DoNotCall.org_id == actor.org_id).order_by(DoNotCall.id).limit(EXPORT_LIMIT)
    ).all()
    audit_service.record(session, actor, "voice_dnc.export", "do_not_call", None, format=fmt, rows=len(rows))
    return [
        [
            r.phone_e164,
            r.reason,
            SOURCE_LABELS.get(r.source, r.source),
            r.created_at.isoformat(timespec="seconds"),
            r.created_by,
        ]
        for r in rows
    ]
