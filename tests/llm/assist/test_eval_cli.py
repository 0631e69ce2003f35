"""``edudesk eval faq --llm`` and ``edudesk eval kb-growth`` against the fake endpoint (real HTTP on 127.0.0.1):
the JSON keeps the architecture's keys and adds ``llm``; the guardrail stops invented prices; bad input is one
line on stderr."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edudesk import cli
from edudesk.evaluation import cli as eval_cli
from edudesk.llm.assist import evalcli
from tests.llm.fake_openai import FakeOpenAI, Reply, Request

KB_ROWS = [
    ("课程收费标准是怎样的？", "学费多少钱|一节课多少钱|你们的课怎么收费", "按课时收费，每课时 200 元", "价格"),
    ("可以免费试听吗？", "有没有试听课|体验课要收费吗|怎么预约试听", "每位新学员可免费试听 1 次", "试听"),
    ("每周什么时间上课？", "上课时间是几点|周末有课吗|晚上几点下课", "周一至周五 18:30 上课，周末全天", "时间"),
    ("校区在哪里？", "你们地址在哪|有几个校区|离地铁站远吗", "城东、城西 2 个校区", "校区"),
]
TEST_ROWS = [
    ("学费多少钱呀", "课程收费标准是怎样的？"),
    ("怎么约体验", "可以免费试听吗？"),
    ("礼拜六开不开班", "每周什么时间上课？"),
    ("今天天气怎么样", ""),
    ("帮我订一张去上海的机票", ""),
    ("附近有好吃的吗", ""),
]
JSON_KEYS = {
    "queries",
    "top1",
    "top3",
    "answered",
    "wrong_answer_rate",
    "out_of_scope",
    "refused",
    "queries_per_second",
    "categories",
    "wrong_pairs",
    "thresholds",
}
PASSAGE_ONE = re.compile(r"\[1\] 《[^》]*》\n(.*?)(?:\n\n\[2\]|\n</资料>)", re.S)


def _write(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    # BM25 only: fast, and the same for every run of these tests.
    monkeypatch.setattr(eval_cli, "load_default_embedder", lambda **_: None)
    monkeypatch.setattr(evalcli, "load_default_embedder", lambda **_: None)
    return (
        _write(tmp_path / "kb.csv", ("question", "similar_questions", "answer", "category"), KB_ROWS),
        _write(tmp_path / "test.csv", ("query", "expected_question"), TEST_ROWS),
    )


def _first_passage(request: Request) -> str:
    found = PASSAGE_ONE.search(request.messages[-1]["content"])
    assert found, request.messages[-1]["content"]
    return found.group(1).split("：", 1)[-1].strip()


def _faq(fake: FakeOpenAI, kb: Path, test: Path, *extra: str) -> dict:
    result = CliRunner().invoke(
        cli.app,
        [
            "eval",
            "faq",
            "--kb",
            str(kb),
            "--test",
            str(test),
            "--json",
            "--llm",
            "--llm-url",
            fake.base_url,
            "--llm-model",
            "fake-model",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_faq_llm_json_keeps_the_keys_and_adds_llm(fake_openai: FakeOpenAI, files: tuple[Path, Path]) -> None:
    kb, test = files
    fake_openai.respond_with(lambda r: Reply(f"{_first_passage(r)}。[1]"))
    data = _faq(fake_openai, kb, test)
    assert set(data) >= JSON_KEYS
    llm = data["llm"]
    assert {"sent", "faq_only", "combined", "grounded", "model", "calls", "failures"} <= set(llm)
    assert llm["sent"] == len(fake_openai.completions()) >= 3  # at least the three out-of-scope questions
    assert llm["faq_only"]["answered"] == data["answered"] and llm["faq_only"]["refused"] == data["refused"]
    assert llm["faq_only"]["wrong_answer_rate"] == data["wrong_answer_rate"]
    # A model that answers every question from the first passage answers out-of-scope ones too: refusal drops.
    assert llm["combined"]["refused"] < data["refused"]
    assert llm["combined"]["answered"] >= data["answered"]
    assert llm["grounded"]["answered"] == 1.0 and llm["grounded"]["blocked"] == 0.0
    first = fake_openai.completions()[0]
    assert first.body["model"] == "fake-model" and "只根据 <资料> 中的内容回答" in first.messages[0]["content"]


def test_faq_llm_guardrail_stops_invented_prices(fake_openai: FakeOpenAI, files: tuple[Path, Path]) -> None:
    kb, test = files
    fake_openai.respond_with(lambda r: Reply(f"{_first_passage(r)}，现在报名优惠价 1999 元。[1]"))
    llm = _faq(fake_openai, kb, test)["llm"]
    assert llm["grounded"]["blocked"] == 1.0 and llm["blocked_reasons"] == {"numbers": llm["sent"]}
    assert llm["combined"] == {**llm["faq_only"], "wrong_rate": llm["combined"]["wrong_rate"]}


def test_faq_llm_refusals_and_a_dead_endpoint(fake_openai: FakeOpenAI, files: tuple[Path, Path]) -> None:
    kb, test = files
    fake_openai.respond_with(lambda r: Reply("无法回答"))
    llm = _faq(fake_openai, kb, test)["llm"]
    assert llm["grounded"]["refused"] == 1.0 and llm["combined"]["refused"] == llm["faq_only"]["refused"]
    fake_openai.respond_with(lambda r: Reply(status=500))
    llm = _faq(fake_openai, kb, test, "--llm-limit", "2")
    llm = llm["llm"]
    assert llm["sent"] == 2 and llm["grounded"]["unavailable"] == 1.0 and llm["failures"] == 2


def test_faq_llm_bad_input(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    kb, test = files
    for name in ("EDUDESK_LLM_URL", "EDUDESK_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli.app, ["eval", "faq", "--kb", str(kb), "--test", str(test), "--llm"])
    assert result.exit_code == 1 and "--llm-url" in result.stderr
    # Without --llm the output is exactly as before: no llm key, no call.
    result = CliRunner().invoke(cli.app, ["eval", "faq", "--kb", str(kb), "--test", str(test), "--json"])
    assert result.exit_code == 0 and "llm" not in json.loads(result.stdout)


def test_kb_growth_stand_in_and_model(fake_openai: FakeOpenAI, files: tuple[Path, Path], tmp_path: Path) -> None:
    kb, test = files
    result = CliRunner().invoke(
        cli.app,
        ["eval", "kb-growth", "--kb", str(kb), "--test", str(test), "--json", "--keep-similar", "1", "--stand-in"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["candidates"] == 8 and data["accepted"] == 8 and data["texts_after"] == data["texts_before"] + 8
    assert set(data["before"]) == set(data["after"]) == JSON_KEYS - {"categories", "wrong_pairs", "thresholds"}
    # The model's candidates go through the admin page's duplicate rules.
    fake_openai.respond_with(lambda r: Reply('["学费多少钱？", "有几个校区", "一节课收多少", "一节课收多少"]'))
    result = CliRunner().invoke(
        cli.app,
        [
            "eval",
            "kb-growth",
            "--kb",
            str(kb),
            "--test",
            str(test),
            "--json",
            "--llm-url",
            fake_openai.base_url,
            "--llm-model",
            "fake-model",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(fake_openai.completions()) == len(KB_ROWS) and data["llm"]["calls"] == len(KB_ROWS)
    assert data["accepted"] == 1  # 一节课收多少, once, for the first entry; then owned
    assert sum(data["dropped"].values()) == data["candidates"] - 1
    generated = _write(tmp_path / "gen.csv", ("question", "similar_questions"), [("不存在的标准问", "x")])
    result = CliRunner().invoke(
        cli.app, ["eval", "kb-growth", "--kb", str(kb), "--test", str(test), "--generated", str(generated)]
    )
    assert result.exit_code == 1 and "不是知识库里的标准问" in result.stderr
    result = CliRunner().invoke(cli.app, ["eval", "kb-growth", "--kb", str(kb), "--test", str(test)])
    assert result.exit_code == 1 and "相似问来源" in result.stderr
