"""Grouping unanswered visitor questions: same question in other words -> one group; different topics apart."""

from __future__ import annotations

import pytest

from edudesk.nlp.cluster import group_similar
from edudesk.nlp.embedding import Embedder

MISSES = [
    "学费多少",  # 0
    "学费多少钱？",  # 1
    "學費多少",  # 2 traditional
    "你们学费是多少",  # 3
    "周末上课吗",  # 4
    "周六周日有课吗",  # 5
    "可以免费试听吗",  # 6
    "在哪个校区",  # 7
    "学费多少",  # 8 exact repeat
    "！！",  # 9
    "😀",  # 10
]


def as_sets(groups: list[list[int]]) -> list[frozenset[int]]:
    return [frozenset(g) for g in groups]


def check_partition(groups: list[list[int]], n: int) -> None:
    flat = [i for g in groups for i in g]
    assert sorted(flat) == list(range(n))
    assert all(g == sorted(g) for g in groups)
    assert [len(g) for g in groups] == sorted((len(g) for g in groups), reverse=True)


def test_groups_with_embeddings(embedder: Embedder) -> None:
    groups = group_similar(MISSES, embedder)
    check_partition(groups, len(MISSES))
    assert groups[0] == [0, 1, 2, 3, 8]
    sets = as_sets(groups)
    assert frozenset({4, 5}) in sets
    assert frozenset({9, 10}) in sets  # nothing but punctuation / emoji: one "empty" group
    assert frozenset({6}) in sets and frozenset({7}) in sets


def test_groups_without_a_model() -> None:
    groups = group_similar(MISSES, None)
    check_partition(groups, len(MISSES))
    assert {0, 1, 2, 8} <= set(groups[0])
    assert not {4, 6, 7} & set(groups[0])


def test_threshold_controls_how_much_is_merged(embedder: Embedder) -> None:
    assert len(group_similar(MISSES, embedder, threshold=0.99)) > len(group_similar(MISSES, embedder))
    assert len(group_similar(MISSES[:8], embedder, threshold=-1.0)) == 1


@pytest.mark.parametrize("use_model", [True, False])
def test_edge_cases(embedder: Embedder, use_model: bool) -> None:
    model = embedder if use_model else None
    assert group_similar([], model) == []
    assert group_similar(["学费"], model) == [[0]]
    assert group_similar(["？", "!"], model) == [[0, 1]]


def test_a_few_thousand_texts(embedder: Embedder) -> None:
    texts = [f"{MISSES[i % 8]}{i}" for i in range(2000)]
    groups = group_similar(texts, embedder)
    check_partition(groups, len(texts))
    assert len(groups) < len(texts) / 2
