"""The call robot's reaction time: from the end of the caller's speech to the robot's first audio, with the
scripted recogniser and espeak-ng, for 1 and 50 concurrent robot calls in one process (in-process fake phones
paced in real time, a real database). Target: p95 ≤ 800 ms (issue 16, item 7).

    .venv/bin/python benchmarks/voice_call.py                       # 1 and 50 calls, SQLite in a temp dir
    .venv/bin/python benchmarks/voice_call.py --calls 1,10,50 --database-url postgresql+psycopg://…/bench
    .venv/bin/python benchmarks/voice_call.py --cold                # without pre-synthesising the script's lines

The time includes the endpointing wait (the VAD's ``end_silence_ms`` of silence before an utterance counts as
over, 500 ms by default): that part is the same on a real line. Each caller answers the grade, asks the price
(an FAQ answer in the middle of the script), says 有兴趣 and names a callback time. See docs/performance.md,
"Voice".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.voice.fakes import FakePhone, Say, Silence, WaitForBot

from edudesk import migrate
from edudesk.audit.service import Actor
from edudesk.bot import scripts
from edudesk.bot import service as bot_service
from edudesk.bot.flows.templates import PHONE_CALL_FLOW
from edudesk.contacts import service as contacts_service
from edudesk.db import Database
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from edudesk.orgs import service as orgs_service
from edudesk.settings import Settings
from edudesk.voice import service as voice_service
from edudesk.voice.engines.espeak import EspeakSynthesiser
from edudesk.voice.engines.scripted import ScriptedRecogniser
from edudesk.voice.engines.vad import VadConfig
from edudesk.voice.live import LiveCall, LiveCalls, VoiceServices
from edudesk.voice.models import CallMode, VoiceSettings
from edudesk.voice.robot import RobotConfig, run_robot_call
from edudesk.voice.robot.dialogue import GOODBYE, NO_INPUT_TEXT

NOTICE = "您好，本次通话可能被录音。"
SCRIPT = [WaitForBot(400), Say("孩子三年级"), WaitForBot(400), Say("试听课多少钱？"), WaitForBot(400),
          Say("有兴趣"), WaitForBot(400), Say("明天下午三点吧"), WaitForBot(400), Silence(200)]
TARGET_P95_MS = 800


def seed(db: Database, calls: int) -> tuple[int, list[int]]:
    with db.session() as session:
        org = orgs_service.create_org(session, slug=f"voice{time.time_ns()}", name="语音压测")
        actor = Actor(org.id, label="bench")
        scripts.save_flow(session, actor, json.dumps(PHONE_CALL_FLOW, ensure_ascii=False))
        kb_service.create_entry(session, actor, EntryInput(
            question="试听课多少钱", answer="试听课免费，正式课程每课时两百元。",
            similar=["价格是多少", "收费标准", "学费多少钱"]))
        session.add(VoiceSettings(org_id=org.id, robot_notice=NOTICE))
        contacts = [contacts_service.find_or_create(session, org.id, "phone", f"+86138{i:08d}").id
                    for i in range(calls)]
        session.commit()
        return org.id, contacts


async def presynthesise(synth: EspeakSynthesiser, rate: int) -> None:
    """The lines every call says (notice, script, goodbyes) into the cache before the first call, as the
    ``edudesk voice`` process does at start-up (robot.prepare)."""
    from edudesk.voice.robot.speech import sentences

    lines = [NOTICE, NO_INPUT_TEXT, *GOODBYE.values()]
    for step in PHONE_CALL_FLOW["steps"]:
        lines += [str(step[k]) for k in ("text", "prompt", "question", "reprompt") if step.get(k)]
    for line in lines:
        for sentence in sentences(line):
            await synth.synthesise(sentence, rate)


async def run_calls(services: VoiceServices, db: Database, org_id: int, contacts: list[int], rate: int,
                    stagger: float = 0.0) -> list[FakePhone]:
    phones: list[FakePhone] = []
    lives: list[LiveCall] = []
    with db.session() as session:
        for i, contact_id in enumerate(contacts):
            call = voice_service.place_call(session, voice_service.CallRequest(
                org_id=org_id, phone_e164=f"+86138{i:08d}", line_id=None, contact_id=contact_id))
            session.flush()
            phone = FakePhone(list(SCRIPT), sample_rate=rate, call_public_id=call.public_id, realtime=True)
            services.recogniser.register(call.public_id, phone.lines())  # type: ignore[attr-defined]
            phones.append(phone)
            lives.append(LiveCall(public_id=call.public_id, call_id=call.id, org_id=org_id, mode=CallMode.robot,
                                  port=phone, sample_rate=rate))
        session.commit()
    async def one(i: int, live: LiveCall) -> None:
        # Answered calls arrive spread out, not all in the same 20 ms: ``stagger`` seconds from first to last.
        await asyncio.sleep(stagger * i / max(1, len(lives)))
        await run_robot_call(live, services)

    await asyncio.gather(*(one(i, live) for i, live in enumerate(lives)))
    return phones


def latencies(phones: list[FakePhone]) -> list[float]:
    out = []
    for phone in phones:
        plays = [t for _, t in phone.timeline.plays]
        for _, ended in phone.timeline.speech_ends:
            after = [t for t in plays if t >= ended]
            if after:
                out.append((after[0] - ended) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,50")
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--database-url", default="")
    parser.add_argument("--end-silence-ms", type=int, default=VadConfig().end_silence_ms)
    parser.add_argument("--stagger", type=float, default=30.0,
                        help="seconds between the first and the last call's answer (0: all at once)")
    parser.add_argument("--cold", action="store_true", help="do not pre-synthesise the script's lines")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="voice-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=Path(tmp))
    db = Database(url, pool_size=20)
    counts = [int(c) for c in args.calls.split(",")]
    synth = EspeakSynthesiser(concurrency=4)
    vad = VadConfig(end_silence_ms=args.end_silence_ms)
    services = VoiceServices(db=db, settings=settings, recogniser=ScriptedRecogniser(vad), synthesiser=synth,
                             live=LiveCalls(), bots=bot_service.make_runtime(db),
                             extras={"robot_config": RobotConfig(vad=vad)})
    results: list[dict[str, Any]] = []

    async def bench() -> None:
        if not args.cold:
            started = time.perf_counter()
            await presynthesise(synth, args.rate)
            print(f"pre-synthesised {len(synth.cache)} sentences in {time.perf_counter() - started:.2f} s")
        org_id, contacts = seed(db, max(counts) + 1)
        await run_calls(services, db, org_id, contacts[-1:], args.rate)  # warm-up: bot runtime, models
        for n in counts:
            org_id, contacts = seed(db, n)
            started = time.perf_counter()
            phones = await run_calls(services, db, org_id, contacts, args.rate, args.stagger if n > 1 else 0)
            wall = time.perf_counter() - started
            lat = latencies(phones)
            results.append({"calls": n, "turns": len(lat), "p50_ms": round(statistics.median(lat), 1),
                            "p95_ms": round(pct(lat, 95), 1), "max_ms": round(max(lat), 1),
                            "endpoint_ms": args.end_silence_ms, "wall_s": round(wall, 1), "stagger_s": args.stagger,
                            "cache_hits": synth.cache.hits, "cache_misses": synth.cache.misses,
                            "target_p95_ms": TARGET_P95_MS})

    asyncio.run(bench())
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'calls':>5} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'of which endpointing':>21} "
          f"{'wall s':>7}  target p95 ≤ {TARGET_P95_MS} ms")
    for r in results:
        verdict = "ok" if r["p95_ms"] <= TARGET_P95_MS else "MISSED"
        print(f"{r['calls']:>5} {r['turns']:>6} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8} "
              f"{r['endpoint_ms']:>21} {r['wall_s']:>7}  {verdict}")
    print(f"TTS cache: {synth.cache.hits} hits, {synth.cache.misses} misses ({url.split(':')[0]})")


if __name__ == "__main__":
    main()
