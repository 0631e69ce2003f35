"""``edudesk eval faq``: how well the FAQ matcher answers a labelled set of questions against a knowledge base.

Files (architecture, "File formats"):

- knowledge base, CSV or XLSX: ``question,similar_questions,answer,category``; ``similar_questions`` joined by
  ``|``. Only ``question`` is required here; ``answer`` and ``category`` are not used by matching.
- test set, CSV (or XLSX): ``query,expected_question``; an empty ``expected_question`` means the question is out of
  scope and should not be answered directly.

CSV files may be UTF-8 with or without a BOM (Excel writes one) or GBK (Excel "CSV" on Chinese Windows).

Metrics, each a fraction in 0..1 unless noted; "in scope" means the row has an expected question:

- ``top1``: the best candidate is the expected entry (whatever the band), over in-scope queries;
- ``top3``: the expected entry is among the first three candidates, over in-scope queries;
- ``answered``: answered directly (band ``answer``), over in-scope queries;
- ``wrong_answer_rate``: answered directly with another entry, over in-scope queries;
- ``out_of_scope``: the number of out-of-scope rows; ``refused``: the share of them not answered directly
  (0 when there are none);
- ``queries_per_second``: matching throughput, one query at a time, index build excluded.

The index is built with ``FaqIndex.build`` and the default ``MatcherConfig`` — the live bot's code path. Per-category
results, the most frequent wrong pairs and the threshold sweep are :mod:`edudesk.evaluation.breakdown`'s; each query's
category is its expected entry's ``category`` column.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edudesk.evaluation import breakdown, scoring
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder
from edudesk.nlp.matcher import Band, FaqIndex, MatcherConfig

__all__ = [
    "EvalInputError", "FaqMetrics", "FaqReport", "Prediction", "TestCase", "evaluate", "load_kb", "load_tests",
    "read_table", "write_predictions",
]

KB_REQUIRED = ("question",)
TEST_REQUIRED = ("query", "expected_question")
ENCODINGS = ("utf-8-sig", "gbk", "gb18030")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


class EvalInputError(Exception):
    """A problem with an input file, explained in one line for the person who supplied it."""


@dataclass(frozen=True)
class TestCase:
    query: str
    expected: str | None  # the standard question that should answer it; None: out of scope

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class Prediction:
    query: str
    answer: str | None  # the matched standard question when answered directly
    top3: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class FaqMetrics:
    queries: int
    top1: float
    top3: float
    answered: float
    wrong_answer_rate: float
    out_of_scope: int
    refused: float
    queries_per_second: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class FaqReport:
    metrics: FaqMetrics
    predictions: tuple[Prediction, ...]
    entries: int
    texts: int
    semantic: bool
    classifier: bool
    build_seconds: float
    outcomes: tuple[breakdown.Outcome, ...] = ()  # per test row, for the per-category / pairs / threshold views
    answer_threshold: float = 0.0  # the answer threshold in force (with or without the embedding model)

    def as_dict(self, limit: int = breakdown.TOP_PAIRS) -> dict[str, Any]:
        """``--json``: the architecture's metric keys, then the breakdown views (``breakdown.report_dict``)."""
        return {**self.metrics.as_dict(), **breakdown.report_dict(self.outcomes, self.answer_threshold, limit)}


# ---- reading ----
def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvalInputError(f"无法读取 {path}：{exc.strerror or exc}") from exc
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise EvalInputError(f"{path}: 无法识别文件编码（请用 UTF-8 或 GBK 保存 CSV）")


def _rows_from_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    text = _decode(path)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise EvalInputError(f"{path}: CSV 格式有误：{exc}") from exc
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _rows_from_excel(path: Path) -> tuple[list[str], list[list[str]]]:
    import openpyxl  # here: the server imports this module, and only an evaluation reads a workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise EvalInputError(f"{path}: 不是有效的 Excel 文件（{exc}）") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    if not rows:
        return [], []
    return rows[0], rows[1:]


