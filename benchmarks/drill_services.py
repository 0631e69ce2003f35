"""The private services of the fault drill (benchmarks/fault_drill.py): a PostgreSQL cluster and a redis-server of
its own on free ports, which it may stop, kill and restart (the shared servers on 5432 and 6379 are never touched),
the ``edudesk serve`` / ``edudesk worker`` processes, and a webhook receiver that counts deliveries."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise SystemExit(f"fault drill: {name} not found (PostgreSQL server binaries are needed)")
    return str(found)


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PrivatePostgres:
    """A throw-away cluster: initdb under the drill's temp dir, trust auth on 127.0.0.1 only."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/edudesk"

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([_tool("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                     "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        self.start()
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE edudesk")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run(_as_postgres([_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                                     "-o", opts, "-w", "-t", "60", "start"]), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"]),
                       check=False, capture_output=True)


class PrivateRedis:
    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(exist_ok=True)
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("fault drill: redis-server not found")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.RedisError):
                client.ping()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@dataclass
class EdudeskProcess:
    """One ``edudesk serve`` or ``edudesk worker`` process with its log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = Path(sys.executable).with_name("edudesk")
        cmd = [str(exe), *self.args] if exe.exists() else [sys.executable, "-m", "edudesk.cli", *self.args]
        with self.log.open("ab") as out:
            out.write(f"\n--- start #{self.starts + 1} ---\n".encode())
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        if self.port is None or not self.alive():
            return False
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float) -> float:
        began = time.monotonic()
        while not self.healthy():
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"{self.name} not healthy after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)
        return time.monotonic() - began

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def log_lines(self, needle: str) -> int:
        with contextlib.suppress(OSError):
            return sum(needle in line for line in self.log.read_text(errors="replace").splitlines())
        return 0


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that accepts every webhook and remembers each delivery it got."""

    deliveries: list[tuple[str, str]] = field(default_factory=list)  # (X-Edudesk-Delivery, event id)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    delay: float = 0.0  # seconds each POST is held before the answer
    in_flight: int = 0
    _busy: threading.Event = field(default_factory=threading.Event)

    def wait_in_flight(self, timeout: float) -> bool:
        """Waits until a POST is being answered (the sender is mid-request); False if none came."""
        self._busy.clear()
        return self._busy.wait(timeout)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                event_id = str(json.loads(body).get("id"))
                with receiver.lock:
                    receiver.deliveries.append((self.headers.get("X-Edudesk-Delivery", ""), event_id))
                    receiver.in_flight += 1
                if receiver.delay:
                    receiver._busy.set()
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.in_flight -= 1
                with contextlib.suppress(OSError):  # the sender was killed mid-request (the worker drill)
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        """Copies received per delivery id and per event id."""
        with self.lock:
            return Counter(d for d, _ in self.deliveries), Counter(e for _, e in self.deliveries)
