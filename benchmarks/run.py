"""Start a real ``edudesk serve``, seed an org whose bot answers the bench's questions, run ``edudesk bench`` against
it, print the figures next to the targets, and stop the server.

    .venv/bin/python benchmarks/run.py --scenario connections
    .venv/bin/python benchmarks/run.py --scenario throughput --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Every scenario gets a fresh server process, so its memory figures are its own. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from baselines import echo_baseline, insert_baseline, ratios
from rich.console import Console
from rich.table import Table

from edudesk import migrate
from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.db import Database
from edudesk.orgs import service as orgs_service

# Keywords covering every default bench text (edudesk.bench.DEFAULT_TEXTS), so no visitor is ever handed off.
RULE_KEYWORDS = "学费,价格,试听,上课时间"
RULE_REPLY = "我们的课程按课时收费，试听课免费，周末上午和下午都有班。留下手机号，老师为您安排试听～"
# Raised for the bench server: the throughput scenario has each visitor write once a second, right at the default.
BENCH_MESSAGES_PER_MINUTE = 600

console = Console(width=150)


@dataclass(frozen=True)
class Scenario:
    name: str
    visitors: int
    rate: float
    duration: float
    rss_target_mb: float | None = None
    p99_target_ms: float | None = None


def memory_target_mb(visitors: int) -> float:
    """Issue 17's memory targets: 500 MB up to 5,000 connected visitors, 800 MB at 10,000 (linear in between and
    beyond, the marginal 60 KB a visitor those two points allow)."""
    return 500.0 if visitors <= 5000 else 500.0 + (visitors - 5000) * 300.0 / 5000


SCENARIOS = {
    # 1,000 visitors with the widget open, a few of them typing: the memory of held connections, and the replies of
    # the few who type while the rest sit connected (issue 17: p99 ≤ 100 ms in every second with 5,000 connected).
    "connections": Scenario("connections", visitors=1000, rate=20, duration=30, rss_target_mb=500,
                            p99_target_ms=100),
    # 200 visitor messages per second: the bot's reply round trip under load (issue 17: p99 ≤ 50 ms in every second).
    "throughput": Scenario("throughput", visitors=200, rate=200, duration=30, p99_target_ms=50),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def edudesk_exe() -> str:
    local = Path(sys.executable).with_name("edudesk")
    found = str(local) if local.exists() else shutil.which("edudesk")
    if not found:
        sys.exit("run.py: the edudesk command is not installed (pip install -e .)")
    return found


def seed(database_url: str) -> tuple[str, str]:
    """Migrates the database and creates a fresh org with a keyword rule; returns (slug, public key)."""
    migrate.upgrade(database_url)
    db = Database(database_url)
    try:
        with db.session() as session:
            org = orgs_service.create_org(session, slug=f"bench-{secrets.token_hex(4)}", name="压测培训学校")
            bot_service.save_rule(session, Actor(org.id, label="bench"), keywords=RULE_KEYWORDS, reply=RULE_REPLY,
                                  label="压测")
            session.commit()
            return org.slug, org.public_key
    finally:
        db.dispose()


class Server:
    def __init__(self, database_url: str, redis_url: str | None, data_dir: Path, extra_env: dict[str, str],
                 workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDUDESK_")}
        env.update({
            "EDUDESK_DATABASE_URL": database_url,
            "EDUDESK_DATA_DIR": str(data_dir),
            "EDUDESK_SECRET_KEY": secrets.token_urlsafe(32),
            "EDUDESK_VISITOR_MESSAGES_PER_MINUTE": str(BENCH_MESSAGES_PER_MINUTE),
            # Thousands of bench visitors come from one address: the per-address limits would refuse most of them.
            "EDUDESK_RATE_LIMITS_ENABLED": "false",
            "EDUDESK_LOG_LEVEL": "WARNING",
            "EDUDESK_REDIS_NAMESPACE": f"edudesk-bench-{secrets.token_hex(4)}",
            **({"EDUDESK_REDIS_URL": redis_url} if redis_url else {}),
            **extra_env,
        })
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [edudesk_exe(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-migrate",
                 "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /healthz within {timeout} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def run_bench(server: Server, org_key: str, sc: Scenario, bench_args: list[str], url: str | None = None,
              sample_server: bool = True) -> dict[str, Any]:
    """``edudesk bench`` against ``server`` (or ``url``, e.g. a load balancer in front of it; scaleout.py), its
    memory and CPU sampled unless ``sample_server`` is false (several instances: the caller measures them)."""
    cmd = [edudesk_exe(), "bench", "--url", url or server.url, "--org-key", org_key, "--visitors", str(sc.visitors),
           "--rate", str(sc.rate), "--duration", str(sc.duration), "--json",
           *(["--server-pid", str(server.pid)] if sample_server else []), *bench_args]
    # Connecting is most of a large run: 10,000 visitors took 5–9 minutes on a busy two-core machine.
    timeout = sc.duration + 300 + sc.visitors / 10
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"edudesk bench failed ({proc.returncode}): {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def stalls(server: Server) -> dict[str, Any]:
    """The server's own account of its pauses during the run (edudesk/stalls.py, on /metrics): collections and
    event-loop lags over 50 and 100 ms. With --workers it is one worker's (the one that answers the request)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics", timeout=60).text
    buckets: dict[tuple[str, str], dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("edudesk_gc_pause_seconds", "edudesk_event_loop_lag_seconds"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = (family.name, sample.labels.get("generation", ""))
                buckets.setdefault(key, {})[float(sample.labels["le"])] = sample.value

    def over(key: tuple[str, str], limit: float) -> int:
        counts = buckets.get(key, {})
        return int(counts.get(float("inf"), 0) - counts.get(limit, 0))

    return {
        "gc": {f"gen{g}": {"collections": int(buckets.get(("edudesk_gc_pause_seconds", g), {}).get(float("inf"), 0)),
                           "over_50ms": over(("edudesk_gc_pause_seconds", g), 0.05),
                           "over_100ms": over(("edudesk_gc_pause_seconds", g), 0.1)} for g in ("0", "1", "2")},
        "loop_lag": {"over_50ms": over(("edudesk_event_loop_lag_seconds", ""), 0.05),
                     "over_100ms": over(("edudesk_event_loop_lag_seconds", ""), 0.1)},
    }


def stall_lines(r: dict[str, Any]) -> list[str]:
    if "stalls" not in r:
        return []
    gc_counts, lag = r["stalls"]["gc"], r["stalls"]["loop_lag"]
    return [f"  stalls seen by the server: event loop late > 50 ms {lag['over_50ms']}×, > 100 ms "
            f"{lag['over_100ms']}×; collections (over 50 / 100 ms): "
            + ", ".join(f"{g} {c['collections']} ({c['over_50ms']}/{c['over_100ms']})" for g, c in gc_counts.items())]


def verdict(sc: Scenario, r: dict[str, Any]) -> list[str]:
    """Each target with its measured value: "ok" or "MISSED"."""
    out = []
    if sc.rss_target_mb is not None:
        peak = r["server"]["rss_mb_peak"]
        held = r["connections"]["held"]
        ok = peak is not None and peak < sc.rss_target_mb and held == sc.visitors
        out.append(f"{held}/{sc.visitors} held, RSS peak {peak} MB < {sc.rss_target_mb:g} MB: "
                   f"{'ok' if ok else 'MISSED'}")
    if sc.p99_target_ms is not None:
        p99 = r["reply_ms"]["p99"]
        rate = r["messages"]["answered_per_second"]
        by_second = r["reply_ms"]["p99_by_second"]
        slow = sum(1 for v in by_second if v >= sc.p99_target_ms)
        # Issue 17 asks for the target in every second of the run, not only over the whole of it.
        ok = (p99 is not None and p99 < sc.p99_target_ms and slow == 0 and rate >= 0.95 * sc.rate
              and r["errors"]["total"] == 0)
        out.append(f"p99 {p99} ms < {sc.p99_target_ms:g} ms (in every second) at {rate}/{sc.rate:g} msg/s, "
                   f"{r['errors']['total']} errors: {'ok' if ok else 'MISSED'}")
        first = r["first_reply_ms"]
        out.append(f"  conversations opened while connecting: {first['answered']}, first reply p50/p99 "
                   f"{first['p50']}/{first['p99']} ms (not in the p99 above)")
        out.append(f"  seconds whose p99 missed it: {slow}/{len(by_second)}  "
                   f"(p99 by second: {' '.join(f'{v:g}' for v in by_second)})")
    return out


def baseline_lines(r: dict[str, Any]) -> list[str]:
    """The machine's own limits beside edudesk's figures (benchmarks/baselines.py)."""
    if "baselines" not in r:
        return []
    echo, q = r["baselines"]["echo"], r["ratios"]
    return [f"  bare websockets echo, same sockets and rate: RTT p50/p99 {echo['rtt_ms']['p50']}/"
            f"{echo['rtt_ms']['p99']} ms (worst second {echo['rtt_ms']['worst_second_p99']}), "
            f"{echo['kb_per_connection']} KB per socket, RSS {echo['rss_mb']['idle']} → {echo['rss_mb']['held']} MB",
            f"  edudesk ÷ machine: reply p50 ×{q.get('reply_p50_over_echo')}, p99 ×{q.get('reply_p99_over_echo')}, "
            f"worst second ×{q.get('worst_second_over_echo')}, memory per visitor ×{q.get('kb_per_visitor_over_echo')}"
            f"; one turn's server CPU = {q.get('turn_cpu_over_bare_commit')} bare commits"]


def table(rows: list[tuple[str, Scenario, dict[str, Any]]]) -> Table:
    t = Table("backend", "scenario", "visitors held", "msg/s sent/answered", "reply p50/p95/p99 ms", "errors",
              "RSS MB peak", "CPU % server/bench/others", "server CPU ms per reply", "core ms",
              title="edudesk benchmarks")
    for backend, sc, r in rows:
        c, m, lat, s, mc = r["connections"], r["messages"], r["reply_ms"], r["server"], r["machine"]
        t.add_row(backend, sc.name, f"{c['held']}/{sc.visitors}", f"{m['sent_per_second']}/{m['answered_per_second']}",
                  f"{lat['p50']}/{lat['p95']}/{lat['p99']}", str(r["errors"]["total"]), str(s["rss_mb_peak"]),
                  f"{s['cpu_percent']}/{r['client']['cpu_percent']}/{mc['others_cpu_percent']}",
                  str(s["cpu_ms_per_answered"]), str(mc["python_core_ms"]))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    ap.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    ap.add_argument("--redis-url", help="run the server with Redis (event fan-out and presence), as in production")
    ap.add_argument("--workers", type=int, default=1,
                    help="server processes (edudesk serve --workers; more than 1 needs PostgreSQL and --redis-url)")
    ap.add_argument("--visitors", type=int, help="override the scenario's visitor count")
    ap.add_argument("--rate", type=float, help="override the scenario's messages per second")
    ap.add_argument("--duration", type=float, help="override the scenario's seconds of sending")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the server (repeatable), e.g. EDUDESK_LOG_LEVEL=INFO")
    ap.add_argument("--no-open-conversations", action="store_true",
                    help="send every visitor's first message inside the measured window instead of while connecting "
                         "(a burst of as many new conversations per second as there are visitors)")
    ap.add_argument("--no-baselines", action="store_true",
                    help="skip the bare websockets echo server and the bare INSERT loop measured beside edudesk "
                         "(the ratios to them tell a slow machine from a slow edudesk)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite file, server logs)")
    args = ap.parse_args(argv)

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    tmp = Path(tempfile.mkdtemp(prefix="edudesk-bench-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    backend = ("postgresql" if database_url.startswith("postgres") else "sqlite") + ("+redis" if args.redis_url else "")
    if args.workers > 1:
        backend += f" ×{args.workers}"
    extra_env = dict(item.split("=", 1) for item in args.env)
    bench_args = ["--no-open-conversations"] if args.no_open_conversations else []
    rows: list[tuple[str, Scenario, dict[str, Any]]] = []
    try:
        slug, org_key = seed(database_url)
        insert = None if args.no_baselines else insert_baseline(database_url, 10)
        if insert is not None and not args.json:
            console.print(f"[bold]bare INSERT + COMMIT[/bold] on the same database: {insert['per_second']}/s, "
                          f"commit p50/p99 {insert['commit_ms']['p50']}/{insert['commit_ms']['p99']} ms")
        for name in names:
            base = SCENARIOS[name]
            sc = Scenario(base.name, args.visitors or base.visitors, args.rate if args.rate is not None else base.rate,
                          args.duration or base.duration,
                          memory_target_mb(args.visitors or base.visitors) if base.rss_target_mb else None,
                          base.p99_target_ms)
            server = Server(database_url, args.redis_url, tmp, extra_env, args.workers)
            if not args.json:
                console.print(f"[bold]{backend} · {name}[/bold]: {sc.visitors} visitors, {sc.rate:g} msg/s, "
                               f"{sc.duration:g} s (server on port {server.port}, org {slug})")
            try:
                server.start()
                result = run_bench(server, org_key, sc, bench_args)
                with contextlib.suppress(httpx.HTTPError):
                    result["stalls"] = stalls(server)
            finally:
                server.stop()
            if not args.no_baselines:
                echo = echo_baseline(sc.visitors, sc.rate, sc.duration)
                result["baselines"] = {"echo": echo, "insert": insert}
                result["ratios"] = ratios(result, echo, insert, sc.visitors)
            rows.append((backend, sc, result))
            if not args.json:
                for line in verdict(sc, result) + stall_lines(result) + baseline_lines(result):
                    console.print(f"  {line}")
    except RuntimeError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps([{"backend": b, "scenario": sc.name, "targets": verdict(sc, r), **r} for b, sc, r in rows],
                         ensure_ascii=False))
    else:
        console.print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
