"""Visitors' FAQ matches while another org's knowledge base is re-indexed cold in the same process.

The bot rebuilds an org's index on a background thread of the server process (``bot/runtime.py``) while the same
process answers other orgs' visitors. This builds a synthetic KB of ``--size`` questions cold (empty embedding
memo) on a thread and meanwhile matches a fresh question (new to the memo, so the encoder runs) on a small org's
index every ``--every`` seconds, as a visitor would, and reports the build time and the visitors' latency
p50/p99/max. Issue 17, item 4: before, every bulk chunk took the encoder's lock and a visitor's one sentence could
wait behind many chunks (p99 6.6 s, max 16 s at 50k on a busy machine).

    PYTHONPATH=src .venv/bin/python benchmarks/faq_rebuild_visitors.py [--size 50000] [--every 0.05] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np
from faq_match import synthetic_kb  # run as a script, benchmarks/ is on the path

from edudesk.bench.machine import machine_busy_seconds, python_core_ms
from edudesk.nlp.embedding import MemoEmbedder, load_default_embedder
from edudesk.nlp.matcher import FaqIndex


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50000, help="questions of the KB rebuilt cold")
    parser.add_argument("--every", type=float, default=0.05, help="seconds between two visitors' questions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = load_default_embedder()
    if model is None or not isinstance(model, MemoEmbedder):
        print("the embedding model is not installed: nothing to measure", file=sys.stderr)
        return 1
    core_ms = python_core_ms()
    small_docs, small_queries = synthetic_kb(1000)
    small = FaqIndex.build(small_docs, model)
    documents, _ = synthetic_kb(args.size)
    done = threading.Event()
    build_seconds: list[float] = []

    def rebuild() -> None:
        started = time.perf_counter()
        FaqIndex.build(documents, MemoEmbedder(model.inner))  # cold: nothing remembered
        build_seconds.append(time.perf_counter() - started)
        done.set()

    latencies: list[float] = []
    started, cpu0, busy0 = time.perf_counter(), time.process_time(), machine_busy_seconds()
    builder = threading.Thread(target=rebuild, name="rebuild")
    builder.start()
    n = 0
    while not done.is_set():
        text = f"{small_queries[n % len(small_queries)].text}{n}"  # new to the memo: the encoder runs
        n += 1
        t0 = time.perf_counter()
        small.match(text)
        latencies.append(time.perf_counter() - t0)
        done.wait(args.every)
    builder.join()
    wall = time.perf_counter() - started
    others = max(0.0, (machine_busy_seconds() - busy0) - (time.process_time() - cpu0)) / wall * 100
    ms = np.asarray(latencies) * 1000
    figures = {"size": args.size, "build_seconds": round(build_seconds[0], 1), "matches": len(ms),
               "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
               "max_ms": round(float(ms.max()), 1), "others_percent": round(others), "python_core_ms": core_ms,
               "load_average": round(os.getloadavg()[0], 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"rebuild of {args.size} questions: {figures['build_seconds']} s; visitors meanwhile: "
              f"{figures['matches']} matches, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max "
              f"{figures['max_ms']} ms  |  others {figures['others_percent']} % of a core, one core {core_ms} ms, "
              f"load average {figures['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
