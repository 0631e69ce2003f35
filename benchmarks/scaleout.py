"""Scale-out, measured (issue 17, item 3): one ``edudesk serve`` instance behind HAProxy, then two behind the same
HAProxy configuration, on one PostgreSQL database and one Redis, in one run: the highest message rate each sustains
with the bot's reply p99 under the target, and the ratio.

    make bench-deps                      # Debian's haproxy, when missing
    psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE edudesk_scaleout'
    PG=postgresql+psycopg://postgres@127.0.0.1:5432/edudesk_scaleout
    .venv/bin/python benchmarks/scaleout.py --database-url $PG --redis-url redis://127.0.0.1:6379/2

Method (docs/performance.md, "Scale-out behind a load balancer"): for each layout a fresh set of instances (run.py's
``Server``: same secret key, same Redis namespace, their own EDUDESK_INSTANCE_ID) and a fresh HAProxy running
``deploy/haproxy.cfg``; a short warm-up; then ``edudesk bench`` through the balancer, the same visitors and
duration at every rate: from ``--start``, ×``--step`` while rates pass (÷ while they miss) until the verdict turns
(a miss is p99 ≥ target, < 95 % answered, or any error, and is run once more before it counts, the machine being
shared), then one rate between the last pass and the first miss. ``--rates`` measures fixed rates instead. CPU is
split per process over the bench's own measuring window: each instance, HAProxy, PostgreSQL, Redis, the bench
client, and everything else.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from balancer import INSTALL_HINT, Haproxy, haproxy_exe
from rich.console import Console
from rich.table import Table
from run import Scenario, Server, run_bench, seed

console = Console(width=170)

# Each instance's database pool, the same in both layouts: two instances at the default pool (worker threads + 5, +10
# overflow: 55) would exceed the 100 connections of a stock PostgreSQL shared with other users.
POOL_ENV = {"EDUDESK_DATABASE_POOL_SIZE": "25", "EDUDESK_DATABASE_MAX_OVERFLOW": "5"}
COMPONENTS = ("instances", "haproxy", "postgres", "redis", "bench", "others")
CORES = psutil.cpu_count() or 2


class CpuLedger(threading.Thread):
    """CPU seconds per component, summed every ``interval`` from each process's own counters (a PostgreSQL backend
    that exits keeps what it used), so any wall-clock window can be split afterwards."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.instances: dict[int, str] = {}  # pid → label ("A", "B")
        self.haproxy_pid: int | None = None
        self.me = psutil.Process().pid
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._last: dict[int, float] = {}
        self._totals: dict[str, float] = {}
        self._machine0 = _machine_busy()
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def _label(self, pid: int, ppid: int, name: str) -> str | None:
        if pid in self.instances:
            return f"instance {self.instances[pid]}"
        if ppid in self.instances:  # a uvicorn worker of an instance run with --workers
            return f"instance {self.instances[ppid]}"
        if pid == self.haproxy_pid:
            return "haproxy"
        if name == "postgres":
            return "postgres"
        if name.startswith("redis-server"):
            return "redis"
        if pid == self.me or ppid == self.me:  # this script and the `edudesk bench` it runs
            return "bench"
        return None

    def sample(self) -> None:
        with self._lock:
            for p in psutil.process_iter(["pid", "ppid", "name", "cpu_times"]):
                info = p.info
                times = info.get("cpu_times")
                label = self._label(info["pid"], info.get("ppid") or 0, info.get("name") or "")
                if label is None or times is None:
                    continue
                used = times.user + times.system
                before = self._last.get(info["pid"])
                self._last[info["pid"]] = used
                # A process first seen now counts from now: its earlier CPU (a PostgreSQL backend of another user,
                # an instance's start-up) is outside any window measured after it.
                if before is not None and used >= before:
                    self._totals[label] = self._totals.get(label, 0.0) + used - before
            self.samples.append((time.time(), {**self._totals, "machine": _machine_busy() - self._machine0}))

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def percent(self, start: float, end: float) -> dict[str, float]:
        """Percent of one core per component between two wall-clock times (linear between samples)."""
        with self._lock:
            samples = list(self.samples)
        labels = {k for _, s in samples for k in s}
        out = {k: (_at(samples, k, end) - _at(samples, k, start)) / (end - start) * 100 for k in labels}
        out["instances"] = sum(v for k, v in out.items() if k.startswith("instance "))
        out["others"] = out.get("machine", 0.0) - sum(out.get(k, 0.0) for k in COMPONENTS if k != "others")
        return {k: round(max(v, 0.0), 1) for k, v in sorted(out.items())}


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def _at(samples: list[tuple[float, dict[str, float]]], key: str, when: float) -> float:
    """A cumulative counter at ``when``, interpolated between the samples around it."""
    prev: tuple[float, float] | None = None
    for t, values in samples:
        v = values.get(key, 0.0)
        if t >= when:
            if prev is None or t == prev[0]:
                return v
            return prev[1] + (v - prev[1]) * (when - prev[0]) / (t - prev[0])
        prev = (t, v)
    return prev[1] if prev else 0.0


