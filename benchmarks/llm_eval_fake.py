"""The grounded path's figures against the fake endpoint, per scripted behaviour: what ``eval faq --llm`` reports
when the model restates its first passage, refuses, or adds an invented price, date or phone number to it.

A fake model gives no real quality figure (it does not read the question): the "first passage" row is what a model
that trusts retrieval blindly would do, and the invented-fact rows measure the guardrail's refusal rate on answers
that state a fact no passage holds (target: every one stopped). Figures: docs/quality.md, "Large-model assist".

    PYTHONPATH=src:. python benchmarks/llm_eval_fake.py --kb ../shared/data/eval/faq_smp2017_kb.csv \\
        --test ../shared/data/eval/faq_smp2017_dev.csv
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable

from tests.llm.fake_openai import FakeOpenAI, Reply, Request
from typer.testing import CliRunner

from edudesk import cli

PASSAGE_ONE = re.compile(r"\[1\] 《[^》]*》\n(.*?)(?:\n\n\[2\]|\n</资料>)", re.S)


def first(request: Request) -> str:
    """Passage 1 restated, every sentence citing it (a careful model's form), without the final full stop."""
    found = PASSAGE_ONE.search(request.messages[-1]["content"])
    if not found:
        return "无法回答"
    text = found.group(1).split("：", 1)[-1].strip().rstrip("。")
    return re.sub(r"([。！？；])", r"\1[1]", text)


SCRIPTS: dict[str, Callable[[Request], Reply]] = {
    "restates passage 1": lambda r: Reply(f"{first(r)}。[1]"),
    "refuses": lambda r: Reply("无法回答"),
    "+ invented price": lambda r: Reply(f"{first(r)}，现在报名每期只要 1980 元。[1]"),
    "+ invented date": lambda r: Reply(f"{first(r)}，下一期 3月15日 开课。[1]"),
    "+ invented phone": lambda r: Reply(f"{first(r)}，详情请致电 13912345678。[1]"),
    "+ invented price, no citation": lambda r: Reply(f"{first(r)}，学费 2999 元。"),
    "+ promise": lambda r: Reply(f"{first(r)}，保证提分。[1]"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args()
    fake = FakeOpenAI().start()
    try:
        print(
            "| fake model | sent | grounded answered | blocked (reasons) | refused | combined answered | "
            "combined wrong | combined refused (out of scope) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, script in SCRIPTS.items():
            fake.respond_with(script)
            result = CliRunner().invoke(
                cli.app,
                [
                    "eval",
                    "faq",
                    "--kb",
                    args.kb,
                    "--test",
                    args.test,
                    "--json",
                    "--llm",
                    "--llm-url",
                    fake.base_url,
                    "--llm-model",
                    "fake",
                ],
            )
            if result.exit_code != 0:
                raise SystemExit(result.output)
            data = json.loads(result.stdout)
            llm = data["llm"]
            g, c = llm["grounded"], llm["combined"]
            refused = f"{c['refused']:.3f} (FAQ {data['refused']:.3f})" if data["out_of_scope"] else "—"
            print(
                f"| {name} | {llm['sent']} | {g['answered']:.3f} | {g['blocked']:.3f} {llm['blocked_reasons']} | "
                f"{g['refused']:.3f} | {c['answered']:.3f} (FAQ {data['answered']:.3f}) | "
                f"{c['wrong_answer_rate']:.4f} (FAQ {data['wrong_answer_rate']:.4f}) | {refused} |"
            )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
