"""Where a loaded server spends its CPU: runs ``edudesk serve``'s app in this process under cProfile (every
thread: the event loop and the worker threads), drives it with ``edudesk bench`` and prints the top functions and
the CPU time per thread kind.

    .venv/bin/python benchmarks/profile_server.py --rate 200 [--database-url …] [--out /tmp/server.prof]

Every profile counts its thread's CPU time (``time.thread_time``), so waits for the GIL, the database or a pooled
connection do not show. cProfile slows Python down about twofold, so read shares, not milliseconds;
``turn_cost.py`` gives those.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import BENCH_MESSAGES_PER_MINUTE, edudesk_exe, free_port, seed

from edudesk.app import create_app
from edudesk.cli import server_options
from edudesk.settings import Settings

_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def _start_thread_profile(*_args: Any) -> None:
    # Called once on a new thread's first event: replace this hook by a profiler of the thread's own. It counts
    # the thread's CPU time, not wall time: forty worker threads mostly wait (for the GIL, the database, a free
    # connection), and wall time would rank those waits first.
    prof = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append((threading.current_thread().name, prof))
    prof.enable()


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (Linux)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "loop (main)" if task.name == str(pid) else ("worker threads" if "AnyIO" in name or "Thread" in name
                                                             or "python" in name else name)
        out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url", help="fan events out through Redis, as several instances do")
    ap.add_argument("--visitors", type=int, default=200)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", help="also write the merged profile here (pstats format)")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="edudesk-prof-"))
    url = args.database_url or f"sqlite:///{tmp / 'prof.db'}"
    _slug, key = seed(url)
    settings = Settings(database_url=url, redis_url=args.redis_url, data_dir=tmp, secret_key="profile-" + "x" * 32,
                        log_level="WARNING",
                        visitor_messages_per_minute=BENCH_MESSAGES_PER_MINUTE)
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, **server_options(settings))
    server = uvicorn.Server(config)
    before: dict[str, float] = {}

    def drive() -> None:
        while not server.started:
            time.sleep(0.05)
        before.update(_thread_cpu(os.getpid()))
        subprocess.run([edudesk_exe(), "bench", "--url", f"http://127.0.0.1:{port}", "--org-key", key,
                        "--visitors", str(args.visitors), "--rate", str(args.rate), "--duration",
                        str(args.duration)], check=False)
        after = _thread_cpu(os.getpid())
        print("CPU seconds by thread during the bench:",
              {k: round(v - before.get(k, 0.0), 2) for k, v in after.items() if v - before.get(k, 0.0) > 0.05})
        server.should_exit = True

    threading.Thread(target=drive, name="bench-driver", daemon=True).start()
    threading.setprofile(_start_thread_profile)
    main_prof = cProfile.Profile(time.thread_time)
    main_prof.enable()
    server.run()
    main_prof.disable()
    threading.setprofile(None)  # type: ignore[arg-type]

    for label, profs in (("event loop (main thread)", [main_prof]),
                         ("worker threads", [p for name, p in _profiles if name != "bench-driver"])):
        if not profs:
            continue
        stats = pstats.Stats(profs[0])
        for p in profs[1:]:
            p.create_stats()
            stats.add(p)
        print(f"\n===== {label}: {len(profs)} profile(s) =====")
        stats.sort_stats("tottime").print_stats(args.top)
        if args.out:
            stats.dump_stats(f"{args.out}.{'loop' if 'loop' in label else 'workers'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
