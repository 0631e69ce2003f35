"""Grouping similar visitor questions (the ones the bot could not answer) so an editor handles each topic once.

"学费多少 / 学费多少钱？/ 你们学费是多少" should land in one group, proposed as one new KB entry with its
paraphrases. Method, chosen for a few thousand texts and for groups an editor can trust:

1. Texts equal after ``normalise`` are always one group (case, width, traditional characters, punctuation).
2. Similarity is the sentence-embedding cosine, or without a model the tf-idf cosine of jieba words and character
   uni/bigrams (the matcher's lexical features).
3. Greedy "leader" clustering: the text with the most neighbours above the threshold (counting duplicates) leads a
   group and takes all its still-unassigned neighbours; repeat. Every member is similar to its leader, so groups
   do not drift through chains of slightly-related questions the way single-link clustering does.

Default thresholds are the best-F1 cut-offs for "same intent" on the LCQMC development pairs (0.86 for the
embedding cosine, rounded to 0.85; 0.50 for tf-idf). Similarities are computed in blocks of rows, so memory stays
at a few MB of neighbour lists, not an n × n matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from edudesk.nlp.embedding import Embedder
from edudesk.nlp.lexical import LexicalIndex, terms
from edudesk.nlp.normalise import normalise, normalise_for_embedding

__all__ = ["DEFAULT_EMBEDDING_THRESHOLD", "DEFAULT_LEXICAL_THRESHOLD", "group_similar"]

DEFAULT_EMBEDDING_THRESHOLD = 0.85
DEFAULT_LEXICAL_THRESHOLD = 0.50
_BLOCK = 512


def group_similar(texts: Sequence[str], embedder: Embedder | None,
                  threshold: float | None = None) -> list[list[int]]:
    """Groups of indices into ``texts`` that ask the same thing: biggest group first, indices ascending inside a
    group; every index in exactly one group (a text like no other is a group of one). Texts with no words at all
    (only punctuation or emoji) form one group of their own."""
    members: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        members.setdefault(normalise(text), []).append(i)
    unique = list(members)
    weight = np.asarray([len(members[k]) for k in unique], dtype=np.int64)
    adjacency = _adjacency(unique, [texts[members[k][0]] for k in unique], embedder, threshold)
    degree = adjacency @ weight
    order = sorted(range(len(unique)), key=lambda u: (-int(degree[u]), members[unique[u]][0]))
    assigned = np.zeros(len(unique), dtype=bool)
    groups: list[list[int]] = []
    for leader in order:
        if assigned[leader]:
            continue
        near = adjacency.indices[adjacency.indptr[leader]:adjacency.indptr[leader + 1]]
        taken = np.concatenate(([leader], near[~assigned[near]]))
        assigned[taken] = True
        groups.append(sorted(i for u in taken for i in members[unique[int(u)]]))
    groups.sort(key=lambda g: (-len(g), g[0]))
    return groups


def _adjacency(keys: Sequence[str], originals: Sequence[str], embedder: Embedder | None,
               threshold: float | None) -> sp.csr_matrix:
    """Unique text × unique text, 1 where two different texts are at least ``threshold`` similar."""
    n = len(keys)
    matchable = np.asarray([i for i, k in enumerate(keys) if k], dtype=np.int64)
    if embedder is not None:
        cut = DEFAULT_EMBEDDING_THRESHOLD if threshold is None else threshold
        vectors: np.ndarray | sp.csr_matrix = np.asarray(
            embedder.encode([normalise_for_embedding(originals[i]) for i in matchable]), dtype=np.float32) \
            if len(matchable) else np.zeros((0, 1), dtype=np.float32)
    else:
        cut = DEFAULT_LEXICAL_THRESHOLD if threshold is None else threshold
        rows = [terms(keys[i]) for i in matchable]
        vectors = LexicalIndex(rows, np.arange(len(rows)), len(rows)).text_matrix
    sources: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for start in range(0, len(matchable), _BLOCK):
        block = vectors[start:start + _BLOCK] @ vectors.T
        dense = block.toarray() if sp.issparse(block) else np.asarray(block)
        r, c = np.nonzero(dense >= cut)
        keep = (r + start) != c
        sources.append(matchable[r[keep] + start])
        targets.append(matchable[c[keep]])
    a = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int64)
    b = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(len(a), dtype=np.int64), (a, b)), shape=(n, n))
