"""``edudesk eval …``: offline evaluations on labelled files (no database, no server).

Each command is self-contained (other evaluations register on the same ``eval_app``; ``faq`` is registered by
the CLI with ``register_faq``, which hands in the grounded pass of ``edudesk.llm`` for ``--llm``). Failures caused
by the input are one line ``edudesk: …`` on stderr and exit code 1, never a traceback; ``--json`` prints exactly
one JSON object on stdout and nothing else there (log lines, e.g. "embedding model not installed", go to stderr).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.table import Table

from edudesk.evaluation import breakdown, faq
from edudesk.evaluation import extract as extract_eval
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import load_default_embedder

eval_app = typer.Typer(help="离线评测：用标注好的文件评估 FAQ 匹配等中文能力（不需要数据库）", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    print(f"edudesk: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _stderr_log() -> Any:
    """A structlog logger that writes one plain line to stderr, whatever the process-wide configuration."""
    return structlog.wrap_logger(structlog.PrintLogger(sys.stderr), processors=[
        structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)])


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _faq_table(report: faq.FaqReport) -> Table:
    m = report.metrics
    mode = ("BM25 + 语义向量" if report.semantic else "仅 BM25（未安装语义模型）") + (
        " + 分类器" if report.classifier else "")
    table = Table("指标", "数值", title=f"FAQ 匹配评测 · {mode}", title_justify="left")
    table.add_row("测试问题数", str(m.queries))
    table.add_row("Top-1 准确率", _percent(m.top1))
    table.add_row("Top-3 召回率", _percent(m.top3))
    table.add_row("直接回答比例", _percent(m.answered))
    table.add_row("答错率（直接回答但答错）", _percent(m.wrong_answer_rate))
    table.add_row("超出范围的问题数", str(m.out_of_scope))
    table.add_row("超出范围时拒答比例", _percent(m.refused) if m.out_of_scope else "—")
    table.add_row("每秒匹配问题数", f"{m.queries_per_second:,.0f}")
    table.add_row("知识库", f"{report.entries} 条标准问 / {report.texts} 个问法，索引构建 {report.build_seconds:.2f} s")
    return table


def _or_dash(value: float | None) -> str:
    return "—" if value is None else _percent(value)


def _category_table(rows: list[breakdown.CategoryRow]) -> Table:
    table = Table("分类", "问题数", "Top-1", "Top-3", "直接回答", "答错", title="按分类（按期望词条的分类）",
                  title_justify="left")
    for r in rows:
        d = r.as_dict()
        name = "（超出范围，不应回答）" if r.category is None else (r.category or "（未分类）")
        table.add_row(name, str(r.queries), _or_dash(d["top1"]), _or_dash(d["top3"]), _percent(d["answered"]),
                      _percent(d["wrong"]))
    return table


def _pairs_table(title: str, pairs: list[breakdown.WrongPair]) -> Table:
    table = Table("期望", "实际", "次数", "例句", title=title, title_justify="left")
    for p in pairs:
        table.add_row(p.expected or "（不应回答）", p.predicted or "（无候选）", str(p.count), p.example)
    if not pairs:
        table.add_row("（没有）", "", "", "")
    return table


def _threshold_table(rows: list[breakdown.ThresholdRow]) -> Table:
    table = Table("回答阈值", "直接回答比例", "直接回答准确率", "答错率", "超出范围拒答率",
                  title="不同回答阈值的效果（★ 当前默认阈值）", title_justify="left")
    for r in rows:
        table.add_row(f"{r.threshold:.2f}{' ★' if r.current else ''}", _percent(r.answered), _or_dash(r.precision),
                      _percent(r.wrong_answer_rate), _or_dash(r.refused),
                      style="bold" if r.current else None)
    return table


def _print_breakdown(console: Console, report: faq.FaqReport, limit: int) -> None:
    outcomes = report.outcomes
    console.print(_category_table(breakdown.by_category(outcomes)))
    console.print(_pairs_table(f"最常见的答错（直接回答了别的词条），前 {limit} 组",
                               breakdown.wrong_pairs(outcomes, kind="answer", limit=limit)))
    console.print(_pairs_table(f"最常见的 Top-1 错误，前 {limit} 组",
                               breakdown.wrong_pairs(outcomes, kind="top1", limit=limit)))
    console.print(_threshold_table(breakdown.sweep(outcomes, report.answer_threshold)))


@dataclass(frozen=True)
class LlmOptions:
    """Where ``eval faq --llm`` sends the questions the matcher would not answer directly."""
    url: str
    model: str
    key: str
    timeout: float
    limit: int
    kb: Path


# The grounded pass (edudesk.llm, a layer above us, hands it in through ``register_faq``): the options, the KB,
# the FAQ-only report and the test cases in, the JSON-ready ``llm`` object out (with its "rows" for the table).
LlmPass = Callable[[LlmOptions, Sequence[FaqDocument], faq.FaqReport, Sequence[faq.TestCase]], dict[str, Any]]


def _llm_table(data: dict[str, Any]) -> Table:
    table = Table("指标", "仅 FAQ", "FAQ + 大模型", title=f"大模型兜底（{data.get('model', '')}）：送出 "
                  f"{data.get('sent', 0)} 个 FAQ 不能直接回答的问题", title_justify="left")
    faq_only, combined = data.get("faq_only", {}), data.get("combined", {})
    for key, label in (("answered", "直接回答比例"), ("wrong_answer_rate", "答错率"), ("refused", "超出范围拒答率")):
        table.add_row(label, _percent(faq_only.get(key, 0.0)), _percent(combined.get(key, 0.0)))
    grounded = data.get("grounded", {})
    for key, label in (("answered", "大模型回答（占送出的）"), ("wrong", "其中答错"), ("refused", "大模型拒答"),
                       ("blocked", "被护栏拦下"), ("unavailable", "接口无回答（失败/超时）")):
        table.add_row(label, "", _percent(grounded.get(key, 0.0)))
    return table


def register_faq(app: typer.Typer, llm_pass: LlmPass | None = None) -> None:
    """Adds ``edudesk eval faq``; with ``llm_pass`` it also takes ``--llm`` (the grounded path)."""

    @app.command("faq")
    def faq_cmd(
        kb: Annotated[Path, typer.Option("--kb", help="知识库 CSV/XLSX：question,similar_questions,answer,category")],
        test: Annotated[Path, typer.Option("--test", help="测试集 CSV：query,expected_question（为空表示不应回答）")],
        as_json: Annotated[bool, typer.Option("--json", help="只输出一个 JSON 对象")] = False,
        predictions: Annotated[Path | None, typer.Option(
            "--predictions", help="把每条测试问题的预测写入这个 JSONL 文件")] = None,
        top: Annotated[int, typer.Option("--top", min=1, max=1000, help="列出最常见的几组答错")] = breakdown.TOP_PAIRS,
        llm: Annotated[bool, typer.Option(
            "--llm", help="FAQ 不能直接回答的问题交给大模型（基于资料回答）再评测")] = False,
        llm_url: Annotated[str, typer.Option("--llm-url", envvar="EDUDESK_LLM_URL",
                                             help="OpenAI 兼容接口地址，如 http://127.0.0.1:8000/v1")] = "",
        llm_model: Annotated[str, typer.Option("--llm-model", envvar="EDUDESK_LLM_MODEL", help="模型名称")] = "",
        llm_key: Annotated[str, typer.Option("--llm-key", envvar="EDUDESK_LLM_KEY", help="API 密钥（可不填）",
                                             show_default=False)] = "",
        llm_timeout: Annotated[float, typer.Option(
            "--llm-timeout", min=0.1, max=600, help="每次调用的超时（秒）")] = 30.0,
        llm_limit: Annotated[int, typer.Option("--llm-limit", min=1, max=100_000,
                                               help="最多送出多少个问题（均匀抽样）")] = 2000,
    ) -> None:
        """评测 FAQ 匹配（与线上机器人同一套代码和默认阈值）。

        输出 Top-1 准确率、Top-3 召回率、直接回答比例、答错率、超出范围问题的拒答率和每秒匹配数；
        再按分类列出结果、最常见的答错（期望 → 实际）和每个回答阈值下的效果，供机构按数据选择阈值。
        加 --llm：FAQ 不能直接回答的问题交给大模型基于知识库答案回答，并与仅 FAQ 的结果并列。
        """
        if llm and llm_pass is None:
            _fail("这个版本没有大模型评测")
        if llm and (not llm_url or not llm_model):
            _fail("--llm 需要 --llm-url 和 --llm-model（或环境变量 EDUDESK_LLM_URL / EDUDESK_LLM_MODEL）")
        try:
            documents = faq.load_kb(kb)
            cases = faq.load_tests(test, documents)
            report = faq.evaluate(documents, cases, load_default_embedder(log=_stderr_log()))
            if predictions is not None:
                faq.write_predictions(predictions, report.predictions)
            extra = llm_pass(LlmOptions(llm_url, llm_model, llm_key, llm_timeout, llm_limit, kb), documents,
                             report, cases) if llm and llm_pass is not None else None
        except faq.EvalInputError as exc:
            _fail(str(exc))
        if as_json:
            data = report.as_dict(top)
            if extra is not None:
                data["llm"] = extra
            print(json.dumps(data, ensure_ascii=False))
        else:
            console = Console()
            console.print(_faq_table(report))
            if extra is not None:
                console.print(_llm_table(extra))
            _print_breakdown(console, report, top)


extract_eval.register(eval_app)
