"""``edudesk eval faq --llm`` (the grounded pass) and ``edudesk eval kb-growth``: the offline evaluations of the
assist, on KB and test files, against an endpoint named on the command line (``offline.OfflineEndpoint``).

``faq --llm``: the questions the FAQ matcher would not answer directly go to the grounded path with the answers
of the matcher's three best entries as passages (the KB file's ``answer`` column); the ``llm`` object of the JSON
reports answered / wrong / refused beside the FAQ-only figures (``judging``).

``kb-growth``: the FAQ eval of a KB before and after adding generated similar questions, screened by the same
duplicate rules as the admin page (``screening``) and all accepted (an offline run has no admin to reject them).
The candidates come from the model (``--llm-url``), from a file (``--generated``, the KB format), or — with
``--keep-similar K --stand-in`` — from the similar questions the trimming removed: human-written paraphrases
standing in for a model's, an upper bound of what accepted questions can buy (docs/quality.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.table import Table

from edudesk.evaluation import faq
from edudesk.evaluation.cli import LlmOptions
from edudesk.kb.miss_groups import match_key
from edudesk.kb.text import normalise
from edudesk.llm.assist import grounding, judging, prompts, screening
from edudesk.llm.assist.offline import OfflineEndpoint
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import load_default_embedder


def _stderr_log() -> Any:
    """Log lines (e.g. "embedding model not installed") go to stderr: ``--json`` prints only JSON on stdout."""
    return structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
    )


def _fail(message: str) -> NoReturn:
    print(f"edudesk: {message}", file=sys.stderr)
    raise typer.Exit(1)


def kb_answers(path: Path) -> dict[str, str]:
    """Standard question → answer, from the KB file's ``answer`` column ("" when it has none)."""
    return {
        row["question"]: row.get("answer", "") for _, row in faq.read_table(path, faq.KB_REQUIRED) if row["question"]
    }


def _sample(items: list[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(n * step)] for n in range(limit)]


def run_grounded(
    answer: judging.Answerer, cases: Sequence[faq.TestCase], report: faq.FaqReport, answers: dict[str, str], limit: int
) -> judging.Tally:
    """The grounded pass over the questions the FAQ matcher did not answer directly (sampled evenly to
    ``limit``); the tally also holds the FAQ-only counts of the whole set."""
    tally = judging.Tally()
    pending = []
    for case, pred in zip(cases, report.predictions, strict=True):
        if case.expected is None:
            tally.out_of_scope += 1
            tally.faq_out_answered += pred.answer is not None
        else:
            tally.in_scope += 1
            tally.faq_answered += pred.answer is not None
            tally.faq_wrong += pred.answer is not None and pred.answer != case.expected
        if pred.answer is None:
            pending.append((case, pred))
    for case, pred in _sample(pending, limit):
        refs = [judging.Reference(q, f"词条：{q}", f"{q}：{answers.get(q, '')}") for q in pred.top3]
        result = answer(case.query, refs)
        verdict = judging.judge(case.expected, answers.get(case.expected or "", ""), refs, result)
        tally.add(case.expected, verdict, result.reason)
    return tally


def faq_pass(
    options: LlmOptions, documents: Sequence[FaqDocument], report: faq.FaqReport, cases: Sequence[faq.TestCase]
) -> dict[str, Any]:
    """``eval faq --llm``: the ``llm`` object of the JSON output."""
    endpoint = OfflineEndpoint(options.url, options.model, options.key, options.timeout)
    try:
        tally = run_grounded(
            grounding.offline_answerer(endpoint.complete), cases, report, kb_answers(options.kb), options.limit
        )
    finally:
        endpoint.close()
    return {**tally.report(), **endpoint.stats()}


# --- kb-growth -------------------------------------------------------------------------------------------------------


