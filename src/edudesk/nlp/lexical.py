"""The lexical half of FAQ matching: terms, BM25 over entries, and tf-idf vectors of single texts.

Terms of a normalised text are its jieba words plus its character unigrams and bigrams (see ``tokenise``). Two
views are built over them, both as scipy sparse matrices (a query touches only the rows of its own terms):

- **BM25 per entry**: an entry's standard question and all its paraphrases form one document. This ranks better
  than one document per paraphrase (an entry with many phrasings collects evidence from all of them) and is the
  lexical score the matcher fuses. It is divided by the best score the query could reach (every query term at
  saturation), so it reads as "how much of the query this entry covers", in 0..1. Query terms that occur nowhere
  in the knowledge base count in that denominator with the highest IDF: a question about something the KB never
  mentions scores low even if it shares a few common characters.
- **tf-idf per text**, rows of unit length: the lexical features of the per-index classifier and the lexical
  cosine that picks which paraphrase matched when there is no embedding model.

scipy rather than ``bm25s``: the matcher needs the per-entry score vector (not a top-k list), the query's own
ceiling with unknown terms counted, and a second (per-text) view over the same vocabulary; that is forty lines of
sparse arithmetic, and a query costs a few sparse row gathers (~0.1 ms at 50,000 questions: only the postings of
the query's own terms are read, never a product with the whole matrix).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from edudesk.nlp.tokenise import char_units, words

__all__ = ["Bm25Params", "LexicalIndex", "QueryTerms", "terms"]


def terms(normalised: str, tokens: Sequence[str] | None = None) -> list[str]:
    """The lexical terms of a normalised text: jieba words, then character unigrams and bigrams (with repeats).
    ``tokens``: its jieba words when the caller has them already."""
    if not normalised:
        return []
    out = list(tokens) if tokens is not None else words(normalised)
    for units in char_units(normalised):
        out.extend(units)
        out.extend(a + b for a, b in pairwise(units))
    return out


@dataclass(frozen=True)
class Bm25Params:
    k1: float = 1.2
    b: float = 0.75


@dataclass(frozen=True)
class QueryTerms:
    """A query's distinct terms: ids of those the index knows (sorted), their tf-idf weights in a unit-length
    query vector (unknown terms only lengthen it), and how many terms the index has never seen."""

    ids: np.ndarray
    weights: np.ndarray
    unknown: int

    @property
    def empty(self) -> bool:
        return self.ids.size == 0


def _row_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stored entries per row, their columns, their values) of the given rows, row after row: a sparse row
    gather in numpy, without building an intermediate scipy matrix (which costs more than the arithmetic on a
    query). One slice per row, joined once: a query has a few dozen terms but their postings run to tens of
    thousands at 50,000 questions, and computing every position (repeat, cumsum, arange, two fancy gathers) cost
    twice as much as copying the slices (issue 17, item 4)."""
    indptr = matrix.indptr
    starts, ends = indptr[rows], indptr[rows + 1]
    if not len(rows):
        return np.zeros(0, dtype=np.int64), matrix.indices[:0], matrix.data[:0]
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    indices, data = matrix.indices, matrix.data
    return (ends - starts, np.concatenate([indices[a:b] for a, b in spans]),
            np.concatenate([data[a:b] for a, b in spans]))


