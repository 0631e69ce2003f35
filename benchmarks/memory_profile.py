"""Where a server's memory goes: the idle process by component, and what each connected visitor adds.

Runs the real app in this process (uvicorn with the shipped options, a fresh SQLite file, the bench org of
``run.py``), waits until it has warmed up, starts ``tracemalloc``, connects ``--visitors`` widget visitors with
``edudesk bench`` (each with an open conversation, as in ``run.py``), and prints

- RSS before and after, and the growth per visitor (what ``run.py`` reports, here with tracing overhead),
- the allocation sites that grew, grouped by file and line, in bytes per visitor.

    .venv/bin/python benchmarks/memory_profile.py --visitors 1000 [--top 25]

tracemalloc sees Python allocations only (the C heaps of uvloop and the kernel's socket buffers are in the RSS
but not in the table); it slows the server down, so no latency is reported here.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import uvicorn
from run import edudesk_exe, free_port, seed

from edudesk.app import create_app
from edudesk.cli import server_options
from edudesk.settings import Settings


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visitors", type=int, default=1000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--hold", type=float, default=20.0, help="seconds the visitors stay connected")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="edudesk-memprof-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    _slug, org_key = seed(url)
    settings = Settings(database_url=url, data_dir=tmp, secret_key=secrets.token_urlsafe(32),
                        visitor_messages_per_minute=600, rate_limits_enabled=False, log_level="WARNING")
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           **server_options(settings)))  # type: ignore[arg-type]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    time.sleep(1.0)
    idle = rss_mb()
    gc.unfreeze()  # the server's heap freezer hides frozen objects from gc.get_objects(): count them all
    gc.collect()
    tracked_before = collections.Counter(type(o).__name__ for o in gc.get_objects())
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    bench = subprocess.Popen(
        [edudesk_exe(), "bench", "--url", f"http://127.0.0.1:{port}", "--org-key", org_key, "--visitors",
         str(args.visitors), "--rate", "1", "--duration", str(args.hold), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The bench opens 200 connections a second, each sending its opening message; sample once all are held (on a
    # loaded machine they take longer to open: wait for the hub to count them, and divide by what it counts).
    hub = app.state.ctx.hub
    deadline = time.monotonic() + 60 + args.visitors / 20  # the bench holds them `--hold` s once all are open
    while hub.connection_count < args.visitors and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(min(5.0, args.hold / 4))  # the opening messages answered
    connected = hub.connection_count
    held = rss_mb()
    after = tracemalloc.take_snapshot()
    traced = tracemalloc.get_traced_memory()[0]
    gc.unfreeze()
    tracked_after = collections.Counter(type(o).__name__ for o in gc.get_objects())
    bench.wait(timeout=args.hold + 300)
    time.sleep(2.0)  # every socket closed and its handler finished
    gc.disable()
    freed_by_refcount = rss_mb()
    unreachable = gc.collect()
    gc.enable()
    server.should_exit = True
    thread.join(timeout=30)

    n = max(1, connected)
    print(f"{connected} of {args.visitors} visitors connected when sampled")
    print(f"RSS idle (warm) {idle:.0f} MB; with {n} visitors {held:.0f} MB: {(held - idle) * 1024 / n:.1f} KB each "
          f"(tracemalloc's own overhead included); traced Python heap {traced / 2**20:.0f} MB")
    print(f"after the visitors left: {unreachable / n:.0f} unreachable objects per visitor were found only by a full "
          f"collection (garbage in reference cycles); RSS {freed_by_refcount:.0f} MB before it")
    tracked = tracked_after - tracked_before
    print(f"objects the collector tracks: +{sum(tracked.values()) / n:.0f} per visitor ("
          + ", ".join(f"{name} {count / n:.1f}" for name, count in tracked.most_common(12)) + ")")
    stats = after.compare_to(before, "lineno")
    grown = [s for s in stats if s.size_diff > 0]
    total = sum(s.size_diff for s in grown)
    print(f"Python allocations grown: {total / n / 1024:.1f} KB per visitor; top sites:")
    for stat in grown[: args.top]:
        frame = stat.traceback[0]
        where = os.path.relpath(frame.filename, sys.prefix) if "site-packages" in frame.filename else frame.filename
        print(f"  {stat.size_diff / n:8.0f} B/visitor  {stat.count_diff / n:6.1f} obj  {where}:{frame.lineno}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