@dataclass
class Step:
    instances: int
    rate: float
    result: dict[str, Any]
    cpu: dict[str, float]
    sessions: dict[str, int]
    p99_target: float

    @property
    def p99(self) -> float | None:
        value = self.result["reply_ms"]["p99"]
        return float(value) if value is not None else None

    @property
    def answered(self) -> float:
        return float(self.result["messages"]["answered_per_second"])

    @property
    def worst_second(self) -> float | None:
        by_second = self.result["reply_ms"]["p99_by_second"]
        return max(by_second) if by_second else None

    def ms_per_message(self, component: str) -> float:
        """CPU milliseconds of one answered message in ``component`` (comparable across rates and layouts)."""
        return self.cpu.get(component, 0.0) * 10 / self.answered if self.answered else 0.0

    @property
    def stack_ms(self) -> float:
        """CPU ms of one message in everything it needs on this machine: instances, balancer, database, Redis and
        the bench client that plays the visitors."""
        return sum(self.ms_per_message(k) for k in ("instances", "haproxy", "postgres", "redis", "bench"))

    def ceiling(self, cores: int) -> float:
        """The rate this layout's CPU cost allows on ``cores`` cores with nothing else running: the whole stack
        over every core, and each instance (one event loop under one GIL) at most one core."""
        machine = cores * 1000 / self.stack_ms if self.stack_ms else math.inf
        per_instance = self.ms_per_message("instances") / self.instances
        return min(machine, self.instances * 1000 / per_instance if per_instance else math.inf)

    @property
    def passed(self) -> bool:
        return (self.p99 is not None and self.p99 < self.p99_target and self.answered >= 0.95 * self.rate
                and self.result["errors"]["total"] == 0)

    def line(self) -> str:
        r, c = self.result, self.cpu
        lat = r["reply_ms"]
        inst = " + ".join(f"{c[k]:g}" for k in sorted(c) if k.startswith("instance "))
        slow = sum(1 for v in lat["p99_by_second"] if v >= self.p99_target)
        return (f"{self.rate:6.1f} msg/s → {self.answered:6.1f} answered, p50/p99 {lat['p50']}/{lat['p99']} ms, "
                f"worst second {self.worst_second} ms ({slow} slow), errors {r['errors']['total']}; CPU % "
                f"instances {inst}, haproxy {c.get('haproxy', 0):g}, postgres {c.get('postgres', 0):g}, "
                f"redis {c.get('redis', 0):g}, bench {c.get('bench', 0):g}, others {c.get('others', 0):g} "
                f"(machine {c.get('machine', 0):g} of {CORES * 100}); CPU ms/msg instances "
                f"{self.ms_per_message('instances'):.2f}, whole stack {self.stack_ms:.2f}; sessions {self.sessions}: "
                f"{'ok' if self.passed else 'MISSED'}")


@dataclass
class Layout:
    instances: int
    steps: list[Step] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        passed = [s for s in self.steps if s.passed]
        return max(passed, key=lambda s: s.rate) if passed else None


