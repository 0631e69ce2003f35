"""Field-extraction speed: messages per second and per-message latency (p50/p99) of ``extract()``.

Extraction runs on every visitor message, so it must cost little next to FAQ matching (~1 ms). Measured on the
hand-labelled test set ``tests/nlp/extract/messages.jsonl`` (274 realistic parent/student messages), repeated, one
message at a time, after one warm-up pass (the lexicon and the NER model load once per process). Reported for the
full path (rules + the NER backup where it runs) and rules only, plus how often the NER backup ran.

Target: well under 1 ms per typical message. ``--set`` measures other labelled files too, e.g. the round-2 sets
(exam preparation and small talk, where the NER backup runs more often because small talk is full of surname
characters):

    .venv/bin/python benchmarks/extract_speed.py [--repeat 20] [--json] [--set tests/nlp/extract/chatter_dev.jsonl]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from edudesk.nlp.extract import extract

MESSAGES = Path(__file__).resolve().parent.parent / "tests" / "nlp" / "extract" / "messages.jsonl"


def _measure(texts: list[str], repeat: int, use_model: bool) -> dict[str, float]:
    for text in texts:  # warm-up: lexicon, regexes, model session
        extract(text, use_model=use_model)
    timings: list[float] = []
    started = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            t0 = time.perf_counter()
            extract(text, use_model=use_model)
            timings.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    timings.sort()
    return {
        "messages_per_second": round(len(timings) / total),
        "mean_ms": round(statistics.fmean(timings) * 1000, 4),
        "p50_ms": round(timings[len(timings) // 2] * 1000, 4),
        "p99_ms": round(timings[int(len(timings) * 0.99)] * 1000, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--set", type=Path, action="append", help="JSONL file(s) of messages (default: messages.jsonl)")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for path in (args.set or [MESSAGES])
             for line in path.read_text(encoding="utf-8").splitlines() if line]
    ner_runs = sum(1 for t in texts if any(s.source == "ner" for s in extract(t).spans))
    report = {
        "messages": len(texts),
        "full": _measure(texts, args.repeat, use_model=True),
        "rules_only": _measure(texts, args.repeat, use_model=False),
        "ner_names_found_share": round(ner_runs / len(texts), 3),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['messages']} messages × {args.repeat}")
    for mode in ("full", "rules_only"):
        r = report[mode]
        print(f"{mode:>10}: {r['messages_per_second']:>8,} msg/s  mean {r['mean_ms']:.3f} ms  "
              f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")


if __name__ == "__main__":
    main()
