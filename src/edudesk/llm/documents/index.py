"""Retrieval over an org's passages with the FAQ matcher's building blocks: BM25 over jieba words and character
bigrams (``nlp.lexical``) fused with the packaged sentence embedding (``nlp.embedding``), when it is installed.

One index per org and process, cached like the FAQ bot (``bot.runtime``): it is rebuilt when the org's
``documents_revision`` moved (a document was added, replaced or deleted, here or in another process) or the day
changed (validity dates). A job warms it after each change, so the first visitor after an upload does not wait.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.llm.models import LlmDocument, LlmDocumentVersion, LlmPassage, LlmSettings
from edudesk.localtime import local_today
from edudesk.nlp.embedding import Embedder
from edudesk.nlp.lexical import LexicalIndex, terms
from edudesk.nlp.normalise import normalise, normalise_for_embedding

# Below this fused score a passage is not evidence for the question (set by hand on the tests' brochure, not tuned: a
# question about something the documents never mention, "停车方便吗", scores about 0.04).
MIN_SCORE = 0.1
LEXICAL_WEIGHT = 0.6


@dataclass(frozen=True)
class Hit:
    passage_id: int
    document_id: int
    document: str  # the document's title, as the citation shows it
    version: int
    position: int
    heading: str
    text: str
    score: float


@dataclass(frozen=True)
class _Row:
    passage_id: int
    document_id: int
    document: str
    version: int
    position: int
    heading: str
    text: str


class PassageIndex:
    def __init__(self, rows: Sequence[_Row], embedder: Embedder | None) -> None:
        self.rows = list(rows)
        texts = [normalise(f"{r.heading} {r.text}") for r in self.rows]
        self.lexical = LexicalIndex([terms(t) for t in texts], np.arange(len(texts)), len(texts)) if texts else None
        self.embedder = embedder
        self.vectors: np.ndarray | None = None
        if embedder is not None and self.rows:
            self.vectors = embedder.encode([normalise_for_embedding(f"{r.heading} {r.text}") for r in self.rows])

    def __len__(self) -> int:
        return len(self.rows)

    def search(self, query: str, k: int = 4, min_score: float = MIN_SCORE) -> list[Hit]:
        if self.lexical is None or not query.strip():
            return []
        lexical = self.lexical.bm25_scores(self.lexical.query(terms(normalise(query))))
        if self.vectors is not None and self.embedder is not None:
            qvec = self.embedder.encode([normalise_for_embedding(query)])[0]
            semantic = np.clip(self.vectors @ qvec, 0.0, 1.0)
            scores = LEXICAL_WEIGHT * lexical + (1.0 - LEXICAL_WEIGHT) * semantic
        else:
            scores = lexical
        order = np.argsort(-scores)[:k]
        return [Hit(**vars(self.rows[i]), score=float(scores[i])) for i in order if scores[i] >= min_score]


def active_rows(session: Session, org_id: int, today: dt.date) -> list[_Row]:
    """The passages of each live document's current version, within its validity dates."""
    stmt = (
        select(LlmPassage, LlmDocument.title, LlmDocumentVersion.version)
        .join(LlmDocumentVersion, LlmDocumentVersion.id == LlmPassage.version_id)
        .join(LlmDocument, LlmDocument.id == LlmPassage.document_id)
        .where(
            LlmPassage.org_id == org_id,
            LlmDocument.org_id == org_id,
            LlmDocument.deleted_at.is_(None),
            LlmDocumentVersion.version == LlmDocument.current_version,
        )
        .where((LlmDocument.valid_from.is_(None)) | (LlmDocument.valid_from <= today))
        .where((LlmDocument.valid_until.is_(None)) | (LlmDocument.valid_until >= today))
        .order_by(LlmPassage.document_id, LlmPassage.position)
    )
    return [
        _Row(p.id, p.document_id, title, version, p.position, p.heading, p.text)
        for p, title, version in session.execute(stmt)
    ]


class PassageIndexes:
    """The per-process cache of every org's passage index (the app factory makes one)."""

    def __init__(self, embedder: Callable[[], Embedder | None]) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self._built: dict[int, tuple[tuple[int, dt.date], PassageIndex]] = {}

    def get(self, session: Session, org_id: int, today: dt.date | None = None) -> PassageIndex:
        today = today or local_today()
        revision = session.scalar(select(LlmSettings.documents_revision).where(LlmSettings.org_id == org_id)) or 0
        key = (int(revision), today)
        with self._lock:
            cached = self._built.get(org_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        rows = active_rows(session, org_id, today)
        index = PassageIndex(rows, self._embedder() if rows else None)
        with self._lock:
            self._built[org_id] = (key, index)
        return index

    def forget(self, org_id: int) -> None:
        with self._lock:
            self._built.pop(org_id, None)