class Deployment:
    """N instances and HAProxy in front of them, started together and stopped together."""

    def __init__(self, n: int, database_url: str, redis_url: str, workdir: Path, common_env: dict[str, str],
                 ledger: CpuLedger) -> None:
        self.servers = [Server(database_url, redis_url, workdir,
                               {**common_env, "EDUDESK_INSTANCE_ID": f"scaleout-{chr(65 + i)}"}) for i in range(n)]
        self.balancer = Haproxy(workdir, [s.url.removeprefix("http://") for s in self.servers])
        self.ledger = ledger

    def __enter__(self) -> Deployment:
        try:
            for s in self.servers:
                s.start(timeout=120)
            self.balancer.start()
        except BaseException:
            self.__exit__()
            raise
        self.ledger.instances = {s.pid: chr(65 + i) for i, s in enumerate(self.servers)}
        self.ledger.haproxy_pid = self.balancer.pid
        return self

    def __exit__(self, *exc: object) -> None:
        self.balancer.stop()
        for s in self.servers:
            s.stop()


def measure(dep: Deployment, org_key: str, visitors: int, rate: float, duration: float,
            p99_target: float) -> Step:
    before = dep.balancer.sessions()
    sc = Scenario("throughput", visitors=visitors, rate=rate, duration=duration, p99_target_ms=p99_target)
    result = run_bench(dep.servers[0], org_key, sc, [], url=dep.balancer.url, sample_server=False)
    time.sleep(dep.ledger.interval * 2)  # a sample after the window's end
    start, end = result["machine"]["cpu_window_unix"]
    after = dep.balancer.sessions()
    # The ledger remembers the instances of earlier layouts too (at 0 % now): show this layout's own.
    mine = {f"instance {label}" for label in dep.ledger.instances.values()}
    cpu = {k: v for k, v in dep.ledger.percent(start, end).items() if not k.startswith("instance ") or k in mine}
    return Step(len(dep.servers), rate, result, cpu,
                {k: after[k] - before.get(k, 0) for k in after}, p99_target)


def search(dep: Deployment, org_key: str, args: argparse.Namespace, layout: Layout) -> None:
    """From ``--start``, rates ×``--step`` up while they pass (÷ while they miss) until the verdict turns, then one
    rate between the last pass and the first miss; or just the ``--rates`` given."""

    def run(rate: float) -> Step:
        step = measure(dep, org_key, args.visitors, round(rate, 1), args.duration, args.p99)
        layout.steps.append(step)
        if not args.json:
            console.print(f"  {layout.instances} × · {step.line()}")
        return step

    def passes(rate: float) -> bool:
        """A miss counts only once it repeats: other jobs on a shared machine cause single slow runs."""
        return any(run(rate).passed for _ in range(1 + args.retries))

    if args.rates:
        for rate in args.rates:
            run(rate)
        return
    if passes(args.start):
        lo = args.start
        while (hi := lo * args.step) <= args.max_rate and passes(hi):
            lo = hi
        if hi > args.max_rate:
            return
    else:
        hi = args.start
        while (lo := hi / args.step) >= args.min_rate and not passes(lo):
            hi = lo
        if lo < args.min_rate:
            return
    run(math.sqrt(lo * hi))