class LexicalIndex:
    """Vocabulary, BM25 weights per (term, entry), and unit-length tf-idf rows per text."""

    def __init__(self, text_terms: Sequence[Sequence[str]], entry_of_text: np.ndarray, n_entries: int,
                 params: Bm25Params | None = None) -> None:
        self.params = params or Bm25Params()
        self.n_entries = n_entries
        self.vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for i, text in enumerate(text_terms):
            for term in set(text):
                j = self.vocab.setdefault(term, len(self.vocab))
                rows.append(i)
                cols.append(j)
        n_texts, n_terms = len(text_terms), len(self.vocab)
        presence = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_texts, n_terms))
        self._build_text_tfidf(presence)
        self._build_bm25(text_terms, entry_of_text)

    # ---- building ----
    def _build_text_tfidf(self, presence: sp.csr_matrix) -> None:
        n_texts = presence.shape[0]
        df = np.asarray(presence.sum(axis=0)).ravel()
        self.text_idf = (np.log((1.0 + n_texts) / (1.0 + df)) + 1.0).astype(np.float32)
        self.unknown_text_idf = float(np.log(1.0 + n_texts) + 1.0)
        weighted = presence.multiply(self.text_idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        self.text_matrix: sp.csr_matrix = (sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted).tocsr().astype(
            np.float32)
        self._text_postings: sp.csr_matrix = self.text_matrix.T.tocsr()  # term -> texts, for query-time lookups

    def _build_bm25(self, text_terms: Sequence[Sequence[str]], entry_of_text: np.ndarray) -> None:
        k1, b = self.params.k1, self.params.b
        rows: list[int] = []
        cols: list[int] = []
        for i, text in enumerate(text_terms):
            entry = int(entry_of_text[i])
            for term in text:
                rows.append(self.vocab[term])
                cols.append(entry)
        shape = (len(self.vocab), self.n_entries)
        tf = sp.coo_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=shape).tocsr()
        tf.sum_duplicates()
        doc_len = np.asarray(tf.sum(axis=0)).ravel()
        avg_len = max(float(doc_len.mean()) if doc_len.size else 0.0, 1e-9)
        n_docs = max(self.n_entries, 1)
        df = np.diff(tf.indptr).astype(np.float64)
        self.bm25_idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.unknown_bm25_idf = float(np.log(1.0 + (n_docs + 0.5) / 0.5))
        coo = tf.tocoo()
        denom = coo.data + k1 * (1.0 - b + b * doc_len[coo.col] / avg_len)
        weights = self.bm25_idf[coo.row] * coo.data * (k1 + 1.0) / denom
        self.bm25: sp.csr_matrix = sp.csr_matrix((weights.astype(np.float32), (coo.row, coo.col)), shape=shape)

    def hashed(self, n_buckets: int) -> tuple[sp.csr_matrix, np.ndarray]:
        """``text_matrix`` with its columns folded into at most ``n_buckets`` (a stable hash of the term), and the
        bucket of every vocabulary id. Bounds the classifier's size whatever the vocabulary; a vocabulary that
        fits keeps one column per term."""
        n_terms = len(self.vocab)
        if n_terms <= n_buckets:
            bucket = np.arange(n_terms, dtype=np.int64)
            return self.text_matrix, bucket
        bucket = np.empty(n_terms, dtype=np.int64)
        for term, j in self.vocab.items():
            bucket[j] = zlib.crc32(term.encode("utf-8")) % n_buckets
        fold = sp.csr_matrix((np.ones(n_terms, dtype=np.float32), (np.arange(n_terms), bucket)),
                             shape=(n_terms, n_buckets))
        return (self.text_matrix @ fold).tocsr(), bucket

    # ---- querying ----
    @property
    def n_texts(self) -> int:
        return int(self.text_matrix.shape[0])

    def query(self, query_terms: Sequence[str]) -> QueryTerms:
        distinct = set(query_terms)
        ids = np.asarray(sorted(self.vocab[t] for t in distinct if t in self.vocab), dtype=np.int64)
        unknown = len(distinct) - len(ids)
        values = self.text_idf[ids]
        norm = np.sqrt(float(np.dot(values, values)) + unknown * self.unknown_text_idf ** 2)
        return QueryTerms(ids, (values / max(norm, 1e-12)).astype(np.float32), unknown)

    def bm25_scores(self, query: QueryTerms) -> np.ndarray:
        """Per-entry BM25 over the best score the query could reach: 0..1, shape ``(n_entries,)``."""
        if query.empty:
            return np.zeros(self.n_entries, dtype=np.float32)
        _, entries, weights = _row_entries(self.bm25, query.ids)
        raw = np.bincount(entries, weights=weights, minlength=self.n_entries)
        ceiling = (float(self.bm25_idf[query.ids].sum()) + query.unknown * self.unknown_bm25_idf) * (
            self.params.k1 + 1.0)
        return (raw / ceiling).astype(np.float32)

    def text_cosines(self, query: QueryTerms) -> np.ndarray:
        """tf-idf cosine between the query and every text: shape ``(n_texts,)``."""
        if query.empty:
            return np.zeros(self.n_texts, dtype=np.float32)
        lengths, texts, values = _row_entries(self._text_postings, query.ids)
        weights = values * np.repeat(query.weights, lengths)
        return np.bincount(texts, weights=weights, minlength=self.n_texts).astype(np.float32)