def trimmed(documents: Sequence[FaqDocument], keep: int | None) -> tuple[list[FaqDocument], dict[int, list[str]]]:
    """The KB with at most ``keep`` similar questions an entry, and what was removed (by entry id)."""
    if keep is None:
        return list(documents), {}
    kept, removed = [], {}
    for doc in documents:
        kept.append(FaqDocument(doc.entry_id, doc.question, doc.similar[:keep], doc.category))
        removed[doc.entry_id] = list(doc.similar[keep:])
    return kept, removed


def screen_all(
    documents: Sequence[FaqDocument], candidates: dict[int, list[str]]
) -> tuple[list[FaqDocument], list[screening.Candidate]]:
    """Every entry's candidates screened against the KB as it grows (an accepted question is owned from then on,
    as it would be once the admin saved it); the grown KB and every screened candidate."""
    exact: dict[str, screening.Owner] = {}
    keys: dict[str, screening.Owner] = {}
    for doc in documents:
        for n, text in enumerate((doc.question, *doc.similar)):
            owner = screening.Owner(doc.entry_id, doc.question, n == 0)
            exact.setdefault(normalise(text), owner)
            keys.setdefault(match_key(text), owner)
    grown, screened = [], []
    for doc in documents:
        own = (doc.question, *doc.similar)
        others_exact = {k: o for k, o in exact.items() if o.entry_id != doc.entry_id}
        others_keys = {k: o for k, o in keys.items() if o.entry_id != doc.entry_id}
        result = screening.screen(own, candidates.get(doc.entry_id, []), others_exact, others_keys)
        added = [c.text for c in result if c.reason is None]
        for text in added:
            owner = screening.Owner(doc.entry_id, doc.question, False)
            exact.setdefault(normalise(text), owner)
            keys.setdefault(match_key(text), owner)
        screened.extend(result)
        grown.append(FaqDocument(doc.entry_id, doc.question, (*doc.similar, *added), doc.category))
    return grown, screened


def generated_from_file(path: Path, documents: Sequence[FaqDocument]) -> dict[int, list[str]]:
    by_question = {d.question: d.entry_id for d in documents}
    result: dict[int, list[str]] = {}
    for number, row in faq.read_table(path, ("question", "similar_questions")):
        if row["question"] not in by_question:
            raise faq.EvalInputError(f"{path} 第 {number} 行：「{row['question']}」不是知识库里的标准问")
        texts = [s.strip() for s in row["similar_questions"].split("|") if s.strip()]
        result.setdefault(by_question[row["question"]], []).extend(texts)
    return result


def generated_by_model(
    endpoint: OfflineEndpoint, documents: Sequence[FaqDocument], answers: dict[str, str]
) -> dict[int, list[str]]:
    """The admin page's prompt, one call per entry."""
    result = {}
    for doc in documents:
        raw = endpoint.complete(
            prompts.similar_messages(doc.question, doc.similar, answers.get(doc.question, "")), max_tokens=600
        )
        result[doc.entry_id] = prompts.parse_candidates(raw) if raw else []
    return result


def _metrics_table(before: faq.FaqMetrics, after: faq.FaqMetrics) -> Table:
    table = Table("指标", "加入前", "加入后", title="FAQ 评测：加入生成的相似问前后", title_justify="left")
    for key, label in (
        ("top1", "Top-1 准确率"),
        ("top3", "Top-3 召回率"),
        ("answered", "直接回答比例"),
        ("wrong_answer_rate", "答错率"),
        ("refused", "超出范围拒答率"),
    ):
        table.add_row(label, f"{getattr(before, key) * 100:.1f}%", f"{getattr(after, key) * 100:.1f}%")
    return table


