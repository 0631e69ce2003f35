"""``edudesk eval extract``: precision, recall and F1 per field of :func:`edudesk.nlp.extract.extract`.

Two input formats, told apart per line (a file must use one):

- extraction test set (architecture, "File formats"): ``{"text": ..., "fields": {"phone": ..., "grade": ...}}``.
  Every field named in any row is scored over all rows (a row without it says the message does not contain it).
  Per message and field: gold value ``g`` (or none), predicted ``p`` (or none); ``p == g`` is a true positive,
  a ``p`` that differs from ``g`` (or where there is no ``g``) a false positive, a ``g`` not predicted exactly a
  false negative (a wrong value counts as both). Values are compared after normalisation: whitespace trimmed;
  phones digits only (a leading 86/0086 country code dropped), so ``0571-88881234`` = ``057188881234``.
- CLUENER entities: ``{"text": ..., "entities": [{"type", "value", "start", "end"}]}``. Only ``name`` and
  ``address`` are scored, because those are what we extract. Mapping: our ``name``, ``child_name`` and the other
  persons the NER model found (``Extraction.person_names``) → ``name``; our ``address`` (the location phrase as
  written) → ``address``. Matching is by value, not offset: per message, the set of distinct predicted strings
  against the set of distinct gold strings of that type; each exact string match is a true positive. Our
  ``city``/``district`` values are official names ("杭州市"), not what was written, so they are not compared with
  CLUENER's as-written spans; ``address`` carries the written form.

Counts beside the table, for small-talk sets whose rows mostly say nothing (issue 14): **false names**, the share
of messages without a gold person (``name``/``child_name``, or CLUENER ``name``) in which extraction still put a
name on the lead card (``name`` or ``child_name``), and **false mentions**, those in which it found any person at
all (``Extraction.person_names``: also the people the NER model tagged but left off the card); and **unlabelled
predictions**, per field that no row of the file labels, how many messages got a value anyway (a subject found in
travel chatter).

``--predictions OUT.jsonl`` writes one ``{"text", "fields": {name: value}}`` per row (``Extraction.as_fields``:
phones as 11-digit national numbers, landlines as ``0571-88881234``), plus ``"names"`` (all persons) for CLUENER
rows, so anyone can score it independently.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from edudesk.nlp.extract import FIELDS, Extraction, extract

__all__ = ["Case", "EvalInputError", "FieldScore", "Report", "evaluate", "load_cases", "normalise_value", "register",
           "write_predictions"]

CLUENER_TYPES = ("name", "address")


class EvalInputError(Exception):
    """A problem with the input file, in one line."""


@dataclass(frozen=True)
class Case:
    text: str
    gold: dict[str, frozenset[str]]  # field → normalised gold values (one for the test set, a set for CLUENER)

    __test__ = False


@dataclass
class FieldScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "support": self.support}


@dataclass(frozen=True)
class Report:
    messages: int
    kind: str  # "fields" or "cluener"
    fields: dict[str, FieldScore]
    predictions: tuple[dict[str, Any], ...]
    ms_per_message: float
    unnamed: int = 0  # messages whose gold names no person
    false_names: int = 0  # … in which extraction put a name on the lead card anyway (name or child_name)
    false_mentions: int = 0  # … in which extraction found any person (person_names)
    unlabelled: dict[str, int] = field(default_factory=dict)  # field no row labels → messages that got a value

    @property
    def false_name_rate(self) -> float:
        return self.false_names / self.unnamed if self.unnamed else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "fields": {k: v.as_dict() for k, v in self.fields.items()},
                "false_names": {"messages": self.unnamed, "with_names": self.false_names,
                                "rate": round(self.false_name_rate, 4), "with_mentions": self.false_mentions},
                "unlabelled_predictions": dict(self.unlabelled)}


def normalise_value(field: str, value: object) -> str:
    """The comparable form of a value: trimmed; phones digits only without a country code."""
    text = str(value).strip()
    if field == "phone":
        digits = re.sub(r"\D", "", text)
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) in (12, 13):
            digits = digits[2:]
        return digits
    return text


def _row(line: str, number: int, path: Path) -> tuple[str, dict[str, frozenset[str]], str]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        raise EvalInputError(f'{path}:{number}: each line must be an object with a "text" string')
    if isinstance(row.get("fields"), dict):
        gold = {k: frozenset({normalise_value(k, v)}) for k, v in row["fields"].items() if v not in (None, "")}
        return row["text"], gold, "fields"
    if isinstance(row.get("entities"), list):
        gold_sets: dict[str, set[str]] = {t: set() for t in CLUENER_TYPES}
        for entity in row["entities"]:
            if not isinstance(entity, dict) or "type" not in entity or "value" not in entity:
                raise EvalInputError(f'{path}:{number}: each entity needs "type" and "value"')
            if entity["type"] in gold_sets:
                gold_sets[entity["type"]].add(str(entity["value"]).strip())
        return row["text"], {k: frozenset(v) for k, v in gold_sets.items()}, "cluener"
    raise EvalInputError(f'{path}:{number}: expected "fields" (extraction test set) or "entities" (CLUENER)')


def load_cases(path: Path) -> tuple[list[Case], str]:
    """Read a test file; returns the cases and the format ("fields" or "cluener")."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise EvalInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot read as UTF-8 ({exc})") from None
    cases: list[Case] = []
    kinds: set[str] = set()
    for number, line in enumerate(lines, 1):
        if line.strip():
            text, gold, kind = _row(line, number, path)
            kinds.add(kind)
            cases.append(Case(text, gold))
    if not cases:
        raise EvalInputError(f"{path}: no test rows")
    if len(kinds) > 1:
        raise EvalInputError(f"{path}: mixes extraction-test rows and CLUENER rows; use one format per file")
    return cases, kinds.pop()


