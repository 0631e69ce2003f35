"""``edudesk eval extract``: both input formats, the scoring rule, JSON and predictions output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edudesk.evaluation import extract as ev


@pytest.fixture()
def app() -> typer.Typer:
    eval_app = typer.Typer()

    @eval_app.callback()
    def main() -> None:
        """Test group."""

    ev.register(eval_app)
    return eval_app


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


FIELD_ROWS = [
    {"text": "电话 138-0013-8000，孩子三年级", "fields": {"phone": "138 0013 8000", "grade": "三年级"}},
    {"text": "座机(0571)8888 1234", "fields": {"phone": "0571-88881234"}},
    {"text": "学费3600元", "fields": {}},
    {"text": "孩子5岁", "fields": {"grade": "大班", "age": 5}},  # grade labelled, not said: a false negative
]


def test_scores_and_json(app: typer.Typer, tmp_path: Path) -> None:
    test = _write(tmp_path / "t.jsonl", FIELD_ROWS)
    result = CliRunner().invoke(app, ["extract", "--test", str(test), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["messages"] == 4
    assert report["fields"]["phone"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert report["fields"]["grade"]["support"] == 2
    assert report["fields"]["grade"]["recall"] == 0.5 and report["fields"]["grade"]["precision"] == 1.0
    assert report["fields"]["age"]["f1"] == 1.0


def test_predictions_file(app: typer.Typer, tmp_path: Path) -> None:
    test = _write(tmp_path / "t.jsonl", FIELD_ROWS)
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(app, ["extract", "--test", str(test), "--predictions", str(out)])
    assert result.exit_code == 0 and "phone" in result.stdout
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [r["text"] for r in FIELD_ROWS]
    assert rows[0]["fields"]["phone"] == "13800138000"
    assert rows[1]["fields"]["phone"] == "0571-88881234"
    assert rows[2]["fields"] == {}


def test_cluener_format(app: typer.Typer, tmp_path: Path) -> None:
    rows = [
        {"text": "我叫李小明，住在杭州市西湖区文三路", "entities": [
            {"type": "name", "value": "李小明", "start": 2, "end": 5},
            {"type": "address", "value": "杭州市西湖区文三路", "start": 8, "end": 17}]},
        {"text": "今天天气不错", "entities": []},
    ]
    test = _write(tmp_path / "c.jsonl", rows)
    result = CliRunner().invoke(app, ["extract", "--test", str(test), "--json"])
    assert result.exit_code == 0, result.output
    fields = json.loads(result.stdout)["fields"]
    assert set(fields) == {"name", "address"}
    assert fields["name"]["f1"] == 1.0 and fields["address"]["f1"] == 1.0


def test_normalise_value() -> None:
    assert ev.normalise_value("phone", "+86 138-0013-8000") == "13800138000"
    assert ev.normalise_value("phone", "0571-88881234") == "057188881234"
    assert ev.normalise_value("name", " 王妈妈 ") == "王妈妈"


@pytest.mark.parametrize(("content", "message"), [
    ("not json\n", "not valid JSON"),
    ('{"fields": {}}\n', '"text"'),
    ('{"text": "x"}\n', '"fields"'),
    ("", "no test rows"),
    ('{"text": "a", "fields": {}}\n{"text": "b", "entities": []}\n', "mixes"),
])
def test_bad_input(app: typer.Typer, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["extract", "--test", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("edudesk: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["extract", "--test", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_false_names_and_unlabelled_predictions(app: typer.Typer, tmp_path: Path) -> None:
    """Small-talk sets: how many messages without a gold person still got one, and values in unlabelled fields."""
    rows = [
        {"text": "我叫李小明，想学钢琴", "fields": {"name": "李小明"}},  # has a gold name: not counted
        {"text": "我是王妈妈", "fields": {}},  # a person found where the gold has none
        {"text": "今天天气不错", "fields": {}},
        {"text": "想学钢琴", "fields": {}},  # subject is never labelled in this file
    ]
    result = CliRunner().invoke(app, ["extract", "--test", str(_write(tmp_path / "t.jsonl", rows)), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["false_names"] == {"messages": 3, "with_names": 1, "rate": 0.3333, "with_mentions": 1}
    assert report["unlabelled_predictions"] == {"subject": 2}
    table = CliRunner().invoke(app, ["extract", "--test", str(tmp_path / "t.jsonl")])
    assert "1 / 3" in table.stdout and "subject 2" in table.stdout
