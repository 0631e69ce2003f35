"""Properties of the knowledge-base import for any table a careless or hostile editor can save.

For any table of cells (formulas ``=…``, quotes, newlines, ``|``, separators, NUL, lone surrogates, huge cells,
blank rows, duplicate questions) saved as CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX, the import either reads
rows — each accepted or rejected with its row number and a reason — or rejects the file as a whole with an
``ImportFileError``; it never raises anything else and never accepts text a database cannot hold
(``edudesk.inputs.text_problem``). Export → import gives every entry back unchanged, formula-looking texts included.

The parse layer (bytes → rows → checked rows) takes most examples; the database layer (SQLite and PostgreSQL) takes
a few per backend, each example in one transaction that is rolled back, so examples do not see each other.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.orm import Session

from edudesk.db import Database
from edudesk.inputs import text_problem
from edudesk.kb import categories as kb_categories
from edudesk.kb import exporting, importing
from edudesk.kb.tabular import ImportFileError, read_table, unescape_cell
from edudesk.kb.text import KbError, clean_answer, clean_category_name, clean_question, normalise
from tests.conftest import TwoOrgs
from tests.hypothesis_settings import examples
from tests.kb.conftest import actor

HEADERS = [["question", "similar_questions", "answer", "category"], ["标准问", "相似问", "答案", "分类"],
           ["question", "answer"], ["answer", "category", "question"], ["foo", "bar"], ["\ufeffQuestion", "Answer"]]
SPECIAL_CELLS = [
    "", " ", "=1+1", '=HYPERLINK("http://evil.example","点我")', "+1", "-1", "@SUM(A1)", "'=x", "''=x", "'", "'abc",
    '"', '"quoted"', "a,b", "a;b", "a\tb", "a\nb", "a\r\nb", "a\rb", "|", "a|b", "a||b", "|a|", "\x00", "\x07",
    "\ud800", "\ufeff", "\ufffd", "课程/价格", "课程／价格", "/", "//", "a/b/c/d/e/f", "x" * 201, "答" * 2001, "１２３",
    "問題", "钢琴课多少钱？", "😀", "\u202e", "<script>alert(1)</script>", "'; DROP TABLE kb_entries; --",
]
ANY_CHAR = st.characters(codec=None, exclude_categories=())
cells = st.one_of(st.sampled_from(SPECIAL_CELLS), st.text(ANY_CHAR, max_size=12),
                  st.text("钢琴课多少钱怎么报名试听？ 价格|=/'\"", max_size=20))
# A few repeated questions: duplicates (also after normalising) are the commonest mistake in a real file.
questions = st.one_of(cells, st.sampled_from(["钢琴课多少钱？", "钢琴课多少钱?", " 钢琴课多少钱？ ", "ＡＢＣ", "abc"]))
tables = st.lists(st.lists(st.one_of(questions, cells), max_size=5), max_size=8)
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "xlsx"]


def encode(header: Sequence[str], rows: Sequence[Sequence[str]], encoding: str) -> bytes:
    """The table as the file a person would upload (a cell no encoding can hold is written as broken bytes)."""
    if encoding == "xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for r, row in enumerate([header, *rows], start=1):
            for c, value in enumerate(row, start=1):
                # XLSX (XML) can hold neither control characters nor surrogates: what Excel would save instead.
                clean = ILLEGAL_CHARACTERS_RE.sub("", value).encode("utf-8", "replace").decode("utf-8")
                sheet.cell(r, c).value = clean or None
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    text = out.getvalue()
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")  # invalid UTF-8: must be rejected, never stored


def parse(data: bytes, filename: str) -> tuple[list[importing._Row], list[tuple[int, str]]] | ImportFileError:
    """The pure import layer: the file's accepted rows and (line, reason) of its rejected ones, or its error."""
    try:
        table = read_table(data, filename)
    except ImportFileError as exc:
        return exc
    accepted: list[importing._Row] = []
    rejected: list[tuple[int, str]] = []
    for raw in table.rows:
        try:
            accepted.append(importing._parse(raw, "category" in table.columns))
        except KbError as exc:
            rejected.append((raw.line, exc.message))
    return accepted, rejected


def _storable(row: importing._Row) -> None:
    for text in (row.question, row.answer, *row.similar, *(row.category or ())):
        assert text_problem(text) is None, repr(text)
        assert text == text.strip() and text