def _predicted(kind: str, result: Extraction) -> dict[str, frozenset[str]]:
    if kind == "cluener":
        return {"name": frozenset(result.person_names),
                "address": frozenset({result.address} if result.address else set())}
    return {k: frozenset({normalise_value(k, v)}) for k, v in result.as_fields().items()}


def evaluate(cases: Sequence[Case], kind: str) -> Report:
    """Run extraction on every case and score the fields (see the module docstring for the rule)."""
    if kind == "cluener":
        names: list[str] = list(CLUENER_TYPES)
    else:
        labelled = {f for case in cases for f in case.gold}
        names = [f for f in FIELDS if f in labelled] + sorted(labelled - set(FIELDS))
    scores = {f: FieldScore() for f in names}
    unlabelled = {f: 0 for f in FIELDS if f not in names}
    unnamed = false_names = false_mentions = 0
    predictions: list[dict[str, Any]] = []
    started = time.perf_counter()
    results = [extract(case.text) for case in cases]
    elapsed = time.perf_counter() - started
    for case, result in zip(cases, results, strict=True):
        predicted = _predicted(kind, result)
        if not any(case.gold.get(f) for f in ("name", "child_name")):
            unnamed += 1
            false_names += bool(result.name or result.child_name)
            false_mentions += bool(result.person_names)
        for f in result.as_fields():
            if f in unlabelled:
                unlabelled[f] += 1
        for f in names:
            gold, pred = case.gold.get(f, frozenset()), predicted.get(f, frozenset())
            scores[f].tp += len(gold & pred)
            scores[f].fp += len(pred - gold)
            scores[f].fn += len(gold - pred)
        row: dict[str, Any] = {"text": case.text, "fields": result.as_fields()}
        if kind == "cluener":
            row["names"] = list(result.person_names)
        predictions.append(row)
    return Report(len(cases), kind, scores, tuple(predictions), elapsed * 1000 / len(cases), unnamed, false_names,
                  false_mentions, {f: n for f, n in unlabelled.items() if n})


def write_predictions(path: Path, predictions: Sequence[dict[str, Any]]) -> None:
    try:
        with path.open("w", encoding="utf-8") as out:
            for row in predictions:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise EvalInputError(f"{path}: cannot write predictions ({exc.strerror})") from None


def _table(report: Report) -> Table:
    title = "字段抽取评测" + (" · CLUENER 人名/地址" if report.kind == "cluener" else "")
    table = Table("字段", "精确率", "召回率", "F1", "标注数", title=title, title_justify="left",
                  caption=f"{report.messages} 条消息，平均 {report.ms_per_message:.2f} ms/条", caption_justify="left")
    for name, score in report.fields.items():
        table.add_row(name, f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}", str(score.support))
    return table


def _summary(report: Report) -> list[str]:
    """The false-name and unlabelled-field counts, one line each (printed under the table, never wrapped)."""
    rate = f"{report.false_names} / {report.unnamed}（{report.false_name_rate:.1%}）"
    lines = [f"无人名的消息中找出人名（线索卡）：{rate}；任何人名提及：{report.false_mentions}"]
    if report.unlabelled:
        lines.append("未标注字段却有抽取结果：" + "，".join(f"{f} {n} 条" for f, n in report.unlabelled.items()))
    return lines


def _fail(message: str) -> NoReturn:
    print(f"edudesk: {message}", file=sys.stderr)
    raise typer.Exit(1)


def register(eval_app: typer.Typer) -> None:
    """Add ``edudesk eval extract`` to the ``eval`` command group."""

    @eval_app.command("extract")
    def extract_cmd(
        test: Annotated[Path, typer.Option("--test", help="测试集 JSONL：{text, fields} 或 CLUENER {text, entities}")],
        as_json: Annotated[bool, typer.Option("--json", help="只输出一个 JSON 对象")] = False,
        predictions: Annotated[Path | None, typer.Option(
            "--predictions", help="把每条消息的抽取结果写入这个 JSONL 文件")] = None,
    ) -> None:
        """评测字段抽取（手机号、微信、姓名、年龄、年级、科目、地区）：每个字段的精确率、召回率和 F1。"""
        try:
            cases, kind = load_cases(test)
            report = evaluate(cases, kind)
            if predictions is not None:
                write_predictions(predictions, report.predictions)
        except EvalInputError as exc:
            _fail(str(exc))
        if as_json:
            print(json.dumps(report.as_dict(), ensure_ascii=False))
        else:
            console = Console()
            console.print(_table(report))
            for line in _summary(report):
                console.print(line, soft_wrap=True)