def summary(layouts: list[Layout], p99: float, searched: bool) -> tuple[Table, list[str]]:
    t = Table("instances", "highest rate passed", "reply p50/p99 ms", "worst second",
              f"CPU % instances · haproxy · postgres · redis · bench · others (machine, of {CORES * 100})",
              "CPU ms/msg inst/pg/rest", "ceiling msg/s", "core ms",
              title=f"edudesk behind HAProxy: highest rate with reply p99 < {p99:g} ms")
    for lay in layouts:
        b = lay.best
        if b is None:
            t.add_row(str(lay.instances), "none", *[""] * 6)
            continue
        c = b.cpu
        inst = "+".join(f"{c[k]:g}" for k in sorted(c) if k.startswith("instance "))
        rest = sum(b.ms_per_message(k) for k in ("haproxy", "redis", "bench"))
        t.add_row(str(lay.instances), f"{b.answered:g}", f"{b.result['reply_ms']['p50']}/{b.p99}",
                  f"{b.worst_second}",
                  f"{inst} · " + " · ".join(f"{c.get(k, 0):g}" for k in ("haproxy", "postgres", "redis", "bench",
                                                                         "others")) + f" ({c.get('machine', 0):g})",
                  f"{b.ms_per_message('instances'):.2f}/{b.ms_per_message('postgres'):.2f}/{rest:.2f}",
                  f"{b.ceiling(CORES):.0f}", f"{b.result['machine']['python_core_ms']}")
    lines = []
    one = next((lay.best for lay in layouts if lay.instances == 1), None)
    for lay in layouts:
        if lay.instances > 1 and one is not None and lay.best is not None:
            ceiling = (f"with nothing else on the {CORES} cores the measured CPU costs would allow "
                       f"×{lay.best.ceiling(CORES) / one.ceiling(CORES):.2f} "
                       f"({lay.best.ceiling(CORES):.0f} ÷ {one.ceiling(CORES):.0f} msg/s)")
            if searched:
                ratio = lay.best.answered / one.answered
                lines.append(f"{lay.instances} instances ÷ 1: ×{ratio:.2f} the messages per second at reply p99 < "
                             f"{p99:g} ms (target ×1.7: {'met' if ratio >= 1.7 else 'MISSED'}); {ceiling}")
            else:
                lines.append(f"{lay.instances} instances ÷ 1 (fixed rates: no ratio of highest rates); {ceiling}")
    return t, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", required=True, help="PostgreSQL URL (the database must exist)")
    ap.add_argument("--redis-url", required=True, help="Redis URL (a fresh namespace is used for each run)")
    ap.add_argument("--layouts", default="1,2", help="instance counts to measure, in order (default 1,2)")
    ap.add_argument("--visitors", type=int, default=200, help="visitor sockets held during each rate (default 200)")
    ap.add_argument("--duration", type=float, default=15, help="seconds of sending per rate (default 15)")
    ap.add_argument("--p99", type=float, default=100, help="reply p99 target in ms (default 100)")
    ap.add_argument("--start", type=float, default=40, help="first rate of the search, msg/s (default 40)")
    ap.add_argument("--step", type=float, default=1.25, help="factor between rates of the search (default 1.25)")
    ap.add_argument("--max-rate", type=float, default=800, help="search no higher (default 800)")
    ap.add_argument("--min-rate", type=float, default=10, help="search no lower (default 10)")
    ap.add_argument("--retries", type=int, default=1, help="runs of a missed rate before it counts (default 1)")
    ap.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                    help="measure these rates (comma-separated) instead of searching")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, HAProxy configs)")
    args = ap.parse_args(argv)

    if haproxy_exe() is None:
        print(f"scaleout.py: haproxy is not installed; install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    if not args.database_url.startswith("postgres"):
        print("scaleout.py: several instances need PostgreSQL (--database-url postgresql+psycopg://…)", file=sys.stderr)
        return 2
    layouts = [Layout(int(n)) for n in args.layouts.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="edudesk-scaleout-"))
    common_env = {"EDUDESK_SECRET_KEY": secrets.token_urlsafe(32),
                  "EDUDESK_REDIS_NAMESPACE": f"edudesk-scaleout-{secrets.token_hex(4)}", **POOL_ENV}
    ledger = CpuLedger()
    ledger.start()
    try:
        slug, org_key = seed(args.database_url)
        for lay in layouts:
            dep = Deployment(lay.instances, args.database_url, args.redis_url, tmp, common_env, ledger)
            with dep:
                if not args.json:
                    console.print(f"[bold]{lay.instances} instance(s)[/bold] behind HAProxy {dep.balancer.url} "
                                  f"(servers {', '.join(s.url for s in dep.servers)}), org {slug}, "
                                  f"{args.visitors} visitors, {args.duration:g} s per rate")
                # Warm-up, not counted: first requests, pools filling, the bot's rule cached.
                measure(dep, org_key, min(50, args.visitors), 20, 5, args.p99)
                search(dep, org_key, args, lay)
    except RuntimeError as exc:
        print(f"scaleout.py: {exc}", file=sys.stderr)
        return 1
    finally:
        ledger.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table, lines = summary(layouts, args.p99, searched=not args.rates)
    if args.json:
        print(json.dumps({"layouts": [{"instances": lay.instances, "best_rate": lay.best.rate if lay.best else None,
                                       "steps": [{"rate": s.rate, "passed": s.passed, "cpu_percent": s.cpu,
                                                  "sessions": s.sessions, **s.result} for s in lay.steps]}
                                      for lay in layouts], "verdict": lines}, ensure_ascii=False))
    else:
        console.print(table)
        for line in lines:
            console.print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
