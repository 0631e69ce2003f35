"""Field extraction on long adversarial input: does any rule cost more than linear time in the message length?

Each case repeats a piece of text that drives one rule hard (phone digits and separators, Chinese numeral digits,
WeChat cues, surnames and titles, ages, grades, place names…) to 500, 1,000, 2,000 and 4,000 characters and times
``extract`` (the NER backup included, rules only with ``--rules``). A linear rule doubles its time when the input
doubles, so the "growth" column — time at 4,000 divided by time at 1,000 characters — is about 4; a quadratic one
(catastrophic backtracking, a rescan per match) would show 16. The last columns time 40,000 and 400,000 characters:
extraction reads only the first ``MAX_CHARS`` (4,000) characters, so they cost what 4,000 do.

No timing assertion lives in the tests (a loaded CI machine would make it flaky); run this after changing a rule:

    .venv/bin/python benchmarks/extract_adversarial.py [--rules] [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

from edudesk.nlp.extract import MAX_CHARS, extract

CASES = {
    "digits": "1",
    "digit groups": "138 0013 ",
    "dashes": "1-",
    "dots": "1.",
    "landline parens": "(010)",
    "country prefix": "+86 ",
    "chinese digits": "一三八零",
    "veto cue": "订单号1",
    "wechat cue": "微信",
    "wechat cue + id": "vx abc_12",
    "surname": "王",
    "parent title": "王妈妈",
    "self intro": "我是王",
    "child cue": "孩子叫",
    "age": "5岁",
    "age range": "3-",
    "grade": "三年级",
    "kindergarten": "小班",
    "subjects": "数学ket",
    "place": "杭州",
    "address": "杭州路",
    "mixed": "我叫李小明电话13800138000微信abc123孩子三年级5岁学数学杭州西湖区",
    "emoji and surrogates": "😀\ud800王",
}
SIZES = (500, 1000, 2000, 4000, 40_000, 400_000)


def _time(text: str, repeat: int, use_model: bool) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        extract(text, use_model=use_model)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", action="store_true", help="rules only (no NER backup)")
    parser.add_argument("--repeat", type=int, default=7, help="best of this many runs per size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extract("我叫李小明，杭州西湖区", use_model=not args.rules)  # warm-up: lexicon, regexes, model session
    report: dict[str, dict[str, float]] = {}
    for name, unit in CASES.items():
        row = {}
        for size in SIZES:
            text = (unit * (size // len(unit) + 1))[:size]
            row[str(size)] = round(_time(text, args.repeat, not args.rules), 2)
        row["growth"] = round(row["4000"] / max(row["1000"], 0.01), 1)
        report[name] = row
    if args.json:
        print(json.dumps({"max_chars": MAX_CHARS, "use_model": not args.rules, "ms": report}))
        return
    print(f"extract() best of {args.repeat}, ms; MAX_CHARS = {MAX_CHARS}; "
          f"{'rules only' if args.rules else 'rules + NER backup'}")
    print(f"{'case':<22}" + "".join(f"{s:>10,}" for s in SIZES) + f"{'growth':>8}")
    for name, row in report.items():
        print(f"{name:<22}" + "".join(f"{row[str(s)]:>10.2f}" for s in SIZES) + f"{row['growth']:>8.1f}")


if __name__ == "__main__":
    main()
