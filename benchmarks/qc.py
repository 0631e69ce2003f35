"""What quality inspection costs: CPU milliseconds per conversation (target ≤ 5 ms), on generated conversations.

Two measurements:

- ``inspect``: the inspector alone (``CompiledRules.inspect`` over a transcript: every default rule, the demo
  school's price book), on generated chats of 6–60 turns whose texts mix greetings, prices (right and wrong),
  promises (affirmed and denied), complaints, phone numbers and WeChat IDs, plus a few long turns;
- ``job``: the whole ``qc.inspect`` job on a temporary SQLite file (load the conversation and its messages, adapt,
  inspect with the cached compiled rules, replace the stored result and hits) — what a worker spends per closed
  conversation, database driver included; with ``--database-url`` on PostgreSQL (the database server's own CPU is
  not counted).

CPU time (``time.process_time``), not wall time: it is what the target is about and is far less disturbed by other
load on the machine. The compile step (once per org and rule-set revision) is reported apart.

    .venv/bin/python benchmarks/qc.py [--conversations 2000] [--job 300] [--seed 7] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edudesk import migrate
from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.catalog import service as catalog_service
from edudesk.contacts import service as contacts_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.demo.kb import DEMO_KB
from edudesk.demo.seed import COURSES
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.orgs import service as orgs_service
from edudesk.qc import rules as qc_rules
from edudesk.qc.inspection import Inspector
from edudesk.qc.inspector import compile_rules
from edudesk.qc.prices import PriceBook
from edudesk.qc.turns import Speaker, Transcript, Turn

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
CUSTOMER = ["你好", "在吗", "孩子三年级，数学跟不上", "小学数学思维提高班多少钱？", "可以试听吗", "怎么报名",
            "有优惠吗", "你们太差了，我要投诉", "我没有投诉的意思", "我手机 13800138000", "微信 abc_12345",
            "周末有课吗", "好的谢谢", "太贵了", "能退费吗", "你们是不是骗子", "嗯", "地址在哪里", "老师是全职的吗"]
AGENT = ["您好，我是王老师，很高兴为您服务", "小学数学思维提高班 ¥3,600/期（16 课时）",
         "小学数学思维提高班现在只要 2999 元", "现在报名立减 300 元", "我们不能保证提分，但老师会认真跟进",
         "放心，保证提分！", "方便留个电话吗？", "周二至周五晚上和周末都有班", "好的，祝您生活愉快，再见",
         "稍等，我帮您查一下", "每节课 225 元", "初中数学同步培优是 ￥4,500 一期", "可以免费试听一次，加您微信发课表？",
         "嗯"]
LONG = "我们的课程体系包括数学、英语和美术，" * 60


def transcript(rng: random.Random) -> Transcript:
    turns = []
    at = T0
    for n in range(rng.randint(6, 60)):
        speaker = Speaker.customer if n % 2 == 0 else rng.choice((Speaker.agent, Speaker.agent, Speaker.bot))
        pool = CUSTOMER if speaker == Speaker.customer else AGENT
        text = LONG if rng.random() < 0.01 else rng.choice(pool)
        at += dt.timedelta(seconds=rng.randint(2, 240))
        turns.append(Turn(speaker, text, at, n))
    return Transcript(tuple(turns), human_start=T0)


def demo_book() -> PriceBook:
    texts = [answer for *_rest, answer in DEMO_KB] + [f"{c[0]} {c[3]}" for c in COURSES]
    return PriceBook.build([c[0] for c in COURSES], texts)


def bench_inspect(n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    transcripts = [transcript(rng) for _ in range(n)]
    started = time.process_time()
    compiled = compile_rules(qc_rules.default_rules(), demo_book())
    compile_ms = (time.process_time() - started) * 1000
    for t in transcripts[:20]:  # warm the per-text caches (OpenCC, regex) the way a running worker has them
        compiled.inspect(t)
    per = []
    hits = 0
    for t in transcripts:
        start = time.process_time()
        hits += len(compiled.inspect(t).hits)
        per.append((time.process_time() - start) * 1000)
    turns = sum(len(t.turns) for t in transcripts)
    return {"conversations": n, "turns_mean": round(turns / n, 1), "hits_mean": round(hits / n, 2),
            "compile_ms": round(compile_ms, 2), **_stats(per)}


def _stats(per: list[float]) -> dict[str, float]:
    per = sorted(per)
    return {"cpu_ms_mean": round(statistics.fmean(per), 3), "cpu_ms_p50": round(per[len(per) // 2], 3),
            "cpu_ms_p95": round(per[int(len(per) * 0.95)], 3), "cpu_ms_max": round(per[-1], 3)}


def bench_job(n: int, seed: int, url: str | None) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'qc.db'}"
        migrate.upgrade(url)
        db = Database(url)
        with db.session() as session:
            org = orgs_service.create_org(session, slug=f"qc-bench-{rng.randint(0, 10**9)}", name="质检基准")
            actor = Actor(org.id, label="bench")
            agent = auth_service.create_user(session, actor, username="wang", password="bench-password-1",  # noqa: S106
                                             display_name="王老师", role="agent")
            for name, subject, grades, price, description in COURSES:
                catalog_service.add_course(session, actor, name=name, subject=subject, grades=grades,
                                           price_text=price, description=description)
            for _path, question, similar, answer in DEMO_KB:
                kb_service.create_entry(session, actor, EntryInput(question=question, similar=list(similar),
                                                                   answer=answer))
            ids = []
            for i in range(n):
                contact = contacts_service.find_or_create(session, org.id, "web", f"bench-{i}")
                t = transcript(rng)
                conv = Conversation(org_id=org.id, contact_id=contact.id, channel="web",
                                    state=ConversationState.closed, assignee_id=agent.id, assigned_at=T0,
                                    closed_at=t.turns[-1].at)
                session.add(conv)
                session.flush()
                kinds = {Speaker.customer: SenderKind.visitor, Speaker.agent: SenderKind.agent,
                         Speaker.bot: SenderKind.bot}
                session.add_all([Message(org_id=org.id, conversation_id=conv.id, sender=kinds[turn.speaker],
                                         sender_user_id=agent.id if turn.speaker == Speaker.agent else None,
                                         text=turn.text, created_at=turn.at) for turn in t.turns])
                ids.append(conv.id)
            session.commit()
            org_id = org.id
        inspector = Inspector()
        with db.session() as session:  # compile once (cold), like the first closed conversation of the day
            start = time.process_time()
            inspector.run(session, org_id, ids[0])
            session.commit()
            first_ms = (time.process_time() - start) * 1000
        per = []
        for conv_id in ids[1:]:
            start = time.process_time()
            with db.session() as session:
                inspector.run(session, org_id, conv_id)
                session.commit()
            per.append((time.process_time() - start) * 1000)
        db.dispose()
        return {"conversations": n, "database": url.split(":", 1)[0], "first_with_compile_ms": round(first_ms, 2),
                "compilations": inspector.compilations, **_stats(per)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--job", type=int, default=300, help="conversations for the job measurement (0: skip)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL for the job measurement (default SQLite)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = {"inspect": bench_inspect(args.conversations, args.seed)}
    if args.job:
        out["job"] = bench_job(args.job, args.seed, args.database_url)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return
    i = out["inspect"]
    print(f"inspector: {i['conversations']} conversations, {i['turns_mean']} turns and {i['hits_mean']} hits each")
    print(f"  compile (once per org and revision): {i['compile_ms']} ms CPU")
    print(f"  CPU ms per conversation: mean {i['cpu_ms_mean']}  p50 {i['cpu_ms_p50']}  p95 {i['cpu_ms_p95']}  "
          f"max {i['cpu_ms_max']}   (target ≤ 5)")
    if "job" in out:
        j = out["job"]
        print(f"qc.inspect job on {j['database']}: {j['conversations']} conversations "
              f"(first, compiling: {j['first_with_compile_ms']} ms; compilations: {j['compilations']})")
        print(f"  CPU ms per conversation: mean {j['cpu_ms_mean']}  p50 {j['cpu_ms_p50']}  p95 {j['cpu_ms_p95']}  "
              f"max {j['cpu_ms_max']}")


if __name__ == "__main__":
    main()