def read_table(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Non-blank rows of a CSV/XLSX file with their row number (the header is row 1), as dicts keyed by the
    lower-case column name with values stripped; checks that the ``required`` columns exist."""
    if not path.is_file():
        raise EvalInputError(f"找不到文件 {path}")
    header, rows = _rows_from_excel(path) if path.suffix.lower() in EXCEL_SUFFIXES else _rows_from_csv(path)
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        found = "、".join(n for n in names if n) or "无"
        raise EvalInputError(f"{path}: 缺少列 {', '.join(missing)}（找到的列：{found}）")
    table = []
    for number, row in enumerate(rows, start=2):
        if any(cell.strip() for cell in row):
            table.append((number, {name: (row[i].strip() if i < len(row) else "")
                                   for i, name in enumerate(names) if name}))
    return table


def load_kb(path: Path) -> list[FaqDocument]:
    """Knowledge-base entries, their ``entry_id`` the row number; rows without a question are skipped."""
    documents = []
    for number, row in read_table(path, KB_REQUIRED):
        question = row["question"]
        if not question:
            continue
        similar = tuple(s.strip() for s in row.get("similar_questions", "").split("|") if s.strip())
        documents.append(FaqDocument(number, question, similar, row.get("category", ""), row.get("answer", "")))
    if not documents:
        raise EvalInputError(f"{path}: 知识库为空（没有任何标准问）")
    return documents


def load_tests(path: Path, kb: Sequence[FaqDocument]) -> list[TestCase]:
    """Test cases; an expected question must be one of the KB's standard questions."""
    questions = {d.question for d in kb}
    cases = []
    for number, row in read_table(path, TEST_REQUIRED):
        query, expected = row["query"], row["expected_question"]
        if not query:
            continue
        if expected and expected not in questions:
            raise EvalInputError(f"{path} 第 {number} 行：expected_question「{expected}」不是知识库里的标准问")
        cases.append(TestCase(query, expected or None))
    if not cases:
        raise EvalInputError(f"{path}: 测试集为空")
    return cases


# ---- running ----
def evaluate(kb: Sequence[FaqDocument], cases: Sequence[TestCase], embedder: Embedder | None,
             config: MatcherConfig | None = None) -> FaqReport:
    """Build the index as the bot does, match every case once, and score the results.

    Each case is matched a second time with the answer threshold at 0 (not timed) for the threshold sweep of
    :mod:`edudesk.evaluation.breakdown`."""
    started = time.perf_counter()
    index = FaqIndex.build(kb, embedder, config or MatcherConfig())
    build_seconds = time.perf_counter() - started
    unthresholded = scoring.without_threshold(index)
    categories: dict[str, str] = {}
    for doc in kb:
        categories.setdefault(doc.question, doc.category)
    predictions, outcomes = [], []
    in_scope = top1 = top3 = answered = wrong = out_of_scope = refused = 0
    match_seconds = 0.0
    for case in cases:
        t0 = time.perf_counter()
        result = index.match(case.query, k=3)
        match_seconds += time.perf_counter() - t0
        ranked = tuple(c.question for c in result.candidates[:3])
        answer = result.answer.question if result.answer is not None else None
        predictions.append(Prediction(case.query, answer, ranked, round(result.score, 4)))
        category = categories.get(case.expected, "") if case.expected is not None else ""
        outcomes.append(scoring.outcome(case.query, case.expected, category, result,
                                        unthresholded.match(case.query, k=3)))
        if case.expected is None:
            out_of_scope += 1
            refused += result.band is not Band.ANSWER
            continue
        in_scope += 1
        top1 += ranked[:1] == (case.expected,)
        top3 += case.expected in ranked
        answered += answer is not None
        wrong += answer is not None and answer != case.expected
    metrics = FaqMetrics(
        queries=len(cases),
        top1=_share(top1, in_scope),
        top3=_share(top3, in_scope),
        answered=_share(answered, in_scope),
        wrong_answer_rate=_share(wrong, in_scope),
        out_of_scope=out_of_scope,
        refused=_share(refused, out_of_scope),
        queries_per_second=round(len(cases) / match_seconds, 1) if match_seconds > 0 else 0.0,
    )
    return FaqReport(metrics, tuple(predictions), len(index), index.n_texts, index.semantic, index.has_classifier,
                     round(build_seconds, 2), tuple(outcomes), index.config.thresholds(index.semantic)[0])


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def prediction_lines(predictions: Iterable[Prediction]) -> Iterable[str]:
    for p in predictions:
        yield json.dumps({"query": p.query, "answer": p.answer, "top3": list(p.top3), "score": p.score},
                         ensure_ascii=False)


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> None:
    """One JSON object per test row, in test-file order (architecture, "File formats")."""
    try:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for line in prediction_lines(predictions):
                out.write(line + "\n")
    except OSError as exc:
        raise EvalInputError(f"无法写入 {path}：{exc.strerror or exc}") from exc
