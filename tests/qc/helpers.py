"""Transcripts written as short scripts for the rule tables: ("c"|"a"|"b"|"s", text, seconds after start)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from edudesk.qc import rules as qc_rules
from edudesk.qc.inspector import CompiledRules, Result, compile_rules
from edudesk.qc.prices import PriceBook
from edudesk.qc.turns import Speaker, Transcript, Turn

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)  # 10:00 in Hangzhou, a Monday
SPEAKERS = {"c": Speaker.customer, "a": Speaker.agent, "b": Speaker.bot, "s": Speaker.system}

DEMO_COURSES = ("小学数学思维提高班", "初中数学同步培优", "少儿英语启蒙", "剑桥少儿英语 KET/PET", "少儿美术创意课")
DEMO_PRICE_ANSWER = ("我们按期收费：小学数学思维提高班 ¥3,600/期（16 课时），初中数学同步培优 ¥4,800/期（20 课时），"
                     "少儿英语启蒙 ¥2,980/期（24 课时），剑桥少儿英语 KET/PET ¥5,200/期（24 课时），"
                     "少儿美术创意课 ¥2,400/期（16 课时）。新学员可以先免费试听一次。")
DEMO_DISCOUNT_ANSWER = "现在报名立减 300 元；老学员续费 9.5 折；兄弟姐妹同时报名第二位 9 折。"


def script(*lines: tuple[str, str] | tuple[str, str, float], human_start: float | None = 0,
           contact_known: bool = False) -> Transcript:
    turns = []
    for n, line in enumerate(lines):
        who, text = line[0], line[1]
        seconds = line[2] if len(line) > 2 else n * 10  # type: ignore[misc]
        turns.append(Turn(SPEAKERS[who], text, T0 + dt.timedelta(seconds=float(seconds)), ref=100 + n))
    return Transcript(tuple(turns), human_start=None if human_start is None else T0 + dt.timedelta(
        seconds=human_start), contact_known=contact_known)


def only(kind: str, key: str | None = None, **changes: Any) -> list[dict[str, Any]]:
    """The default rule of ``kind`` (or the one with ``key``) alone, with parameter changes."""
    rule = next(r for r in qc_rules.default_rules() if r["kind"] == kind and key in (None, r["key"]))
    rule["params"].update(changes)
    return [rule]


def demo_book(aliases: dict[str, list[str]] | None = None) -> PriceBook:
    texts = [DEMO_PRICE_ANSWER, DEMO_DISCOUNT_ANSWER, "小学数学思维提高班 ¥3,600 / 期（16 课时）"]
    return PriceBook.build(DEMO_COURSES, texts, aliases)


def run(kind: str, transcript: Transcript, book: PriceBook | None = None, key: str | None = None,
        **changes: Any) -> Result:
    compiled: CompiledRules = compile_rules(only(kind, key, **changes), book)
    return compiled.inspect(transcript)
