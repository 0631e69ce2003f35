"""What several questions in one message cost and how well they are answered: the FAQ bot over the demo knowledge
base with the real matcher, in-process (no server, no database).

Prints, per kind of message, the CPU milliseconds of one ``FaqBot.respond`` (best and median of several rounds) and
the matcher calls it made, the splitter's own cost, and — on a small hand-written set of messages of two or three
questions, written for this benchmark the way parents type — how many got every question answered, and how many
got an answer they did not ask for.

    .venv/bin/python benchmarks/multi_questions.py [--rounds 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from edudesk.bot import splitter
from edudesk.bot.engine import BotTurn
from edudesk.bot.faq import AnswerCard, FaqBot
from edudesk.bot.rules import DEFAULT_HANDOFF_KEYWORDS
from edudesk.demo.kb import DEMO_KB
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import shared_embedder
from edudesk.nlp.matcher import FaqIndex, MatcherConfig

ID = {question: i for i, (_, question, _, _) in enumerate(DEMO_KB, 1)}
KINDS = {
    "one question": "你们校区在什么位置",
    "one question, commas": "我家孩子三年级，数学跟不上，有没有适合的班",
    "two questions": "校区在哪里，停车方便吗",
    "two, run-on": "校区在哪里停车方便吗",
    "three questions": "老师怎么样 班级多少人 可以开发票吗",
    "nine questions (3 answered)": "学费多少？停车方便吗？老师怎么样？班级多少人？能开发票吗？有网课吗？暑假班呢？"
                                   "退费呢？可以补课吗？",
    "200+ characters (not split)": "老师您好，" + "我家孩子今年上三年级了，数学一直跟不上，" * 12 + "学费多少？",
}
# Messages of several questions with the entries that answer them, in order.
SET: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("校区在哪里，停车方便吗", ("你们的校区在哪里？", "有停车位吗？")),
    ("校区在哪停车方便不", ("你们的校区在哪里？", "有停车位吗？")),
    ("学费多少，有没有优惠", ("各个课程的学费是多少？", "有没有优惠活动？")),
    ("学费多少钱还有能试听吗", ("各个课程的学费是多少？", "可以免费试听吗？")),
    ("什么时候上课另外可以退费吗", ("什么时候上课？", "报名后可以退费吗？")),
    ("一节课多长时间？一个班几个人", ("什么时候上课？", "一个班有多少学生？")),
    ("能分期吗 可以开发票吗", ("可以分期付款吗？", "可以开发票吗？")),
    ("有网课吗？老师是全职的吗？", ("有网课吗？", "老师的资质怎么样？")),
    ("孩子4岁能学英语吗，美术班适合几岁", ("几岁可以开始学英语？", "美术课学些什么？")),
    ("请假了能补课吗顺便问下能转班吗", ("请假了可以补课吗？", "可以转班或者换老师吗？")),
    ("暑假班什么时候开课，怎么报名", ("暑假班什么时候开课？", "怎么报名？")),
    ("有KET考试班吗？学费多少", ("剑桥英语 KET/PET 怎么备考？", "各个课程的学费是多少？")),
    ("家长能看到上课情况吗，孩子下课谁看着", ("怎么知道孩子的学习情况？", "孩子上课安全吗？")),
    ("初中数学有培优班吗😊有试听吗", ("初中数学有培优班吗？", "可以免费试听吗？")),
    ("学费多少？能分期吗？有优惠吗？", ("各个课程的学费是多少？", "可以分期付款吗？", "有没有优惠活动？")),
    ("滨江有校区吗，能停车吗，周末有课吗", ("你们的校区在哪里？", "有停车位吗？", "什么时候上课？")),
)


class CountingIndex:
    """The index, counting its match calls."""

    def __init__(self, index: FaqIndex) -> None:
        self.index, self.calls = index, 0

    def match(self, query: str, k: int = 3) -> Any:
        self.calls += 1
        return self.index.match(query, k)

    def suggest_for(self, context: str, k: int = 3) -> Any:
        return self.index.suggest_for(context, k)


def build() -> tuple[FaqBot, CountingIndex]:
    documents = [FaqDocument(i, q, s, c) for i, (c, q, s, _) in enumerate(DEMO_KB, 1)]
    index = CountingIndex(FaqIndex.build(documents, shared_embedder(), MatcherConfig()))
    cards = {i: AnswerCard(i, q, a, c) for i, (c, q, _, a) in enumerate(DEMO_KB, 1)}
    return FaqBot(matcher=index, cards=cards, rules=(), handoff_keywords=DEFAULT_HANDOFF_KEYWORDS,
                  fallback_text="?"), index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bot, index = build()
    figures: dict[str, Any] = {"kinds": {}}
    for name, text in KINDS.items():
        index.calls = 0
        started = time.process_time()
        bot.respond(BotTurn(1, 1, text))  # the first time: every part's embedding is computed
        first = (time.process_time() - started) * 1000
        calls = index.calls
        times = []  # then from the embedding memo, like a later visitor asking the same
        for _ in range(args.rounds):
            started = time.process_time()
            bot.respond(BotTurn(1, 1, text))
            times.append((time.process_time() - started) * 1000)
        figures["kinds"][name] = {"first_ms": round(first, 2), "best_ms": round(min(times), 2),
                                  "median_ms": round(statistics.median(times), 2), "match_calls": calls}
    started = time.process_time()
    for _ in range(args.rounds):
        for text in KINDS.values():
            splitter.split(text)
    figures["split_us"] = round((time.process_time() - started) / (args.rounds * len(KINDS)) * 1e6, 1)
    complete = extra = 0
    missed: list[str] = []
    for text, expected in SET:
        decision = bot.respond(BotTurn(1, 1, text))
        got = [decision.entry_id, *(e for e, _ in decision.more_answers)] if decision.entry_id else []
        wanted = [ID[q] for q in expected]
        complete += got == wanted
        extra += bool(set(got) - set(wanted))
        if got != wanted:
            missed.append(text)
    figures["set"] = {"messages": len(SET), "all_answered": complete, "unasked_answer": extra, "not_all": missed}
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
        return
    print(f"{'message':32} {'first ms':>9} {'then best':>10} {'median':>8} {'matches':>8}")
    for name, row in figures["kinds"].items():
        print(f"{name:32} {row['first_ms']:9.2f} {row['best_ms']:10.2f} {row['median_ms']:8.2f} "
              f"{row['match_calls']:8d}")
    print(f"splitter: {figures['split_us']} µs a message")
    s = figures["set"]
    print(f"several questions: {s['all_answered']}/{s['messages']} with every question answered, "
          f"{s['unasked_answer']} with an answer not asked for; not all answered: {'、'.join(s['not_all']) or '-'}")


if __name__ == "__main__":
    main()