@settings(max_examples=examples(150))
@given(st.sampled_from(HEADERS), tables, st.sampled_from(ENCODINGS))
def test_any_table_is_read_row_by_row_or_refused_whole(header: list[str], rows: list[list[str]],
                                                       encoding: str) -> None:
    filename = "kb.xlsx" if encoding == "xlsx" else "kb.csv"
    result = parse(encode(header, rows, encoding), filename)
    if isinstance(result, ImportFileError):
        assert result.code and result.message and result.field == "file"
        return
    accepted, rejected = result
    for row in accepted:
        _storable(row)
    assert all(reason for _, reason in rejected)
    # Row numbers are the ones a person sees in Excel: the header is row 1, blank rows are skipped but counted.
    lines = sorted([r.line for r in accepted] + [line for line, _ in rejected])
    if encoding == "xlsx":
        written = [[ILLEGAL_CHARACTERS_RE.sub("", c).encode("utf-8", "replace").decode() for c in r] for r in rows]
    else:
        written = rows
    assert lines == [i + 2 for i, row in enumerate(written) if any(c.strip() for c in row)]


@settings(max_examples=examples(60))
@given(st.lists(st.lists(cells, min_size=4, max_size=4), min_size=1, max_size=4), st.sampled_from(ENCODINGS))
def test_a_row_with_text_no_database_can_hold_is_rejected(rows: list[list[str]], encoding: str) -> None:
    bad = ["\x00", "\ud800", "\x07", "\x1b[31m"]
    rows = [*rows, ["好问题", "", "答案" + bad[len(rows) % len(bad)], ""]]
    result = parse(encode(HEADERS[0], rows, "utf-8" if encoding == "xlsx" else encoding), "kb.csv")
    if isinstance(result, ImportFileError):
        assert result.code in ("binary", "bad_csv")  # NUL makes the CSV binary: refused whole, also fine
        return
    accepted, rejected = result
    assert len(rows) + 1 in [line for line, _ in rejected]
    for row in accepted:
        _storable(row)


# ---- export → import ----------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("=+-@'|/ \n\r\t"),
               min_size=1, max_size=40)


def _clean_or_none(func: object, value: str) -> str | None:
    try:
        return func(value)  # type: ignore[operator, no-any-return]
    except KbError:
        return None


@st.composite
def entries(draw: st.DrawFn) -> list[tuple[str, str, str, str]]:
    """Entries as the knowledge base stores them (cleaned texts, unique questions), as export rows."""
    out: list[tuple[str, str, str, str]] = []
    taken: set[str] = set()
    for _ in range(draw(st.integers(1, 5))):
        question = _clean_or_none(clean_question, draw(st.one_of(TEXT, st.sampled_from(["=1+1", "'=1", "''=x"]))))
        answer = _clean_or_none(clean_answer, draw(st.one_of(TEXT, st.sampled_from(["-5", "@x", "'+1", "a\rb"]))))
        if question is None or answer is None or normalise(question) in taken:
            continue
        similar: list[str] = []
        for raw in draw(st.lists(TEXT, max_size=3)):
            text = _clean_or_none(clean_question, raw)
            if text is not None and "|" not in text and normalise(text) not in taken | {normalise(question)}:
                taken.add(normalise(text))
                similar.append(text)
        names = [_clean_or_none(clean_category_name, n) for n in draw(st.lists(TEXT, max_size=3))]
        category = "/".join(n for n in names if n is not None)
        if any(text_problem(t) for t in (question, answer, category, *similar)):
            continue
        taken.add(normalise(question))
        out.append((question, "|".join(similar), answer, category))
    return out


def _as_rows(rows: list[importing._Row]) -> list[tuple[str, str, str, str]]:
    return [(r.question, "|".join(r.similar), r.answer, "/".join(r.category or ())) for r in rows]


@settings(max_examples=examples(100))
@given(entries(), st.sampled_from(["csv", "xlsx"]))
def test_export_then_import_gives_every_entry_back(rows: list[tuple[str, str, str, str]], fmt: str) -> None:
    data = exporting.to_csv(rows) if fmt == "csv" else exporting.to_xlsx(rows)
    result = parse(data, f"kb.{fmt}")
    assert not isinstance(result, ImportFileError), result
    accepted, rejected = result
    assert rejected == []
    assert _as_rows(accepted) == rows


