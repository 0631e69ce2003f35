"""What reading colloquial questions costs the FAQ matcher (issue 14, item 1): build time, memory and latency of
``MatcherConfig(colloquial=True)`` (the default) against ``colloquial=False`` (the issue-4 matcher).

The two indexes are built over the same knowledge base with the same memoised embedding model, so the build
difference is the reading layers (lexicon on every text, concept terms, the pinyin speller) and not the encoder.
Latency is measured interleaved, query by query (on, off, on, off …), so that a busy shared machine slows both
alike; the ratio is the steadier figure. Also reported: the one-off cost per process of the pinyin character table
and of the input-method vocabulary (loaded on the first question that needs them).

    .venv/bin/python benchmarks/faq_colloquial.py [--sizes 1000,50000] [--sets tests/evaluation/colloquial] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from faq_match import synthetic_kb  # run as a script, benchmarks/ is on the path

from edudesk.evaluation import faq
from edudesk.nlp import pinyin
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder, MemoEmbedder, load_default_embedder
from edudesk.nlp.matcher import FaqIndex, MatcherConfig
from edudesk.nlp.tokenise import warm_up

ON, OFF = MatcherConfig(), MatcherConfig(colloquial=False)


def _build(documents: Sequence[FaqDocument], embedder: Embedder | None, config: MatcherConfig) -> tuple[FaqIndex,
                                                                                                        float, float]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    index = FaqIndex.build(documents, embedder, config)
    seconds = time.perf_counter() - started
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return index, seconds, size / 2**20


def _latencies(on: FaqIndex, off: FaqIndex, queries: Sequence[str]) -> dict[str, float]:
    for warm in ("你好", "学费多少", "xuefei"):
        on.match(warm)
        off.match(warm)
    times: dict[str, list[float]] = {"on": [], "off": []}
    for query in queries:
        for name, index in (("on", on), ("off", off)):
            t0 = time.perf_counter()
            index.match(query)
            times[name].append(time.perf_counter() - t0)
    out = {}
    for name, values in times.items():
        ms = np.asarray(values) * 1000
        out[f"{name}_p50_ms"] = round(float(np.percentile(ms, 50)), 2)
        out[f"{name}_p99_ms"] = round(float(np.percentile(ms, 99)), 2)
    out["extra_p50_ms"] = round(out["on_p50_ms"] - out["off_p50_ms"], 2)
    return out


def _compare(label: str, documents: Sequence[FaqDocument], queries: Sequence[str],
             model: Embedder | None) -> dict[str, object]:
    # One memo per index, each warmed by a build first: builds compare warm, and a query is encoded afresh by
    # each index (a shared memo would hand the second index the first one's vector for the same text).
    memo_on = MemoEmbedder(model) if model is not None else None
    memo_off = MemoEmbedder(model) if model is not None else None
    FaqIndex.build(documents, memo_on, ON)
    FaqIndex.build(documents, memo_off, OFF)
    off, off_seconds, off_mb = _build(documents, memo_off, OFF)
    on, on_seconds, on_mb = _build(documents, memo_on, ON)
    return {"kb": label, "texts": on.n_texts, "queries": len(queries),
            "build_off_s": round(off_seconds, 2), "build_on_s": round(on_seconds, 2),
            "index_off_mb": round(off_mb, 1), "index_on_mb": round(on_mb, 1), **_latencies(on, off, queries)}


def _one_off_costs() -> dict[str, float]:
    """Time first (tracemalloc slows allocation-heavy code several times), then memory of a second, traced load.
    jieba's own dictionary is loaded before: the matcher needs it anyway."""
    warm_up()
    started = time.perf_counter()
    pinyin.readings("学")
    table_s = time.perf_counter() - started
    started = time.perf_counter()
    pinyin.KbSpeller.build([["学费"]], {"学费"}).correct("zenmeyang")
    vocabulary_s = time.perf_counter() - started
    pinyin._table.cache_clear()
    pinyin._common_words.cache_clear()
    gc.collect()
    tracemalloc.start()
    pinyin.readings("学")
    table_mb = tracemalloc.get_traced_memory()[0] / 2**20
    pinyin.KbSpeller.build([["学费"]], {"学费"})
    total_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return {"pinyin_table_s": round(table_s, 3), "pinyin_table_mb": round(table_mb, 1),
            "ime_vocabulary_s": round(vocabulary_s, 2), "ime_vocabulary_mb": round(total_mb - table_mb, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,50000", help="synthetic KB sizes (questions), comma-separated")
    parser.add_argument("--sets", default="tests/evaluation/colloquial",
                        help="folder with <name>_kb.csv and <name>_dev.csv (only the dev halves are read)")
    parser.add_argument("--no-embedder", action="store_true", help="BM25-only mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    one_off = _one_off_costs()  # first, so that nothing else has loaded the table yet
    loaded = None if args.no_embedder else load_default_embedder()
    # the bare model: the loader's own memo would hand the second index every query the first one encoded
    model = loaded.inner if isinstance(loaded, MemoEmbedder) else loaded
    rows = []
    for kb_path in sorted(Path(args.sets).glob("*_kb.csv")):
        dev = kb_path.with_name(kb_path.name.replace("_kb.csv", "_dev.csv"))
        if dev.is_file():
            documents = faq.load_kb(kb_path)
            queries = [case.query for case in faq.load_tests(dev, documents)]
            rows.append(_compare(kb_path.stem, documents, queries, model))
    for size in (int(s) for s in args.sizes.split(",") if s):
        documents, synthetic = synthetic_kb(size)
        rows.append(_compare(f"synthetic {size}", documents, [q.text for q in synthetic], model))
    if args.json:
        print(json.dumps({"one_off": one_off, "embedder": model is not None, "results": rows}, ensure_ascii=False))
        return 0
    print(f"one-off per process: pinyin table {one_off['pinyin_table_s']} s / {one_off['pinyin_table_mb']} MB, "
          f"input-method vocabulary {one_off['ime_vocabulary_s']} s / {one_off['ime_vocabulary_mb']} MB")
    for row in rows:
        print(f"{row['kb']:>16} {row['texts']:>6} texts  build off {row['build_off_s']:6.2f} s on "
              f"{row['build_on_s']:6.2f} s  index off {row['index_off_mb']:6.1f} MB on {row['index_on_mb']:6.1f} MB"
              f"  match p50 off {row['off_p50_ms']:5.2f} on {row['on_p50_ms']:5.2f} ms  p99 off "
              f"{row['off_p99_ms']:5.2f} on {row['on_p99_ms']:5.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
