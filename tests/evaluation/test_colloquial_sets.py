"""The held-out colloquial FAQ sets (tests/evaluation/colloquial/): they stay consistent with their knowledge bases.

The sets are read with the same reader ``edudesk eval faq`` uses, so a file that passes here also loads there. The
demo KB file must stay a verbatim export of ``DEMO_KB``: when the demo KB changes, this fails and the sets' labels
have to be reviewed by hand rather than drifting silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edudesk.demo.kb import DEMO_KB
from edudesk.evaluation.faq import KB_REQUIRED, TEST_REQUIRED, load_kb, load_tests, read_table

SETS = Path(__file__).parent / "colloquial"
KBS = ("demo", "exam")
HALVES = ("dev", "test")
MIN_ROWS = 150
PUNCTUATION = re.compile(r"[\s?？!！。，,~～、.．]")


def _kb_rows(name: str) -> list[dict[str, str]]:
    return [row for _, row in read_table(SETS / f"{name}_kb.csv", KB_REQUIRED)]


def _queries(name: str, half: str) -> list[tuple[str, str]]:
    return [(row["query"], row["expected_question"])
            for _, row in read_table(SETS / f"{name}_{half}.csv", TEST_REQUIRED)]


def _normal(text: str) -> str:
    return PUNCTUATION.sub("", text).lower()


def test_demo_kb_is_the_demo_knowledge_base_verbatim() -> None:
    exported = [(row["category"], row["question"], tuple(row["similar_questions"].split("|")), row["answer"])
                for row in _kb_rows("demo")]
    assert exported == list(DEMO_KB)


@pytest.mark.parametrize("name", KBS)
def test_knowledge_base_is_well_formed(name: str) -> None:
    rows = _kb_rows(name)
    questions = [row["question"] for row in rows]
    assert len(questions) == len(set(questions))
    for row in rows:
        similar = row["similar_questions"].split("|")
        assert row["answer"] and row["category"], row["question"]
        assert 2 <= len(similar) <= 8 and all(s.strip() for s in similar), row["question"]
    assert len(load_kb(SETS / f"{name}_kb.csv")) == len(rows)


def test_exam_kb_is_worded_differently_from_the_demo_kb() -> None:
    exam = _kb_rows("exam")
    assert 30 <= len(exam) <= 40
    demo_wordings = {_normal(w) for _, q, similar, _ in DEMO_KB for w in (q, *similar)}
    exam_wordings = {_normal(w) for row in exam for w in (row["question"], *row["similar_questions"].split("|"))}
    assert not demo_wordings & exam_wordings


@pytest.mark.parametrize("name", KBS)
@pytest.mark.parametrize("half", HALVES)
def test_every_label_is_a_standard_question_of_its_kb(name: str, half: str) -> None:
    questions = {row["question"] for row in _kb_rows(name)}
    rows = _queries(name, half)
    assert all(query for query, _ in rows)
    assert {expected for _, expected in rows if expected} <= questions
    # the CLI's own loader accepts the file against this KB
    assert len(load_tests(SETS / f"{name}_{half}.csv", load_kb(SETS / f"{name}_kb.csv"))) == len(rows)


@pytest.mark.parametrize("name", KBS)
@pytest.mark.parametrize("half", HALVES)
def test_size_mix_and_no_duplicates(name: str, half: str) -> None:
    rows = _queries(name, half)
    queries = [query for query, _ in rows]
    assert len(rows) >= MIN_ROWS
    assert len(queries) == len(set(queries)), "duplicate query rows"
    out_of_scope = sum(1 for _, expected in rows if not expected)
    assert 0.12 <= out_of_scope / len(rows) <= 0.25


@pytest.mark.parametrize("name", KBS)
def test_no_query_is_in_both_dev_and_test(name: str) -> None:
    dev = {query for query, _ in _queries(name, "dev")}
    test = {query for query, _ in _queries(name, "test")}
    assert not dev & test


@pytest.mark.parametrize("name", KBS)
@pytest.mark.parametrize("half", HALVES)
def test_queries_do_not_copy_the_kb_wordings(name: str, half: str) -> None:
    wordings = {_normal(w) for row in _kb_rows(name) for w in (row["question"], *row["similar_questions"].split("|"))}
    copied = [query for query, _ in _queries(name, half) if _normal(query) in wordings]
    assert not copied
