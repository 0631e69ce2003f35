"""FAQ matching: from a visitor's question to the knowledge-base entry that answers it, or to an honest "not sure".

Pure logic: built from :class:`~edudesk.nlp.documents.FaqDocument` values, no database, no HTTP. The bot builds one
:class:`FaqIndex` per organisation (and rebuilds it after a knowledge-base edit); ``edudesk eval faq`` builds one
from a CSV with the same code and the same default :class:`MatcherConfig`.

How a query is scored (the architecture's "Chinese language" section, made concrete):

0. **Reading it as written Chinese** (``understand``; issue 14, item 1). Parents type 咋收费, 学废, tyk, xuefei,
   "how much": the slang lexicon (``colloquial``) writes colloquial forms out on both sides, the query and every
   KB text, and ``pinyin`` repairs the query's homophone typos, pinyin and initials towards words this KB uses.
   Education concepts (price, place, schedule …) become one more lexical term of each text, and re-rank: an
   entry naming a concept of the query gets ``concept_boost`` added to its logit, but no entry ends up more
   probable than the best one was without it. ``MatcherConfig(colloquial=False)`` turns all of this off.
1. **Retrieval.** BM25 over jieba words and character uni/bigrams of every entry's questions (``lexical``), and
   the cosine between the query's sentence embedding and each question/paraphrase, the best one per entry
   (k-nearest neighbours, aggregated by max). Their weighted sum ``sim`` (0..1) says how close the query is to
   something the KB actually says; it is what keeps off-topic questions out.
2. **Per-index classifier.** A softmax regression fitted on the KB's own questions (``classifier``) gives
   ``p(entry | query)``: which of the entries the query means, given how this KB's entries differ. Without it
   (KB above the build budget) ``p`` is a softmax of ``sim`` itself.
3. **Fused score** ``sqrt(p · sim)`` in 0..1: high only when the query is both close to the KB and clearly about
   one entry. Candidates are ranked by it. ``answer`` needs score ≥ the answer threshold *and* ``p ≥ 0.5`` (the
   entry is more likely than all others together); ``suggest`` (did-you-mean, top 3) needs the suggest threshold;
   below that is ``fallback``. ``p`` is shrunk by ``n/(n+1)`` for a KB of ``n`` entries (one imaginary "none of
   these" entry), so a KB of one or two entries does not answer every question about anything.

Large KBs: everything per entry is a sparse row lookup or one small matrix product; the per-paraphrase kNN runs
only over the ``candidate_pool`` best entries by a cheap first pass (classifier logits, or BM25 plus cosine to the
entry's centroid, the centroid cosines bounded through a 128-column projection first so that only the entries that
can make the pool get the full product: ``CentroidBounds``), so a query stays within a few milliseconds at 50,000
paraphrases. A large build encodes its texts on a thread of its own while it builds the lexical side, and the
encoder spreads a bulk over both cores (``embedding``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from edudesk.nlp import colloquial
from edudesk.nlp.answers import AnswerEvidence
from edudesk.nlp.centroid_bounds import CentroidBounds
from edudesk.nlp.classifier import SoftmaxClassifier, softmax
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder, l2_normalise
from edudesk.nlp.lexical import LexicalIndex, QueryTerms, terms
from edudesk.nlp.matcher_config import MatcherConfig
from edudesk.nlp.normalise import normalise, normalise_for_embedding
from edudesk.nlp.pinyin import KbSpeller
from edudesk.nlp.threads import one_blas_thread, spare_core
from edudesk.nlp.tokenise import words

__all__ = ["Band", "Candidate", "FaqIndex", "MatchResult", "MatcherConfig"]


class Band(enum.StrEnum):
    """What the bot does with a match."""

    ANSWER = "answer"  # reply with the entry's answer
    SUGGEST = "suggest"  # "did you mean …": offer the top candidates
    FALLBACK = "fallback"  # the bot does not know: fallback reply / handoff rules


# "Confident": the best entry is more likely than all the others together.
_CONFIDENT = 0.5
# From this many texts a build encodes them on a thread of its own while it builds the lexical index.
_ENCODE_ASIDE = 512
# From this many entries (and no classifier) the first pass bounds the centroid cosines first (``CentroidBounds``):
# below it the centroids fit in the cache and the plain product is as fast.
_BOUNDED_ENTRIES = 1000
_BOUNDS_RANK = 128


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    question: str  # the entry's standard question
    score: float  # fused, 0..1
    matched_text: str  # the question or paraphrase of this entry closest to the query
    lexical: float = 0.0  # BM25 part, 0..1
    semantic: float = 0.0  # best embedding cosine, 0..1 (0 without a model)
    probability: float = 0.0  # p(entry | query)


@dataclass(frozen=True)
class MatchResult:
    query: str
    band: Band
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def answer(self) -> Candidate | None:
        """The entry to answer with, when the band is ``answer``."""
        return self.candidates[0] if self.band is Band.ANSWER and self.candidates else None

    @property
    def score(self) -> float:
        return self.candidates[0].score if self.candidates else 0.0


@dataclass(frozen=True)
class _Entries:
    ids: np.ndarray  # entry_id per index position
    questions: tuple[str, ...]
    texts: tuple[str, ...]  # original question / paraphrase texts, grouped by entry
    starts: np.ndarray  # texts of entry i are texts[starts[i]:starts[i+1]]
    entry_of_text: np.ndarray
    answers: tuple[str, ...] = ()  # per entry, "" when none


@dataclass(frozen=True)
class _Classifier:
    model: SoftmaxClassifier
    bucket: np.ndarray  # lexical vocabulary id -> the classifier's sparse column


def _terms(text: str, config: MatcherConfig, tokens: Sequence[str] | None = None) -> list[str]:
    """Lexical terms of a normalised (and, with ``colloquial``, rewritten) text, with its concept terms."""
    found = terms(text, tokens)
    if config.colloquial and found:
        found.extend(colloquial.concepts(text))
    return found


def _entry_concepts(normalised: Sequence[str], entries: _Entries) -> np.ndarray:
    """Which concepts each entry names in any of its texts: bool, (entries, concepts). (Counting an entry only when
    a share of its texts names the concept was tried, for chit-chat entries with fifty paraphrases: no better on
    the dev sets.)"""
    found = np.zeros((len(entries.ids), len(colloquial.CONCEPTS)), dtype=bool)
    for text, entry in zip(normalised, entries.entry_of_text, strict=True):
        for concept in colloquial.concepts(text):
            found[entry, colloquial.CONCEPT_INDEX[concept]] = True
    return found


def _embedding_form(text: str, config: MatcherConfig) -> str:
    """A knowledge-base text as the encoder sees it: in the same written form as a rewritten query."""
    folded = normalise_for_embedding(text)
    return colloquial.rewrite(folded, fillers=False) if config.colloquial else folded


def _collect(documents: Sequence[FaqDocument]) -> tuple[_Entries, list[str]]:
    seen: set[int] = set()
    ids: list[int] = []
    questions: list[str] = []
    texts: list[str] = []
    normalised: list[str] = []
    answers: list[str] = []
    starts = [0]
    for doc in documents:
        if doc.entry_id in seen:
            raise ValueError(f"duplicate entry_id {doc.entry_id}")
        seen.add(doc.entry_id)
        kept: dict[str, str] = {}
        for text in (doc.question, *doc.similar):
            key = normalise(text)
            if key and key not in kept:
                kept[key] = text
        if not kept:
            continue  # nothing matchable (e.g. a question of only punctuation)
        ids.append(doc.entry_id)
        questions.append(doc.question)
        answers.append(doc.answer)
        texts.extend(kept.values())
        normalised.extend(kept.keys())
        starts.append(len(texts))
    starts_arr = np.asarray(starts, dtype=np.int64)
    entry_of_text = np.repeat(np.arange(len(ids), dtype=np.int64), np.diff(starts_arr))
    return _Entries(np.asarray(ids, dtype=np.int64), tuple(questions), tuple(texts), starts_arr,
                    entry_of_text, tuple(answers)), normalised


class FaqIndex:
    """An immutable, thread-safe FAQ index over one knowledge base. Build with :meth:`build`."""

    def __init__(self, entries: _Entries, lexical: LexicalIndex, embedder: Embedder | None,
                 text_vectors: np.ndarray | None, centroids: np.ndarray | None,
                 classifier: _Classifier | None, config: MatcherConfig, speller: KbSpeller | None = None,
                 concept_sets: np.ndarray | None = None, answers: AnswerEvidence | None = None,
                 bounds: CentroidBounds | None = None) -> None:
        self._entries = entries
        self._bounds = bounds  # for the first pass of a large KB without classifier
        self._answers = answers  # None: colloquial off, or no entry has an answer
        self._speller = speller
        self._concepts = concept_sets  # bool, (entries, concepts): the concepts any text of the entry names
        self._lexical = lexical
        self._embedder = embedder
        self._text_vectors = text_vectors  # float32 (float16 would halve memory but costs 1 ms a query to widen)
        self._centroids = centroids  # float32, one unit row per entry
        self._classifier = classifier
        self.config = config

    @classmethod
    def build(cls, documents: Sequence[FaqDocument], embedder: Embedder | None,
              config: MatcherConfig | None = None) -> FaqIndex:
        """Index ``documents``; with ``embedder=None`` the index is BM25-only (and uses the BM25-only thresholds)."""
        config = config or MatcherConfig()
        entries, normalised = _collect(documents)
        n_entries, n_texts = len(entries.ids), len(entries.texts)
        with ExitStack() as stack:
            # The encoder (nearly all of a large build) runs while this thread builds the lexical side, when a core
            # is spare: its products release the GIL, the lexical side is Python. A small KB is encoded in line.
            encoding: Future[np.ndarray] | None = None
            vectors: np.ndarray | None = None
            if embedder is not None and n_texts:
                forms = [_embedding_form(t, config) for t in entries.texts]
                if n_texts >= _ENCODE_ASIDE and spare_core():
                    pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="edudesk-index-encode"))
                    encoding = pool.submit(embedder.encode, forms)
                else:
                    vectors = embedder.encode(forms)
            if config.colloquial:
                normalised = [colloquial.rewrite(t) for t in normalised]
            tokens = [words(t) for t in normalised]
            lexical = LexicalIndex([_terms(t, config, w) for t, w in zip(normalised, tokens, strict=True)],
                                   entries.entry_of_text, n_entries)
            speller = KbSpeller.build(tokens, lexical.vocab) if config.colloquial else None
            concept_sets = _entry_concepts(normalised, entries) if config.colloquial else None
            answers = AnswerEvidence.build(tokens, entries.entry_of_text, entries.answers) if config.colloquial \
                else None
            if encoding is not None:
                vectors = encoding.result()
        text_vectors = centroids = None
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            centroids = l2_normalise(np.add.reduceat(vectors, entries.starts[:-1], axis=0))
            text_vectors = vectors
        classifier = None
        if 1 < n_entries <= config.classifier_max_entries and n_texts * n_entries <= config.classifier_max_cells:
            features, bucket = lexical.hashed(config.classifier_buckets)
            model = SoftmaxClassifier.fit(features, vectors, entries.entry_of_text, n_entries, l2=config.classifier_l2)
            classifier = _Classifier(model, bucket)
        bounds = None
        if classifier is None and centroids is not None and n_entries >= _BOUNDED_ENTRIES:
            with one_blas_thread():
                bounds = CentroidBounds.build(centroids, min(_BOUNDS_RANK, centroids.shape[1] // 4))
        return cls(entries, lexical, embedder, text_vectors, centroids, classifier, config, speller, concept_sets,
                   answers, bounds)

    # ---- introspection ----
    @property
    def semantic(self) -> bool:
        """Whether an embedding model takes part (otherwise BM25-only)."""
        return self._text_vectors is not None

    @property
    def has_classifier(self) -> bool:
        return self._classifier is not None

    def __len__(self) -> int:
        return len(self._entries.ids)

    @property
    def n_texts(self) -> int:
        return len(self._entries.texts)

    def with_config(self, config: MatcherConfig) -> FaqIndex:
        """The same index with other thresholds/weights (the classifier stays as fitted)."""
        return FaqIndex(self._entries, self._lexical, self._embedder, self._text_vectors, self._centroids,
                        self._classifier, config, self._speller if config.colloquial else None,
                        self._concepts if config.colloquial else None,
                        self._answers if config.colloquial else None, self._bounds)

    # ---- matching ----
    def match(self, query: str, k: int = 3) -> MatchResult:
        """The ``k`` best entries for a visitor's question and what to do with them."""
        scored = self._score(query, use_classifier=True, limit=max(k, 1))
        if scored is None:
            return MatchResult(query, Band.FALLBACK)
        answer_at, suggest_at = self.config.thresholds(self.semantic)
        best = scored[0]
        if best.score >= answer_at and best.probability >= _CONFIDENT:
            band = Band.ANSWER
        elif best.score >= suggest_at:
            band = Band.SUGGEST
        else:
            band = Band.FALLBACK
        return MatchResult(query, band, tuple(scored[:k]))

    def suggest_for(self, context: str, k: int = 3) -> list[Candidate]:
        """Entries related to a context string (page title, course name) for "猜你所想", best first.

        Plain retrieval similarity, no classifier and no thresholds: a page title is not a question, and the bot
        shows these as hints, not answers. Only entries sharing at least one word or character n-gram with the
        context are offered, so a title about something the KB never mentions suggests nothing.
        """
        scored = self._score(context, use_classifier=False, limit=None)
        if scored is None:
            return []
        related = [c for c in scored if c.lexical > 0]
        related.sort(key=lambda c: -float(self._fuse_sim(c.lexical, c.semantic)))
        return related[:k]

    def _fuse_sim(self, lexical: float | np.ndarray, semantic: float | np.ndarray) -> float | np.ndarray:
        if not self.semantic:
            return lexical
        wl, ws = self.config.lexical_weight, self.config.semantic_weight
        return (wl * lexical + ws * semantic) / (wl + ws)

    def _score(self, query: str, use_classifier: bool, limit: int | None) -> list[Candidate] | None:
        """The ``limit`` best pooled entries (all with ``None``), best first; ``None`` when the query has nothing
        to match on."""
        with one_blas_thread():
            return self._score_entries(query, use_classifier, limit)

    def _score_entries(self, query: str, use_classifier: bool, limit: int | None) -> list[Candidate] | None:
        if not len(self):
            return None
        written = self.understand(query)
        text = normalise(colloquial.rewrite(written) if self.config.colloquial else written)
        if not text:
            return None
        tokens = words(text)
        qterms = self._lexical.query(_terms(text, self.config, tokens))
        lexical = self._lexical.bm25_scores(qterms)
        qvec = self._embed_query(written) if self.semantic else None
        if qvec is None and qterms.empty:
            return None
        classifier = self._classifier if use_classifier else None
        logits = classifier.model.logits((classifier.bucket[qterms.ids], qterms.weights), qvec) if classifier \
            else None
        agree = self._agreement(text) if use_classifier else None
        boosted = logits + self.config.concept_boost * agree if logits is not None and agree is not None \
            else logits
        pool = self._pool(lexical, qvec, boosted)
        closest, matched = self._knn(pool, qvec, qterms)
        semantic = closest if qvec is not None else np.zeros(len(pool), dtype=np.float32)
        sim = np.clip(self._fuse_sim(lexical[pool], semantic), 0.0, 1.0)
        plain = logits[pool] if logits is not None else sim.astype(np.float64) / self.config.retrieval_temperature
        prob = softmax(plain.astype(np.float64))
        unexplained = [w for w in tokens if w not in self._lexical.vocab]  # looked up in the answers (``answers``)
        if self._answers is not None and self.config.answer_weight and use_classifier:
            cover = self._answers.cover(unexplained, pool)
            if cover is not None:
                plain = plain + self.config.answer_weight * cover
                prob = np.minimum(softmax(plain), prob.max())
        if agree is not None:
            # The concept moves belief between entries, never adds to it: no entry is more probable than the
            # best one was without the concept ("钢琴考级报名" must not become a confident 报名 answer).
            prob = np.minimum(softmax(plain + self.config.concept_boost * agree[pool]), prob.max())
            if self._answers is not None and self.config.subject_qualifiers:
                prob = self._answers.explain(tokens, colloquial.concepts(text), pool, prob, agree[pool],
                                             unexplained)
        prob *= len(self) / (len(self) + 1.0)  # the imaginary "none of these" entry (module docstring)
        fused = np.sqrt(prob * sim)
        order = np.lexsort((pool, -fused))[:limit]
        e = self._entries
        return [
            Candidate(int(e.ids[pool[i]]), e.questions[pool[i]], float(fused[i]), e.texts[matched[i]],
                      float(lexical[pool[i]]), float(max(semantic[i], 0.0)), float(prob[i]))
            for i in order
        ]

    def _agreement(self, text: str) -> np.ndarray | None:
        """1.0 for the entries that name a concept of the query's first clause that names one, ``later_concept_weight``
        for those naming only a concept of a later clause, 0.0 for the others; ``None`` when the query names none or
        no entry names one of its concepts."""
        if self._concepts is None:
            return None
        clauses = colloquial.concept_clauses(text)
        if not clauses:
            return None
        first = min(clauses.values())
        agree = np.zeros(len(self._concepts), dtype=np.float32)
        for concept, clause in clauses.items():
            weight = 1.0 if clause == first else self.config.later_concept_weight
            agree = np.maximum(agree, weight * self._concepts[:, colloquial.CONCEPT_INDEX[concept]])
        return agree if bool(agree.any()) else None

    def understand(self, query: str) -> str:
        """The query as the matcher reads it: cut, folded (punctuation kept), colloquial forms written out, typos
        repaired towards this KB's words. What the encoder sees; ``normalise`` of it is what BM25 sees."""
        text = normalise_for_embedding(query[: self.config.max_query_chars * 2])[: self.config.max_query_chars]
        if self.config.colloquial and text:
            text = colloquial.rewrite(text, fillers=False)
            if self._speller is not None:
                text = self._speller.correct(text)
        return text

    def _embed_query(self, text: str) -> np.ndarray | None:
        assert self._embedder is not None
        if not text:
            return None
        vector: np.ndarray = np.asarray(self._embedder.encode([text]), dtype=np.float32)[0]
        return vector

    def _pool(self, lexical: np.ndarray, qvec: np.ndarray | None, logits: np.ndarray | None) -> np.ndarray:
        """Indices of the entries that get the full (per-paraphrase) scoring."""
        n = len(self)
        size = self.config.candidate_pool
        if n <= size:
            return np.arange(n)
        if logits is not None:
            first = logits
        elif qvec is not None and self._centroids is not None:
            candidates = self._bounded(lexical, qvec, size)
            if candidates is not None:
                first = np.asarray(self._fuse_sim(lexical[candidates], self._centroids[candidates] @ qvec))
                return np.sort(candidates[np.argpartition(-first, size - 1)[:size]])
            first = np.asarray(self._fuse_sim(lexical, self._centroids @ qvec))
        else:
            first = lexical
        return np.sort(np.argpartition(-first, size - 1)[:size])

    def _bounded(self, lexical: np.ndarray, qvec: np.ndarray, size: int) -> np.ndarray | None:
        """The entries that can be among the ``size`` best of the first pass, or ``None`` (``CentroidBounds``)."""
        if self._bounds is None:
            return None
        return self._bounds.candidates(lexical, qvec, size, self._fuse_sim)

    def _knn(self, pool: np.ndarray, qvec: np.ndarray | None,
             qterms: QueryTerms) -> tuple[np.ndarray, np.ndarray]:
        """Best per-paraphrase similarity inside each pooled entry, and which text it was."""
        e = self._entries
        lengths = e.starts[pool + 1] - e.starts[pool]
        whole = len(pool) == len(self)
        if whole:
            rows = np.arange(self.n_texts)
        else:  # the texts of the pooled entries, in pool order: one arange per entry, built without a loop
            offsets = np.repeat(e.starts[pool] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
            rows = offsets + np.arange(int(lengths.sum()))
        if qvec is not None and self._text_vectors is not None:
            vectors = self._text_vectors if whole else self._text_vectors[rows]
            sims = vectors @ qvec
        else:
            sims = self._lexical.text_cosines(qterms)
            sims = sims if whole else sims[rows]
        bounds = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        best = np.maximum.reduceat(sims, bounds)
        # the first text of each entry reaching its best value: the standard question wins ties (``hits`` ascend,
        # so an entry's first hit is where the entry changes; every entry has one)
        segment = np.repeat(np.arange(len(pool)), lengths)
        hits = np.flatnonzero(sims == best[segment])
        of_hit = segment[hits]
        first = np.flatnonzero(np.concatenate(([True], of_hit[1:] != of_hit[:-1])))
        return best, rows[hits[first]]

