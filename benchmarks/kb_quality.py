"""How long the ``kb.quality`` job takes: the answer-quality report of a knowledge base (5 folds, one index build
per fold, every labelled question matched twice), on the synthetic education KBs of ``faq_match.py``.

Prints, per KB size, the seconds of ``edudesk.kb.quality.compute`` with the resolved misses it is given (fresh
paraphrases labelled with their entry, and off-topic questions labelled out of scope), the number of questions
scored and the report's headline figures. It runs in a durable job, never in a request; what matters is that a
big KB finishes within minutes and within the worker's lease renewals.

    .venv/bin/python benchmarks/kb_quality.py [--sizes 1000,10000] [--misses 500] [--no-embedder] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from faq_match import synthetic_kb

from edudesk.kb import quality
from edudesk.nlp.embedding import load_default_embedder
from edudesk.nlp.matcher import MatcherConfig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="total questions per KB, comma-separated")
    parser.add_argument("--misses", type=int, default=500, help="labelled misses per run")
    parser.add_argument("--no-embedder", action="store_true", help="BM25-only mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = None if args.no_embedder else load_default_embedder()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        documents, queries = synthetic_kb(size)
        misses = [(n, q.text, q.expected) for n, q in enumerate(queries[:args.misses])]
        started = time.perf_counter()
        data = quality.compute(documents, misses, model, MatcherConfig())
        seconds = time.perf_counter() - started
        scored = sum((data[k]["summary"] or {}).get("queries", 0) for k in ("misses", "similar"))
        rows.append({"texts": data["texts"], "entries": data["entries"], "seconds": round(seconds, 1),
                     "scored": scored, "misses": data["misses"]["summary"], "similar": data["similar"]["summary"]})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{'texts':>7} {'entries':>7} {'seconds':>8} {'scored':>7}  "
          "misses top1/answered/wrong · similar top1/answered")
    for r in rows:
        m, s = r["misses"] or {}, r["similar"] or {}
        print(f"{r['texts']:>7} {r['entries']:>7} {r['seconds']:>8} {r['scored']:>7}  "
              f"{m.get('top1', 0):.3f}/{m.get('answered', 0):.3f}/{m.get('wrong_answer_rate', 0):.3f} · "
              f"{s.get('top1', 0):.3f}/{s.get('answered', 0):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