def register(app: typer.Typer) -> None:
    @app.command("kb-growth")
    def kb_growth_cmd(
        kb: Annotated[Path, typer.Option("--kb", help="知识库 CSV/XLSX")],
        test: Annotated[Path, typer.Option("--test", help="测试集 CSV：query,expected_question")],
        as_json: Annotated[bool, typer.Option("--json", help="只输出一个 JSON 对象")] = False,
        keep_similar: Annotated[
            int | None,
            typer.Option(
                "--keep-similar", min=0, max=10_000, help="先把每个词条的相似问截到前 K 个（模拟问法少的知识库）"
            ),
        ] = None,
        stand_in: Annotated[
            bool, typer.Option("--stand-in", help="用被截掉的相似问充当生成结果（人写的问法，作为上限参照）")
        ] = False,
        generated: Annotated[
            Path | None, typer.Option("--generated", help="生成的相似问文件（知识库格式：question,similar_questions）")
        ] = None,
        llm_url: Annotated[str, typer.Option("--llm-url", envvar="EDUDESK_LLM_URL", help="OpenAI 兼容接口地址")] = "",
        llm_model: Annotated[str, typer.Option("--llm-model", envvar="EDUDESK_LLM_MODEL", help="模型名称")] = "",
        llm_key: Annotated[
            str, typer.Option("--llm-key", envvar="EDUDESK_LLM_KEY", help="API 密钥", show_default=False)
        ] = "",
        llm_timeout: Annotated[float, typer.Option("--llm-timeout", min=0.1, max=600)] = 30.0,
        per_entry: Annotated[
            int,
            typer.Option(
                "--per-entry",
                min=1,
                max=prompts.MAX_CANDIDATES,
                help="每个词条最多取多少个候选（后台一次最多列出 20 个）",
            ),
        ] = 10,
    ) -> None:
        """评测“AI 生成相似问”的效果：知识库加入生成的相似问（按后台同样的规则去重）前后各跑一次 FAQ 评测。"""
        sources = sum([stand_in, generated is not None, bool(llm_url)])
        if sources != 1:
            _fail("请选择一种相似问来源：--llm-url（大模型）、--generated 文件，或 --keep-similar K --stand-in")
        if stand_in and keep_similar is None:
            _fail("--stand-in 需要 --keep-similar K")
        if llm_url and not llm_model:
            _fail("--llm-url 需要 --llm-model")
        endpoint = None
        try:
            documents, removed = trimmed(faq.load_kb(kb), keep_similar)
            cases = faq.load_tests(test, documents)
            if stand_in:
                candidates = removed
            elif generated is not None:
                candidates = generated_from_file(generated, documents)
            else:
                endpoint = OfflineEndpoint(llm_url, llm_model, llm_key, llm_timeout)
                candidates = generated_by_model(endpoint, documents, kb_answers(kb))
            candidates = {entry: texts[:per_entry] for entry, texts in candidates.items()}
            grown, screened = screen_all(documents, candidates)
            embedder = load_default_embedder(log=_stderr_log())
            before = faq.evaluate(documents, cases, embedder)
            after = faq.evaluate(grown, cases, embedder)
        except faq.EvalInputError as exc:
            _fail(str(exc))
        finally:
            if endpoint is not None:
                endpoint.close()
        dropped: dict[str, int] = {}
        for c in screened:
            if c.reason is not None:
                kind = c.reason.split("“")[0].split("#")[0].strip()
                dropped[kind] = dropped.get(kind, 0) + 1
        data: dict[str, Any] = {
            "entries": len(documents),
            "candidates": len(screened),
            "accepted": sum(c.reason is None for c in screened),
            "dropped": dropped,
            "texts_before": before.texts,
            "texts_after": after.texts,
            "before": before.metrics.as_dict(),
            "after": after.metrics.as_dict(),
            **({"llm": endpoint.stats()} if endpoint is not None else {}),
        }
        if as_json:
            print(json.dumps(data, ensure_ascii=False))
            return
        console = Console()
        reasons = "，".join(f"{k} {v}" for k, v in dropped.items()) or "无"
        console.print(
            f"{data['entries']} 个词条，候选相似问 {data['candidates']} 个，加入 {data['accepted']} 个，"
            f"去重去掉 {sum(dropped.values())} 个（{reasons}）"
        )
        console.print(_metrics_table(before.metrics, after.metrics))