@settings(max_examples=examples(100))
@given(st.text(ANY_CHAR, max_size=20))
def test_escape_is_undone_by_the_import(text: str) -> None:
    from edudesk.kb.tabular import escape_cell

    stripped = text.strip()
    assert unescape_cell(escape_cell(stripped)) == stripped


# ---- the database layer -------------------------------------------------------------------------------------------


def _stored(session: Session, org_id: int) -> list[tuple[str, str, str, str]]:
    return sorted(exporting.export_rows(session, org_id))


@settings(max_examples=examples(12), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from(HEADERS[:4]), rows=tables, encoding=st.sampled_from(ENCODINGS))
def test_import_into_the_database(database: Database, orgs: TwoOrgs, header: list[str], rows: list[list[str]],
                                  encoding: str) -> None:
    """Whatever the file, the import reports or refuses it, stores only storable text, and its export imports
    back unchanged; each example is rolled back."""
    data = encode(header, rows, encoding)
    filename = "kb.xlsx" if encoding == "xlsx" else "kb.csv"
    with database.session() as session:
        try:
            try:
                report = importing.import_entries(session, actor(orgs.a.id), data, filename)
            except ImportFileError as exc:
                assert exc.message
                return
            session.flush()
            stored = _stored(session, orgs.a.id)
            assert report.created == len(stored)
            assert report.rows == report.created + report.updated + report.unchanged + len(report.rejected)
            for row in stored:
                assert all(text_problem(cell) is None for cell in row)
            assert all(r.line >= 2 and r.reason for r in report.rejected)
            if not stored:
                return
            for fmt in ("csv", "xlsx"):
                again = importing.import_entries(session, actor(orgs.a.id), exporting.to_csv(stored) if fmt == "csv"
                                                 else exporting.to_xlsx(stored), f"kb.{fmt}")
                assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, len(stored), [])
            assert _stored(session, orgs.a.id) == stored
            assert kb_categories.category_paths(session, orgs.b.id) == {}
        finally:
            session.rollback()


@settings(max_examples=examples(8), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=entries())
def test_entries_round_trip_through_the_database(database: Database, orgs: TwoOrgs,
                                                 rows: list[tuple[str, str, str, str]]) -> None:
    with database.session() as session:
        try:
            report = importing.import_entries(session, actor(orgs.a.id), exporting.to_xlsx(rows), "kb.xlsx")
            assert (report.created, report.rejected) == (len(rows), [])
            session.flush()
            assert _stored(session, orgs.a.id) == sorted(rows)
            again = importing.import_entries(session, actor(orgs.a.id), exporting.to_csv(sorted(rows)), "kb.csv")
            assert (again.created, again.updated, again.unchanged) == (0, 0, len(rows))
        finally:
            session.rollback()


# ---- regressions found by the properties --------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "column"), [("答案\x07", 2), ("问题\x1b", 0), ("相似\x0c问", 1), ("分类\x7f", 3)])
def test_control_characters_reject_the_row(cell: str, column: int) -> None:
    row = ["好问题", "", "好答案", "课程"]
    row[column] = cell
    result = parse(encode(HEADERS[0], [["钢琴课多少钱", "", "300 元", ""], row], "utf-8"), "kb.csv")
    assert not isinstance(result, ImportFileError)
    accepted, rejected = result
    assert [r.question for r in accepted] == ["钢琴课多少钱"]
    assert rejected[0][0] == 3 and "控制字符" in rejected[0][1]


@pytest.mark.parametrize("text", ["'=1+1", "''=x", "'-5", "'@home", "'+86 138"])
def test_a_text_starting_with_quote_and_formula_sign_round_trips(text: str) -> None:
    rows = [(text, "", text, "")]
    for data, name in ((exporting.to_csv(rows), "kb.csv"), (exporting.to_xlsx(rows), "kb.xlsx")):
        result = parse(data, name)
        assert not isinstance(result, ImportFileError)
        assert _as_rows(result[0]) == rows


def test_a_lone_carriage_return_in_an_answer_round_trips_through_xlsx() -> None:
    assert clean_answer("第一行\r第二行") == "第一行\n第二行"


def test_a_full_width_slash_is_not_part_of_a_category_name() -> None:
    with pytest.raises(KbError):
        clean_category_name("课程／价格")
    assert unicodedata.normalize("NFKC", "／") == "/"
