"""Fault drill: kill and restart what a production edudesk depends on, under load, and count what was lost.

It starts everything it may break on free ports under a temporary directory: its own PostgreSQL cluster (initdb as
the ``postgres`` user), its own redis-server, two ``edudesk serve`` instances and one ``edudesk worker``, a webhook
receiver, and visitors on real WebSockets that behave like the widget (benchmarks/drill_visitors.py). Then, one
after another: ``kill -9`` of a server, ``kill -9`` of the worker, Redis killed and started again, PostgreSQL
stopped and started again. At the end it stops the load, lets everything settle and compares what the visitors sent
with what the database stored and what the receiver got. The shared servers on 5432 and 6379 are never touched.

    PYTHONPATH=src .venv/bin/python benchmarks/fault_drill.py [--visitors 16] [--json] [--keep]

Exit status 0 when every verdict is PASS. What it guarantees and the latest figures: docs/faults.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drill_services import EdudeskProcess, PrivatePostgres, PrivateRedis, Receiver, free_port
from drill_visitors import Totals, Visitor

SECRET = "fault-drill-secret-" + "x" * 24
STARTUP_SECONDS = 240.0  # a cold start loads the embedding model; the machine may be shared
SETTLE_SECONDS = 200.0  # a webhook leased by a killed worker waits for the delivery lease (120 s)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Drill:
    def __init__(self, root: Path, visitors: int, messages: int, period: float) -> None:
        self.root = root
        self.pg = PrivatePostgres(root)
        self.redis = PrivateRedis(root)
        self.receiver = Receiver()
        self.concurrency, self.messages, self.period = visitors, messages, period
        self.totals = Totals()
        self.visitors: list[Visitor] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.spawning = True
        self.stop = asyncio.Event()
        self.servers: list[EdudeskProcess] = []
        self.worker: EdudeskProcess | None = None
        self.org_key = ""
        self.results: dict[str, Any] = {}

    # --- setup ---------------------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDUDESK_")}
        env.update({"EDUDESK_DATABASE_URL": self.pg.url, "EDUDESK_REDIS_URL": self.redis.url,
                    "EDUDESK_REDIS_NAMESPACE": "drill", "EDUDESK_SECRET_KEY": SECRET,
                    "EDUDESK_DATA_DIR": str(self.root / "data"), "EDUDESK_WEBHOOKS_ALLOW_PRIVATE": "true",
                    "EDUDESK_JOB_LEASE_SECONDS": "10", "EDUDESK_WORKER_THREADS": "8",
                    "EDUDESK_LOG_LEVEL": "INFO"})
        return env

    def setup(self) -> None:
        say(f"private PostgreSQL on 127.0.0.1:{self.pg.port}, redis-server on 127.0.0.1:{self.redis.port}")
        self.pg.init()
        self.redis.start()
        self.receiver.start()
        env = self.env()
        migrate = EdudeskProcess("migrate", ["migrate"], env, self.root / "migrate.log")
        migrate.start()
        assert migrate.proc is not None
        if migrate.proc.wait(timeout=300) != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.log_tail()}")
        self.seed()
        for n in (1, 2):
            port = free_port()
            self.servers.append(EdudeskProcess(f"serve-{n}", ["serve", "--host", "127.0.0.1", "--port", str(port),
                                                              "--no-migrate"], env, self.root / f"serve-{n}.log",
                                               port=port))
        self.worker = EdudeskProcess("worker", ["worker"], env, self.root / "worker.log")
        for proc in (*self.servers, self.worker):
            proc.start()
        for server in self.servers:
            server.wait_healthy(STARTUP_SECONDS)
        say(f"2 × edudesk serve ({', '.join(s.url for s in self.servers)}) and 1 × edudesk worker are up")

    def seed(self) -> None:
        from edudesk.audit.service import Actor
        from edudesk.db import Database
        from edudesk.orgs import service as orgs_service
        from edudesk.webhooks import service as webhooks_service
        from edudesk.webhooks.urls import UrlPolicy

        db = Database(self.pg.url)
        try:
            with db.session() as session:
                org = orgs_service.create_org(session, slug="drill", name="演练学校")
                webhooks_service.create_endpoint(
                    session, Actor(org.id, label="drill"), webhooks_service.secret_box(SECRET),
                    UrlPolicy(allow_private=True),
                    webhooks_service.EndpointInput(self.receiver.url, ["lead.created", "lead.updated"], "演练"))
                session.commit()
                self.org_key = org.public_key
        finally:
            db.dispose()

    # --- load ----------------------------------------------------------------------------------------------------

    async def spawn(self) -> None:
        """Keeps ``concurrency`` visitors chatting; each one leaves after its messages and a new one comes."""
        index = 0
        while self.spawning:
            active = sum(not v.finished for v in self.visitors)  # second tabs stay open after their chat
            for _ in range(self.concurrency - active):
                index += 1
                v = Visitor(index, self.org_key, [s.url for s in self.servers], self.totals,
                            messages=self.messages, period=self.period, watch=index % 3 == 0)
                self.visitors.append(v)
                self.tasks.append(asyncio.create_task(v.run(self.stop)))
            await asyncio.sleep(0.2)

    async def outbox_settled(self, snapshot: set[str], limit: float) -> float | None:
        """Seconds until none of ``snapshot`` (client ids unacknowledged at the fault) is still unacknowledged."""
        began = time.monotonic()
        while time.monotonic() - began < limit:
            if not any(cid in v.outbox for v in self.visitors for cid in snapshot):
                return round(time.monotonic() - began, 1)
            await asyncio.sleep(0.2)
        return None

    async def reconnected(self, visitors: list[Visitor], dead: str, limit: float) -> float | None:
        """Seconds until each of ``visitors`` is connected to another instance again (or has finished)."""
        began = time.monotonic()
        while time.monotonic() - began < limit:
            if all(v.on not in (None, dead) or v.finished for v in visitors):
                return round(time.monotonic() - began, 1)
            await asyncio.sleep(0.1)
        return None

    def unacked(self) -> set[str]:
        return {cid for v in self.visitors for cid in v.outbox}

    # --- faults --------------------------------------------------------------------------------------------------

    async def kill_server(self) -> None:
        victim = self.servers[0]
        say(f"FAULT 1: kill -9 {victim.name} (pid {victim.proc.pid if victim.proc else '?'}) while visitors chat")
        cut_off = [v for v in self.visitors if v.on == victim.url]
        victim.kill9()
        killed_at = time.monotonic()
        pending = self.unacked()
        resent = self.totals.resent
        settling = asyncio.create_task(self.outbox_settled(pending, 120))
        moved = asyncio.create_task(self.reconnected(cut_off, victim.url, 120))
        await asyncio.sleep(2.0)
        victim.start()
        await asyncio.to_thread(victim.wait_healthy, STARTUP_SECONDS)
        back = round(time.monotonic() - killed_at, 1)
        settled, moved_s = await settling, await moved
        say(f"  {len(cut_off)} visitors were on it: all chatting again on the other instance {moved_s} s after the "
            f"kill; {len(pending)} messages unacknowledged at the kill were acknowledged {settled} s after it; "
            f"{self.totals.resent - resent} resends; {victim.name} restarted and healthy {back} s after the kill")
        self.results["kill_server"] = {"visitors_cut_off": len(cut_off), "reconnected_s": moved_s,
                                       "unacked_at_kill": len(pending), "resent_acked_s": settled,
                                       "restarted_healthy_s": back}

    async def kill_worker(self) -> None:
        assert self.worker is not None
        say(f"FAULT 2: kill -9 worker (pid {self.worker.proc.pid if self.worker.proc else '?'}) "
            "while leads and webhooks are produced")
        # Killed while it is sending: the receiver holds each POST for a moment, and the kill waits for one.
        self.receiver.delay = 0.3
        in_flight = await asyncio.to_thread(self.receiver.wait_in_flight, 60)
        self.worker.kill9()
        self.receiver.delay = 0.0
        killed_at = time.monotonic()
        backlog = await asyncio.to_thread(self.unfinished_deliveries)
        await asyncio.sleep(2.0)
        upto = int((await asyncio.to_thread(self.query, "SELECT coalesce(max(id), 0) FROM webhook_deliveries"))[0][0])
        self.worker.start()
        say(f"  killed {'in the middle of a POST' if in_flight else 'between jobs'}; worker restarted; {backlog} "
            "webhook deliveries were unfinished at the kill")
        left = await self.wait_deliveries(killed_at, SETTLE_SECONDS, upto)
        took = round(time.monotonic() - killed_at, 1)
        say(f"  backlog {'delivered' if left == 0 else f'NOT delivered ({left} left)'} {took} s after the kill")
        self.results["kill_worker"] = {"killed_mid_post": in_flight, "unfinished_at_kill": backlog,
                                       "delivered_after_s": took if left == 0 else None}

    async def restart_redis(self) -> None:
        say("FAULT 3: Redis killed, down 5 s, started again on the same port")
        before = len(self.totals.live_frames)
        self.redis.kill()
        down_at = time.monotonic()
        await asyncio.sleep(5.0)
        during = len(self.totals.live_frames) - before
        self.redis.start()
        up_at = time.monotonic()
        resumed: float | None = None
        while time.monotonic() - up_at < 60:
            later = [t for t in self.totals.live_frames if t > up_at + 0.2]
            if later and all(s.log_lines("redis_listener_reconnected") >= 1 for s in self.servers):
                resumed = round(min(later) - up_at, 1)
                break
            await asyncio.sleep(0.2)
        resyncs = sum(s.log_lines("ws_resync_requested") for s in self.servers)
        say(f"  second tabs got {during} live frames while Redis was down; live frames resumed {resumed} s after "
            f"Redis came back; {resyncs} resync requests (1012) sent to clients")
        self.results["restart_redis"] = {"down_s": round(up_at - down_at, 1), "live_frames_while_down": during,
                                         "live_resumed_s": resumed, "resync_requests": resyncs}

    async def restart_postgres(self) -> None:
        say("FAULT 4: PostgreSQL stopped (fast shutdown), down 5 s, started again")
        pids = [s.proc.pid if s.proc else None for s in (*self.servers, self.worker) if s is not None]
        codes: dict[str, int] = {}
        polling = True

        async def poll() -> None:
            async with httpx.AsyncClient(timeout=3) as http:
                while polling:
                    for s in self.servers:
                        try:
                            code = str((await http.get(f"{s.url}/healthz")).status_code)
                        except httpx.HTTPError as exc:
                            code = type(exc).__name__
                        codes[code] = codes.get(code, 0) + 1
                    await asyncio.sleep(0.25)

        poller = asyncio.create_task(poll())
        await asyncio.to_thread(self.pg.stop, "fast")
        await asyncio.sleep(5.0)
        pending = self.unacked()
        await asyncio.to_thread(self.pg.start)
        up_at = time.monotonic()
        recovered: float | None = None
        while time.monotonic() - up_at < 120:
            if all([await asyncio.to_thread(s.healthy) for s in self.servers]):
                recovered = round(time.monotonic() - up_at, 1)
                break
            await asyncio.sleep(0.2)
        polling = False
        await poller
        settled = await self.outbox_settled(pending, 120)
        same = pids == [s.proc.pid if s.proc else None for s in (*self.servers, self.worker) if s is not None]
        alive = all(s.alive() for s in self.servers) and self.worker is not None and self.worker.alive()
        say(f"  /healthz answers while down and after: {codes}; both instances healthy {recovered} s after "
            f"PostgreSQL came back, without a restart: {same and alive}; messages held in outboxes acknowledged "
            f"{settled} s later")
        self.results["restart_postgres"] = {"healthz": codes, "recovered_s": recovered, "no_restart": same and alive,
                                            "resent_acked_s": settled}

    # --- counting ------------------------------------------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.pg.port}/edudesk", connect_timeout=5) as c:
            return list(c.execute(sql, params).fetchall())

    def unfinished_deliveries(self, upto: int | None = None) -> int:
        """Deliveries not finished yet (of those with an id up to ``upto``, when given)."""
        return int(self.query("SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'failed') "
                              "AND id <= %s", upto if upto is not None else 2**62)[0][0])

    async def wait_deliveries(self, began: float, limit: float, upto: int | None = None) -> int:
        left = -1
        while time.monotonic() - began < limit:
            with contextlib.suppress(psycopg.Error):
                left = await asyncio.to_thread(self.unfinished_deliveries, upto)
                if left == 0:
                    return 0
            await asyncio.sleep(1.0)
        return left

    def count(self) -> dict[str, Any]:
        sent = {cid: v for v in self.visitors for cid in v.sent}
        rows = self.query("SELECT client_id, count(*) FROM messages WHERE sender = 'visitor' AND client_id LIKE "
                          "'drill-%%' GROUP BY client_id")
        stored = {cid: n for cid, n in rows}
        refused = sum(self.totals.error_frames.values())
        messages = {"sent": len(sent), "stored": sum(1 for c in sent if c in stored),
                    "duplicated": sum(n - 1 for n in stored.values()), "refused_by_server": refused,
                    "lost": sum(1 for c in sent if c not in stored) - refused,
                    "unacknowledged_at_end": sum(len(v.outbox) for v in self.visitors)}
        phones = {f"+86{v.phone}" for v in self.visitors if v.phone_acked}
        lead_rows = self.query("SELECT phone_e164, count(*) FROM leads GROUP BY phone_e164")
        leads_by_phone = {p: n for p, n in lead_rows if p}
        leads = {"expected": len(phones), "stored": sum(1 for p in phones if p in leads_by_phone),
                 "duplicated": sum(n - 1 for n in leads_by_phone.values()),
                 "lost": sum(1 for p in phones if p not in leads_by_phone)}
        deliveries = {d: s for d, s in self.query("SELECT public_id, status FROM webhook_deliveries")}
        per_delivery, per_event = self.receiver.counts()
        created = self.query("SELECT count(*), count(DISTINCT subject_key) FROM webhook_events "
                             "WHERE type = 'lead.created'")[0]
        webhooks = {"deliveries": len(deliveries), "received": sum(per_delivery.values()),
                    "lost": sum(1 for d in deliveries if d not in per_delivery),
                    "redelivered_same_id": sum(n - 1 for n in per_delivery.values()),
                    "events_received_twice": sum(1 for n in per_event.values() if n > 1),
                    "lead_created_events_duplicated": int(created[0]) - int(created[1]),
                    "unfinished": sum(1 for s in deliveries.values() if s in ("pending", "failed"))}
        missed: list[int] = []
        watched = [v for v in self.visitors if v.watch and v.tab_ids]
        for v in watched:
            ids = {int(r[0]) for r in self.query(
                "SELECT id FROM messages WHERE conversation_id IN "
                "(SELECT conversation_id FROM messages WHERE client_id = ANY(%s))", list(v.sent))}
            missed.extend(ids - v.tab_ids)
        live = {"second_tabs": len(watched), "messages_missing_in_second_tabs": len(missed)}
        if missed:  # when they were stored, to tell which fault they belong to
            self.results["missed_in_tabs"] = [(i, str(s), t.strftime("%H:%M:%S.%f")[:-3]) for i, s, t in self.query(
                "SELECT id, sender, created_at FROM messages WHERE id = ANY(%s) ORDER BY id", missed)]
        return {"messages": messages, "leads": leads, "webhooks": webhooks, "live": live,
                "reconnects": self.totals.reconnects, "resent": self.totals.resent,
                "close_codes": dict(self.totals.close_codes), "error_frames": dict(self.totals.error_frames)}

    # --- the whole run -------------------------------------------------------------------------------------------

    async def run(self, warmup: float) -> dict[str, Any]:
        spawner = asyncio.create_task(self.spawn())
        say(f"load: {self.concurrency} visitors at a time, {self.messages} messages each (one with a phone), "
            f"every ~{self.period} s; every third visitor keeps a second tab open on the other instance")
        await asyncio.sleep(warmup)
        for fault in (self.kill_server, self.kill_worker, self.restart_redis, self.restart_postgres):
            await fault()
            await asyncio.sleep(warmup / 2)
        self.spawning = False
        await spawner
        say("load stopped; waiting for the visitors to finish and the webhooks to settle")
        for _ in range(240):  # at most 2 minutes
            if all(v.finished or v.token is None for v in self.visitors):
                break
            await asyncio.sleep(0.5)
        await self.wait_deliveries(time.monotonic(), SETTLE_SECONDS)
        self.stop.set()  # the second tabs close only now, as pages left open
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.sleep(2.0)  # the receiver may still be answering the last POST
        self.results["counts"] = self.count()
        self.results["visitors"] = len(self.visitors)
        return self.results

    def cleanup(self) -> None:
        for proc in (*self.servers, self.worker):
            if proc is not None:
                proc.terminate()
        self.receiver.stop()
        self.redis.kill()
        self.pg.stop("fast")


def verdicts(r: dict[str, Any]) -> dict[str, str]:
    c = r["counts"]
    m, ld, w = c["messages"], c["leads"], c["webhooks"]

    def v(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return {
        "kill -9 server": v(m["lost"] == 0 and m["duplicated"] == 0 and m["unacknowledged_at_end"] == 0
                            and r["kill_server"]["resent_acked_s"] is not None
                            and r["kill_server"]["reconnected_s"] is not None),
        "kill -9 worker": v(w["lost"] == 0 and w["unfinished"] == 0 and w["lead_created_events_duplicated"] == 0
                            and r["kill_worker"]["delivered_after_s"] is not None),
        "leads": v(ld["lost"] == 0 and ld["duplicated"] == 0),
        "Redis restart": v(r["restart_redis"]["live_resumed_s"] is not None
                           and c["live"]["messages_missing_in_second_tabs"] == 0),
        "PostgreSQL restart": v(r["restart_postgres"]["recovered_s"] is not None and r["restart_postgres"]["no_restart"]
                                and not any(k.startswith("5") and k != "503" for k in r["restart_postgres"]["healthz"])
                                and r["restart_postgres"]["resent_acked_s"] is not None),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=16, help="visitors chatting at a time")
    parser.add_argument("--messages", type=int, default=6, help="messages per visitor")
    parser.add_argument("--period", type=float, default=1.5, help="seconds between a visitor's messages (mean)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of load before the first fault")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object at the end")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="edudesk-drill-"))
    os.chmod(root, 0o755)  # noqa: S103 (the postgres user must reach its data directory below)
    drill = Drill(root, args.visitors, args.messages, args.period)
    began = time.monotonic()
    try:
        drill.setup()
        results = asyncio.run(drill.run(args.warmup))
    finally:
        drill.cleanup()
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["verdicts"] = verdicts(results)
    results["seconds"] = round(time.monotonic() - began, 1)
    c = results["counts"]
    say(f"{results['visitors']} visitors; {c['reconnects']} reconnects, {c['resent']} resends; "
        f"close codes {c['close_codes']}; error frames {c['error_frames']}")
    for what in ("messages", "leads", "webhooks", "live"):
        say(f"{what}: " + ", ".join(f"{k} {v}" for k, v in c[what].items()))
    for fault, verdict in results["verdicts"].items():
        say(f"{verdict}  {fault}")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return 0 if all(v == "PASS" for v in results["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
